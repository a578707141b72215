// The Espruino shell: runs the link's commands over require("tls") / require("net"),
// setTimeout and Storage, and feeds what happens back as events. It decides nothing.
//
// Espruino facts this file is built around (ENGINES.md):
// - sockets deliver binary strings and take E.toString(bytes); there is no destroy();
// - the TLS connect callback can fire before the handshake ends (writes are queued), so a
//   handshake failure can arrive after transportOpened: it is still reported as "tls";
// - its TLS checks no certificate (libs/network/network.c sets MBEDTLS_SSL_VERIFY_NONE), so no
//   error here is a certificate rejection; a `ca` mbedTLS cannot parse is reported as "ca";
// - a refused connect can throw synchronously: reported as a close on a fresh turn;
// - clearTimeout(undefined) throws: only ids that setTimeout returned are cleared.

import { createLinkWith, step, LinkState, LinkEvent, Command, Status, Persisted, CloseCause } from "../../core/link.js";
import { seedFrom } from "../../core/rand.js";
import { DeviceConfig } from "../../core/config.js";
import type { DeviceLink, LinkCallbacks } from "../../core/ports.js";
import { deliver } from "../../core/app.js";
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

/** Monotonic enough: Date.now() in whole ms (Espruino's is fractional). */
function nowMs(): number { return Math.floor(Date.now()); }

/** What a socket error says: the CA was unusable ("mbedtls_x509_crt_parse of 'ca'"), another TLS failure, or a plain error. */
function classify(m: string, tls: boolean, gotData: boolean): CloseCause {
  if (tls && m.indexOf("'ca'") >= 0) return "ca";
  return tls && !gotData ? "tls" : "error";
}

function text(err: any): string {
  return String(err && err.message !== undefined ? err.message : err);
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
  const cfg = o.cfg;
  let s = createLinkWith(cfg, nativeSign(), seed(cfg.deviceId));
  const timers: { [kind: string]: any } = {};
  const queue: LinkEvent[] = [];
  let busy = false;
  // the one socket (invariant 1 is the core's; this only tracks which gen it belongs to)
  let sock: any = null;
  let sockGen = 0;
  let cause: CloseCause = "remote";
  let detail: string | undefined;
  let closeAsked = false;
  let gotData = false;
  let nextId = 1;
  const stateFile = o.stateFile || "linkguard.st";
  let saved = "";

  function feed(e: LinkEvent): void {
    queue.push(e);
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0) {
        const r = step(s, queue.shift() as LinkEvent, nowMs());
        s = r.state;
        for (let i = 0; i < r.commands.length; i++) run(r.commands[i]);
      }
    } finally {
      busy = false;
    }
  }

  function later(e: LinkEvent): void {
    setTimeout(function () { feed(e); }, 0);
  }

  function open(gen: number, host: string, port: number, tls: boolean): void {
    sock = null;
    sockGen = gen;
    cause = "remote";
    detail = undefined;
    closeAsked = false;
    gotData = false;
    const opts: any = { host: host, port: port };
    let k: any;
    try {
      if (tls && o.ca) opts.ca = atob(o.ca);
      k = require(tls ? "tls" : "net").connect(opts, function () {
        if (sock === k) feed({ type: "transportOpened", gen: gen, epochSec: Math.floor(Date.now() / 1000) });
      });
    } catch (err) {
      const m = text(err);
      later({ type: "transportClosed", gen: gen, cause: opts.ca === undefined && o.ca && tls ? "ca" : classify(m, tls, false), detail: m });
      return;
    }
    sock = k;
    k.on("data", function (d: string) {
      if (sock !== k) return;
      gotData = true;
      feed({ type: "transportData", gen: gen, bytes: E.toUint8Array(d) });
    });
    k.on("error", function (err: any) {
      if (sock !== k) return;
      detail = text(err);
      cause = classify(detail, tls, gotData);
    });
    k.on("close", function () {
      if (sock !== k) return;
      sock = null;
      // Where mbedTLS takes its buffers from JsVars (the Linux build), the next handshake needs
      // large contiguous blocks; objects allocated into the hole this session leaves would split
      // it, and 2v29 then stops on ASSERT(jsvIsFlatString(v)) in jsvMalloc. Compact memory now,
      // from the socket's own event (no JS is mid-statement), while nothing else holds TLS state.
      if (tls && E.defrag) E.defrag();
      feed({ type: "transportClosed", gen: gen, cause: closeAsked ? "local" : cause, detail: detail });
    });
  }

  function close(gen: number): void {
    if (sock === null || gen !== sockGen) return; // already gone: its close event is on its way or delivered
    const k = sock;
    if (closeAsked) {
      // Asked twice (the core's close guard): end() did not produce "close". Without destroy()
      // the socket cannot be forced; forget it and confirm, so the link is not stuck forever.
      sock = null;
      later({ type: "transportClosed", gen: gen, cause: "local", detail: "no close event after end()" });
      return;
    }
    closeAsked = true;
    try { k.end(); } catch (e) { sock = null; later({ type: "transportClosed", gen: gen, cause: "local" }); }
  }

  function cancel(kind: string): void {
    const id = timers[kind];
    if (id !== undefined) {
      timers[kind] = undefined;
      clearTimeout(id);
    }
  }

  function persist(d: Persisted): void {
    const text = d.attempt + "|" + d.lastError;
    if (text === saved) return; // flash wear: write only changes
    saved = text;
    try { require("Storage").writeJSON(stateFile, d); } catch (e) { /* no Storage: nothing persists */ }
  }

  function run(c: Command): void {
    switch (c.type) {
      case "openTransport": open(c.gen, c.host, c.port, c.tls); return;
      case "write":
        if (sock !== null && c.gen === sockGen) sock.write(E.toString(c.bytes));
        return;
      case "closeTransport": close(c.gen); return;
      case "startTimer": {
        const kind = c.kind;
        cancel(kind);
        timers[kind] = setTimeout(function () {
          timers[kind] = undefined;
          feed({ type: "timerFired", kind: kind });
        }, c.ms);
        return;
      }
      case "cancelTimer": cancel(c.kind); return;
      case "persist": persist(c.data); return;
      default: deliver(o, c);
    }
  }

  function restored(): Persisted | undefined {
    try {
      const d = require("Storage").readJSON(stateFile, true);
      if (d && typeof d.attempt === "number") {
        saved = d.attempt + "|" + d.lastError;
        return { attempt: d.attempt, lastError: String(d.lastError) };
      }
    } catch (e) { /* no Storage */ }
    return undefined;
  }

  return {
    publish: function (payload, qos, properties) {
      const id = nextId++;
      feed({ type: "publish", msg: { id: id, payload: payload, qos: qos, properties: properties } });
      return id;
    },
    start: function () { feed({ type: "start", restored: restored() }); },
    stop: function () { feed({ type: "stop" }); },
    state: function () { return s; },
  };
}
