// The Moddable (XS) shell: the ports of core/ports.ts over the SDK's SecureSocket (TLS) or
// Socket (plaintext, loopback emulator only), Timer and Preference, run by the shared runner
// (../runner.ts), which also catches what step() or a callback throws ("shell.stepFailed",
// "shell.exception"). It reports what the socket did; what that means (retry, halt) is the core's.
//
// Why SecureSocket and not the ECMA-419 TLS socket (embedded:io/socket/tcp/tls): on the SDK
// as observed (ENGINES.md), an untrusted CA or a TLS 1.3-only server throws inside the
// ECMA-419 socket's own onReadable, an unhandled exception that aborts the whole app: no
// shell can catch it, and a device that reboots into the same failure is a reconnect storm
// with extra steps. SecureSocket catches the same failure and reports it through its
// callback (message -2), which becomes transportClosed and a backoff. Its cost: it cannot
// tell a certificate rejection from other handshake failures, so on Moddable a rejected
// certificate retries with backoff (to the cap) instead of halting with tls.certRejected.
//
// What this transport can observe: MSG_CONNECT (SecureSocket: after the handshake; Socket: TCP
// connected), MSG_READABLE, MSG_WRITABLE, MSG_DISCONNECT (the peer closed), MSG_ERROR with a
// number, and exceptions from the constructor and write(). What it cannot: a SecureSocket says
// nothing of TCP before MSG_CONNECT, so an error before it is counted as past TCP (a refused
// connect and a failed handshake both read "tls"); no certificate rejection is ever named, so it
// never reports "cert". close() is synchronous, so a close the device asks for is always seen.

import Timer from "timer";
import { Socket } from "socket";
import SecureSocket from "securesocket";
import Preference from "preference";
import Time from "time";
import { createLink, TIMER_KINDS } from "../../core/link.js";
import { seedFrom } from "../../core/rand.js";
import type { Persisted, TimerKind } from "../../core/link.js";
import type { DeviceConfig } from "../../core/config.js";
import type { DeviceLink, LinkCallbacks, Report, Storage, Timers, Transport } from "../../core/ports.js";
import { deviceLink, closeCause, SAW_TCP, SAW_UP, SAW_ERROR, SAW_ASKED } from "../runner.js";
import { Diagnostics } from "../../core/diagnostics.js";
import type { DiagnosticsCounters } from "../../core/diagnostics.js";
import { observe, diagnosticsMessage } from "../../core/observe.js";

export interface ShellOptions extends LinkCallbacks {
  cfg: DeviceConfig;
  /** the CA certificate (DER) that signs the hub's chain, e.g. new Resource("DigiCertGlobalRootG2.der") */
  ca?: ArrayBuffer | HostBuffer;
  /** Preference domain for the persisted backoff state; default "linkguard" */
  domain?: string;
  /**
   * device-unique text for the jitter seed besides the device id (e.g. the MAC address): XS's
   * Math.random is the same sequence on every run on lin (ENGINES.md), so the seed mixes the
   * device id, this, Math.random() and the clock (seedFrom, src/core/rand.ts)
   */
  unique?: string;
}

export interface Link extends DeviceLink {
  /** the diagnostics ring (oldest first) and counters: why the link fell, how often, how long it was up */
  diagnostics(): { counters: DiagnosticsCounters; events: { atMs: number; state: string; code: number | string; reason: string }[] };
  /** queue the diagnostics as telemetry marked linkguard=diagnostics; returns the message id */
  publishDiagnostics(): number;
  /** record a fact of the firmware's (e.g. an SNTP timeout) in the diagnostics ring and the log */
  note(code: string, text: string): void;
}

/** The SDK socket callback's messages (socket.d.ts). */
const MSG_ERROR = -2, MSG_DISCONNECT = -1, MSG_CONNECT = 1, MSG_READABLE = 2, MSG_WRITABLE = 3;

interface AnySocket {
  callback: (message: number, value?: number) => void;
  read(type: typeof ArrayBuffer): ArrayBuffer;
  /** with data: send it all or throw `can't write all data`; without: the bytes that fit now */
  write(data?: Uint8Array): number;
  close(): void;
}

/**
 * The one socket and what was seen of it. The functions below live at module level (in flash,
 * in a preloaded module) and read it through `this` (the runner calls them as methods) or as an
 * argument: no closure per port, each of which would take slots in RAM for the device's life.
 * The SDK's sockets must not be closed from inside their own callbacks (on lin, closing a
 * SecureSocket from its handshake callback crashed mcsim with a segmentation fault): a socket
 * that ends is detached at once (nothing more from it counts), closed on a fresh turn, and only
 * then reported.
 */
interface SocketPort extends Transport {
  /** the CA certificate (DER), or undefined */
  ca: ArrayBuffer | HostBuffer | undefined;
  /** the socket of `gen`; null when it is gone or none was made */
  sock: AnySocket | null;
  gen: number;
  /** where this socket's news goes: the runner's post, given at each open */
  report?: Report;
  tls: boolean;
  seen: number;
  /** bytes accepted from the link, not yet taken by the socket (the first may be partly sent) */
  pending: Uint8Array[];
}

/** k ended (saw says how): close it outside its callback, then report. */
function gone(p: SocketPort, k: AnySocket, saw: number, detail?: string): void {
  if (p.sock !== k) return;
  p.sock = null;
  p.pending = [];
  const gen = p.gen, to = p.report as Report, cause = closeCause(p.seen | saw, p.tls);
  Timer.set(() => {
    try { k.close(); } catch { /* closed already (SecureSocket closes itself after an error) */ }
    to({ type: "transportClosed", gen: gen, cause: cause, detail: detail });
  }, 0);
}

/** What socket k said (its callback; `this` there is not the socket, so k comes along). */
function said(p: SocketPort, k: AnySocket, message: number, value?: number): void {
  if (p.sock !== k) return;
  switch (message) {
    case MSG_CONNECT:
      p.seen |= SAW_TCP | SAW_UP; // SecureSocket: after the handshake; Socket: TCP connected
      (p.report as Report)({ type: "transportOpened", gen: p.gen });
      return;
    case MSG_READABLE: {
      const ab = k.read(ArrayBuffer);
      if (ab && ab.byteLength > 0) (p.report as Report)({ type: "transportData", gen: p.gen, bytes: new Uint8Array(ab) });
      return;
    }
    case MSG_WRITABLE:
      flush(p, k);
      return;
    case MSG_DISCONNECT:
      gone(p, k, 0);
      return;
    case MSG_ERROR:
    default:
      gone(p, k, SAW_ERROR, "socket message " + message + (value !== undefined ? " " + value : ""));
  }
}

/**
 * Hands the socket as much as it says fits (write() with no argument: its free send space,
 * after TLS overhead), a piece at a time: SecureSocket throws `can't write all data` for more.
 * What does not fit waits, in order, for MSG_WRITABLE. A socket that throws anyway is dead.
 */
function flush(p: SocketPort, k: AnySocket): void {
  while (p.pending.length > 0 && p.sock === k) {
    const head = p.pending[0];
    let room = 0;
    try {
      room = k.write();
      if (room <= 0) return; // wait for MSG_WRITABLE
      const n = room < head.length ? room : head.length;
      k.write(n === head.length ? head : head.subarray(0, n));
      if (n === head.length) p.pending.shift();
      else p.pending[0] = head.subarray(n);
    } catch (x) {
      gone(p, k, SAW_ERROR, "write failed with " + room + " bytes free: " + String(x));
      return;
    }
  }
}

function sockOpen(this: SocketPort, gen: number, host: string, port: number, tls: boolean, to: Report): void {
  const p = this;
  let k: AnySocket;
  p.gen = gen;
  p.report = to;
  p.tls = tls;
  p.seen = 0;
  p.pending = [];
  try {
    k = tls
      ? (new SecureSocket({ host: host, port: port, secure: { protocolVersion: 0x303, certificate: p.ca, verify: true } }) as unknown as AnySocket)
      : (new Socket({ host: host, port: port }) as unknown as AnySocket);
  } catch (e) {
    p.sock = null;
    const m = String(e);
    Timer.set(() => to({ type: "transportClosed", gen: gen, cause: closeCause(SAW_ERROR, tls), detail: m }), 0);
    return;
  }
  p.sock = k;
  // SecureSocket tells nothing of TCP before MSG_CONNECT: counted as reached (see above)
  if (tls) p.seen = SAW_TCP;
  // one closure per connection: `this` inside SDK callbacks is not the socket
  k.callback = (message: number, value?: number) => said(p, k, message, value);
}

function sockWrite(this: SocketPort, gen: number, bytes: Uint8Array): void {
  if (this.sock === null || gen !== this.gen) return;
  this.pending.push(bytes); // only read here (the socket copies what it takes): no copy of our own
  flush(this, this.sock);
}

function sockClose(this: SocketPort, gen: number): void {
  if (this.sock !== null && gen === this.gen) gone(this, this.sock, SAW_ASKED);
}

/** The one socket, generation-aware. */
export function moddableTransport(ca?: ArrayBuffer | HostBuffer): Transport {
  const p: SocketPort = { open: sockOpen, write: sockWrite, close: sockClose, ca: ca, sock: null, gen: 0, tls: false, seen: 0, pending: [] };
  return p;
}

/** One Timer per kind, and where they report; read through `this` or the timer's expiry. */
interface TimerPort extends Timers {
  timers: { [kind: string]: Timer | undefined };
  report?: Report;
  /** the expiry: the one closure of the port (Timer.set hands it only the timer) */
  expired: (t: Timer) => void;
}

/**
 * A timer's expiry: one function for every timer (Timer.set hands it the timer it returned,
 * modules/base/timer/modTimer.c), not a closure each in RAM while it is pending.
 */
function timerExpired(p: TimerPort, t: Timer): void {
  for (let i = 0; i < TIMER_KINDS.length; i++) {
    const k = TIMER_KINDS[i];
    if (p.timers[k] === t) {
      p.timers[k] = undefined;
      (p.report as Report)({ type: "timerFired", kind: k });
      return;
    }
  }
}

function timerStart(this: TimerPort, kind: TimerKind, ms: number, to: Report): void {
  this.cancel(kind);
  this.report = to;
  this.timers[kind] = Timer.set(this.expired, ms);
}

function timerCancel(this: TimerPort, kind: TimerKind): void {
  const t = this.timers[kind];
  if (t !== undefined) {
    this.timers[kind] = undefined;
    Timer.clear(t);
  }
}

function moddableTimers(): Timers {
  const p = { start: timerStart, cancel: timerCancel, timers: {} } as TimerPort;
  p.expired = (t: Timer) => timerExpired(p, t);
  return p;
}

/** The record as two Preference keys of `domain`, written only when they change (flash wear). */
interface PrefPort extends Storage { domain: string }

function prefLoad(this: PrefPort): Persisted | undefined {
  try {
    const a = Preference.get(this.domain, "attempt");
    const e = Preference.get(this.domain, "lastError");
    if (typeof a === "number") return { attempt: a, lastError: typeof e === "string" ? e : "" };
  } catch { /* none */ }
  return undefined;
}

function prefSave(this: PrefPort, d: Persisted): void {
  const domain = this.domain;
  try {
    if (Preference.get(domain, "attempt") !== d.attempt) Preference.set(domain, "attempt", d.attempt);
    if (Preference.get(domain, "lastError") !== d.lastError) Preference.set(domain, "lastError", d.lastError.slice(0, 60));
  } catch { /* no preference storage: nothing persists */ }
}

/** Time.ticks in ms; the wall clock in whole seconds. */
const CLOCK = {
  nowMs: function () { return Time.ticks; },
  epochSec: function () { return Math.floor(Date.now() / 1000); },
};

export function runLink(o: ShellOptions): Link {
  const cfg = o.cfg;
  const seed = seedFrom(cfg.deviceId + "|" + (o.unique || "") + "|" + Math.random() + "|" + Date.now() + "|" + Time.ticks);
  const auth = cfg.auth as { symmetricKey?: string; sasToken?: string };
  const diag = new Diagnostics({ capacity: 16, secrets: [auth.symmetricKey || auth.sasToken || ""] });

  /** a fact for the diagnostics ring and the application's log */
  function report(code: string, text: string): void {
    diag.record({ atMs: Time.ticks, state: "", code: code, reason: text });
    if (o.onLog) o.onLog(code, text);
  }

  const link = deviceLink(createLink(cfg, undefined, seed), {
    transport: moddableTransport(o.ca),
    timers: moddableTimers(),
    clock: CLOCK,
    storage: { load: prefLoad, save: prefSave, domain: o.domain || "linkguard" } as PrefPort,
    app: o,
    onCommand: (c, t) => observe(diag, c, t),
    onFault: report,
  });
  // the device link itself, with the Moddable extras: its own methods read it through `this`
  const l = link as Link;
  l.diagnostics = function () { return { counters: diag.counters(Time.ticks), events: diag.snapshot() }; };
  l.publishDiagnostics = function () {
    const m = diagnosticsMessage(diag, 0, Time.ticks);
    return l.publish(m.payload, 1, m.properties);
  };
  l.note = function (code: string, text: string) {
    try { report(code, text); } catch { /* the application's log threw: the ring has it */ }
  };
  return l;
}
