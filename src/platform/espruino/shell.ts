// The Espruino shell: the ports of core/ports.ts over require("tls") / require("net"),
// setTimeout and Storage, run by the shared runner (../runner.ts). It reports what the socket
// did; what that means for the link (retry, halt) is the core's to decide.
//
// What this transport can observe (ENGINES.md):
// - the connect callback: TCP is connected. On TLS it can fire before the handshake ends (writes
//   are queued), so the handshake is known done only when bytes arrive; a failure before that is
//   a TLS failure, even after transportOpened;
// - "error" with a message: mbedTLS's "mbedtls_x509_crt_parse of 'ca'" says the CA was unusable;
//   nothing ever says a certificate was rejected, because no certificate is checked
//   (libs/network/network.c sets MBEDTLS_SSL_VERIFY_NONE), so this transport never reports "cert";
// - "close": the socket is gone. A refused connect can throw synchronously instead: reported as
//   a close (there never was a socket) on a fresh turn.
// What it cannot do: force a close. There is no destroy(); end() is all there is. When the core
// asks again (its close guard) and no "close" came, or end() throws, it reports transportCloseFailed, not
// a close it never saw: the core then waits out the hub's keepalive before opening another link.
// Also: data arrives as binary strings and write() takes E.toString(bytes); clearTimeout(undefined)
// throws, so only ids that setTimeout returned are cleared.

import { createLinkWith, Persisted, TimerKind } from "../../core/link.js";
import { seedFrom } from "../../core/rand.js";
import { DeviceConfig } from "../../core/config.js";
import type { DeviceLink, LinkCallbacks, Report, Storage, Timers, Transport } from "../../core/ports.js";
import { deviceLink, closeCause, SAW_TCP, SAW_UP, SAW_ERROR, SAW_CA, SAW_ASKED } from "../runner.js";
import { nativeSign } from "./sign.js";

export interface ShellOptions extends LinkCallbacks {
  /** a complete configuration (linkguard build validated it and filled in the defaults) */
  cfg: DeviceConfig;
  /** base64 of the DER CA certificate (tls option `ca`, decoded at each connect: mbedTLS on Espruino parses no PEM) */
  ca?: string;
  /** Storage file for the persisted backoff state; default "linkguard.st" */
  stateFile?: string;
}

export type Link = DeviceLink;

function text(err: any): string {
  return String(err && err.message !== undefined ? err.message : err);
}

/** What an error says beyond "error": that mbedTLS could not use the CA ("mbedtls_x509_crt_parse of 'ca'"). */
function sawIn(m: string, tls: boolean): number {
  return tls && m.indexOf("'ca'") >= 0 ? SAW_ERROR | SAW_CA : SAW_ERROR;
}


/** The one socket: generation-aware, reporting to the runner it was opened for. */
export function espruinoTransport(ca?: string): Transport {
  let sock: any = null;
  let sockGen = 0;
  let report: Report;
  let seen = 0;
  let detail: string | undefined;

  function open(gen: number, host: string, port: number, tls: boolean, to: Report): void {
    report = to;
    sock = null;
    sockGen = gen;
    seen = 0;
    detail = undefined;
    const opts: any = { host: host, port: port };
    let k: any;
    try {
      if (tls && ca) opts.ca = atob(ca);
      k = require(tls ? "tls" : "net").connect(opts, function () {
        if (sock !== k) return;
        seen |= tls ? SAW_TCP : SAW_TCP | SAW_UP;
        to({ type: "transportOpened", gen: gen });
      });
    } catch (err) {
      const m = text(err);
      // atob threw: the CA is not base64; otherwise what the message says; reported on a fresh turn
      const s = tls && ca && opts.ca === undefined ? SAW_ERROR | SAW_CA : sawIn(m, tls);
      setTimeout(to, 0, { type: "transportClosed", gen: gen, cause: closeCause(s, tls), detail: m });
      return;
    }
    sock = k;
    k.on("data", function (d: string) {
      if (sock !== k) return;
      seen |= SAW_UP;
      to({ type: "transportData", gen: gen, bytes: E.toUint8Array(d) });
    });
    k.on("error", function (err: any) {
      if (sock !== k) return;
      detail = text(err);
      seen |= sawIn(detail, tls);
    });
    k.on("close", function () {
      if (sock !== k) return;
      sock = null;
      // Where mbedTLS takes its buffers from JsVars (the Linux build), the next handshake needs
      // large contiguous blocks; objects allocated into the hole this session leaves would split
      // it, and 2v29 then stops on ASSERT(jsvIsFlatString(v)) in jsvMalloc. Compact memory now,
      // from the socket's own event (no JS is mid-statement), while nothing else holds TLS state.
      if (tls && E.defrag) E.defrag();
      to({ type: "transportClosed", gen: gen, cause: closeCause(seen, tls), detail: detail });
    });
  }

  function close(gen: number): void {
    // declared first: Espruino declares a var only when its statement runs, and terser's
    // hoist_vars leaves a function's only var where it is (guards-espruino.ts, varFirst)
    let why = "no close event after end()";
    if (sock === null || gen !== sockGen) return; // gone: its close is delivered or on its way
    if (!(seen & SAW_ASKED)) {
      seen |= SAW_ASKED;
      try { sock.end(); return; } catch (e) { why = "end() threw: " + text(e); }
    }
    // asked again (the core's close guard) and end() brought no "close", or end() threw: nothing
    // stronger exists; said on a fresh turn
    setTimeout(report, 0, { type: "transportCloseFailed", gen: gen, detail: why });
  }

  return {
    open: open,
    write: function (gen: number, bytes: Uint8Array) {
      if (sock !== null && gen === sockGen) sock.write(E.toString(bytes));
    },
    close: close,
  };
}

/** Date.now() in whole ms (Espruino's is fractional): monotonic enough; and in whole seconds. */
const CLOCK = {
  nowMs: function () { return Math.floor(Date.now()); },
  epochSec: function () { return Math.floor(Date.now() / 1000); },
};

/**
 * A timer's expiry: one function for every timer (setTimeout passes it the arguments), not a
 * closure per timer, each of which would hold JsVars while it is pending.
 */
function expired(ids: { [kind: string]: any }, kind: TimerKind, report: Report): void {
  ids[kind] = undefined;
  report({ type: "timerFired", kind: kind });
}

/** One setTimeout per kind; clearTimeout only with an id setTimeout returned. */
function espruinoTimers(): Timers {
  const ids: { [kind: string]: any } = {};
  const t: Timers = {
    start: function (kind: TimerKind, ms: number, report: Report) {
      t.cancel(kind);
      ids[kind] = setTimeout(expired, ms, ids, kind, report);
    },
    cancel: function (kind: TimerKind) {
      const id = ids[kind];
      if (id !== undefined) {
        ids[kind] = undefined;
        clearTimeout(id);
      }
    },
  };
  return t;
}

/** The record in one Storage file, written only when it changes (flash wear). */
function espruinoStorage(file: string): Storage {
  let saved = "";
  return {
    load: function () {
      let d: any; // declared outside the try: see close() above
      try {
        d = require("Storage").readJSON(file, true);
        if (d && typeof d.attempt === "number") {
          saved = d.attempt + "|" + d.lastError;
          return { attempt: d.attempt, lastError: String(d.lastError) };
        }
      } catch (e) { /* no Storage */ }
      return undefined;
    },
    save: function (d: Persisted) {
      const t = d.attempt + "|" + d.lastError;
      if (t === saved) return;
      saved = t;
      try { require("Storage").writeJSON(file, d); } catch (e) { /* no Storage: nothing persists */ }
    },
  };
}

/**
 * A jitter seed that differs between devices and boots: E.hwRand() alone is the same on every
 * boot of every device (a fixed-seed rand() on the Linux and ESP32 builds), so the device id, the
 * Wi-Fi MAC where there is one, and the clock join it.
 */
function seed(deviceId: string): number {
  let mac = "";
  try { mac = require("Wifi").getIP().mac; } catch (e) { /* no Wifi module (Linux build) */ }
  return seedFrom(deviceId + "|" + mac + "|" + E.hwRand() + "|" + Date.now());
}

export function runLink(o: ShellOptions): Link {
  const link = deviceLink(createLinkWith(o.cfg, nativeSign(), seed(o.cfg.deviceId)), {
    transport: espruinoTransport(o.ca),
    timers: espruinoTimers(),
    clock: CLOCK,
    storage: espruinoStorage(o.stateFile || "linkguard.st"),
    app: o,
  });
  return link;
}
