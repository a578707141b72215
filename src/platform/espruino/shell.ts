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


/**
 * The one socket and what was seen of it. Its functions live at module level and read this
 * object through `this` (the runner calls them as methods; Espruino runs a socket's listeners
 * with `this` = the socket, which holds its port as `owner`): no closure per port or per
 * connection, each of which would hold JsVars for as long as the link is up.
 */
interface SocketPort extends Transport {
  /** base64 of the DER CA certificate, or undefined */
  ca: string | undefined;
  /** the socket of `gen`; null when it is gone or none was made */
  sock: any;
  gen: number;
  tls: boolean;
  /** where this socket's news goes: the runner's post, given at each open */
  report?: Report;
  seen: number;
  detail?: string;
}

/** The connect callback: TCP is up (on TLS, the handshake may still be under way). */
function sockConnected(this: any): void {
  const p: SocketPort = this.owner;
  if (p.sock !== this) return;
  p.seen |= p.tls ? SAW_TCP : SAW_TCP | SAW_UP;
  (p.report as Report)({ type: "transportOpened", gen: p.gen });
}

function sockData(this: any, d: string): void {
  const p: SocketPort = this.owner;
  if (p.sock !== this) return;
  p.seen |= SAW_UP;
  (p.report as Report)({ type: "transportData", gen: p.gen, bytes: E.toUint8Array(d) });
}

function sockError(this: any, err: any): void {
  const p: SocketPort = this.owner;
  if (p.sock !== this) return;
  p.detail = text(err);
  p.seen |= sawIn(p.detail, p.tls);
}

function sockClosed(this: any): void {
  const p: SocketPort = this.owner;
  if (p.sock !== this) return;
  p.sock = null;
  // Where mbedTLS takes its buffers from JsVars (the Linux build), the next handshake needs
  // large contiguous blocks; objects allocated into the hole this session leaves would split
  // it, and 2v29 then stops on ASSERT(jsvIsFlatString(v)) in jsvMalloc. Compact memory now,
  // from the socket's own event (no JS is mid-statement), while nothing else holds TLS state.
  if (p.tls && E.defrag) E.defrag();
  (p.report as Report)({ type: "transportClosed", gen: p.gen, cause: closeCause(p.seen, p.tls), detail: p.detail });
}

function sockOpen(this: SocketPort, gen: number, host: string, port: number, tls: boolean, report: Report): void {
  const p = this;
  const opts: any = { host: host, port: port };
  let k: any;
  p.report = report;
  p.sock = null;
  p.gen = gen;
  p.tls = tls;
  p.seen = 0;
  p.detail = undefined;
  try {
    if (tls && p.ca) opts.ca = atob(p.ca);
    k = require(tls ? "tls" : "net").connect(opts, sockConnected);
  } catch (err) {
    const m = text(err);
    // atob threw: the CA is not base64; otherwise what the message says; reported on a fresh turn
    const s = tls && p.ca && opts.ca === undefined ? SAW_ERROR | SAW_CA : sawIn(m, tls);
    setTimeout(report, 0, { type: "transportClosed", gen: gen, cause: closeCause(s, tls), detail: m });
    return;
  }
  k.owner = p;
  p.sock = k;
  k.on("data", sockData);
  k.on("error", sockError);
  k.on("close", sockClosed);
}

function sockWrite(this: SocketPort, gen: number, bytes: Uint8Array): void {
  if (this.sock !== null && gen === this.gen) this.sock.write(E.toString(bytes));
}

function sockClose(this: SocketPort, gen: number): void {
  const p = this;
  let why = "no close event after end()";
  if (p.sock === null || gen !== p.gen) return; // gone: its close is delivered or on its way
  if (!(p.seen & SAW_ASKED)) {
    p.seen |= SAW_ASKED;
    try { p.sock.end(); return; } catch (e) { why = "end() threw: " + text(e); }
  }
  // asked again (the core's close guard) and end() brought no "close", or end() threw: nothing
  // stronger exists; said on a fresh turn
  setTimeout(p.report as Report, 0, { type: "transportCloseFailed", gen: gen, detail: why });
}

/** The one socket: generation-aware, reporting to the runner it was opened for. */
export function espruinoTransport(ca?: string): Transport {
  const p: SocketPort = {
    open: sockOpen, write: sockWrite, close: sockClose,
    ca: ca, sock: null, gen: 0, tls: false, seen: 0,
  };
  return p;
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

/** One setTimeout per kind, its id in `ids`; the functions below read it through `this`. */
interface TimerPort extends Timers { ids: { [kind: string]: any } }

function timerStart(this: TimerPort, kind: TimerKind, ms: number, report: Report): void {
  this.cancel(kind);
  this.ids[kind] = setTimeout(expired, ms, this.ids, kind, report);
}

/** clearTimeout only with an id setTimeout returned (clearTimeout(undefined) throws). */
function timerCancel(this: TimerPort, kind: TimerKind): void {
  const id = this.ids[kind];
  if (id !== undefined) {
    this.ids[kind] = undefined;
    clearTimeout(id);
  }
}

/** The record in one Storage file, written only when it changes (flash wear). */
interface FilePort extends Storage { stateFile: string; saved: string }

function fileLoad(this: FilePort): Persisted | undefined {
  // declared outside the try: Espruino declares a var only when its statement runs, and terser's
  // hoist_vars leaves a function's only var where it is (guards-espruino.ts, varFirst)
  let d: any;
  try {
    d = require("Storage").readJSON(this.stateFile, true);
    if (d && typeof d.attempt === "number") {
      this.saved = d.attempt + "|" + d.lastError;
      return { attempt: d.attempt, lastError: String(d.lastError) };
    }
  } catch (e) { /* no Storage */ }
  return undefined;
}

function fileSave(this: FilePort, d: Persisted): void {
  const t = d.attempt + "|" + d.lastError;
  if (t === this.saved) return;
  this.saved = t;
  try { require("Storage").writeJSON(this.stateFile, d); } catch (e) { /* no Storage: nothing persists */ }
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
    timers: { start: timerStart, cancel: timerCancel, ids: {} } as TimerPort,
    clock: CLOCK,
    storage: { load: fileLoad, save: fileSave, stateFile: o.stateFile || "linkguard.st", saved: "" } as FilePort,
    app: o,
  });
  return link;
}
