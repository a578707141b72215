// The Moddable (XS) shell: runs the link's commands over the SDK's SecureSocket (TLS) or
// Socket (plaintext, loopback emulator only), Timer and Preference, and feeds back events.
// It decides nothing.
//
// Why SecureSocket and not the ECMA-419 TLS socket (embedded:io/socket/tcp/tls): on the SDK
// as observed (ENGINES.md), an untrusted CA or a TLS 1.3-only server throws inside the
// ECMA-419 socket's own onReadable, an unhandled exception that aborts the whole app: no
// shell can catch it, and a device that reboots into the same failure is a reconnect storm
// with extra steps. SecureSocket catches the same failure and reports it through its
// callback (message -2), which becomes transportClosed and a backoff. Its cost: it cannot
// tell a certificate rejection from other handshake failures, so on Moddable a rejected
// certificate retries with backoff (to the cap) instead of halting with tls.certRejected.

import Timer from "timer";
import { Socket } from "socket";
import SecureSocket from "securesocket";
import Preference from "preference";
import Time from "time";
import { createLink, step } from "../../core/link.js";
import { seedFrom } from "../../core/rand.js";
import type { LinkState, LinkEvent, Command, Status, Persisted, CloseCause } from "../../core/link.js";
import type { DeviceConfig } from "../../core/config.js";
import type { DeviceLink, LinkCallbacks } from "../../core/ports.js";
import { deliver } from "../../core/app.js";
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

export function runLink(o: ShellOptions): Link {
  const cfg = o.cfg;
  const domain = o.domain || "linkguard";
  const seed = seedFrom(cfg.deviceId + "|" + (o.unique || "") + "|" + Math.random() + "|" + Date.now() + "|" + Time.ticks);
  let s = createLink(cfg, undefined, seed);
  const timers: { [kind: string]: Timer | undefined } = {};
  const queue: LinkEvent[] = [];
  let busy = false;
  let sock: AnySocket | null = null;
  let sockGen = 0;
  let connected = false;
  /** bytes accepted from the link, not yet taken by the socket (the first may be partly sent) */
  let pending: Uint8Array[] = [];
  let nextId = 1;
  const auth = cfg.auth as { symmetricKey?: string; sasToken?: string };
  const diag = new Diagnostics({ capacity: 16, secrets: [auth.symmetricKey || auth.sasToken || ""] });

  function feed(e: LinkEvent): void {
    queue.push(e);
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0) {
        const now = Time.ticks;
        const ev = queue.shift() as LinkEvent;
        let r;
        try {
          r = step(s, ev, now);
        } catch (x) {
          stepFailed(ev, x);
          continue;
        }
        s = r.state;
        for (let i = 0; i < r.commands.length; i++) {
          const c = r.commands[i];
          try {
            observe(diag, c, now);
            run(c);
          } catch (x) {
            // an application callback (or the platform) threw: say so, run the rest
            report("shell.exception", c.type + ": " + String(x));
          }
        }
      }
    } finally {
      busy = false;
    }
  }

  function report(code: string, text: string): void {
    diag.record({ atMs: Time.ticks, state: "", code: code, reason: text });
    try { if (o.onLog) o.onLog(code, text); } catch { /* the report itself must not throw */ }
  }

  /**
   * step() threw (a core bug, or an engine quirk such as a frozen buffer): the event is lost
   * and the state is the one before it. Report it, and if a transport is alive, close it and
   * tell the core, so the link backs off and reconnects instead of waiting for bytes whose
   * meaning it never learnt.
   */
  function stepFailed(ev: LinkEvent, x: unknown): void {
    report("shell.stepFailed", ev.type + ": " + String(x));
    if (sock === null) return;
    gone(sock, sockGen, "error", "step failed on " + ev.type + ": " + String(x));
  }

  /** Deliver from a fresh turn (never re-enter the caller). */
  function later(e: LinkEvent): void {
    Timer.set(() => feed(e), 0);
  }

  /**
   * Closes k, then tells the core, in a fresh turn: the SDK's sockets must not be closed from
   * inside their own callbacks (on lin, closing a SecureSocket from its handshake callback
   * crashed mcsim with a segmentation fault). k is detached at once: nothing more from it counts.
   */
  function closeThen(k: AnySocket, e: LinkEvent): void {
    Timer.set(() => {
      try { k.close(); } catch { /* closed already (SecureSocket closes itself after an error) */ }
      feed(e);
    }, 0);
  }

  function gone(k: AnySocket, gen: number, cause: CloseCause, detail?: string): void {
    if (sock !== k) return;
    sock = null;
    pending = [];
    closeThen(k, { type: "transportClosed", gen: gen, cause: cause, detail: detail });
  }

  function open(gen: number, host: string, port: number, tls: boolean): void {
    sockGen = gen;
    connected = false;
    pending = [];
    let k: AnySocket;
    try {
      k = tls
        ? (new SecureSocket({ host: host, port: port, secure: { protocolVersion: 0x303, certificate: o.ca, verify: true } }) as unknown as AnySocket)
        : (new Socket({ host: host, port: port }) as unknown as AnySocket);
    } catch (e) {
      sock = null;
      later({ type: "transportClosed", gen: gen, cause: tls ? "tls" : "error", detail: String(e) });
      return;
    }
    sock = k;
    // `this` inside SDK callbacks is not the socket: keep it in `k`
    k.callback = (message: number, value?: number) => {
      if (sock !== k) return;
      switch (message) {
        case MSG_CONNECT:
          connected = true; // SecureSocket: after the handshake; Socket: TCP connected
          feed({ type: "transportOpened", gen: gen, epochSec: Math.floor(Date.now() / 1000) });
          return;
        case MSG_READABLE: {
          const ab = k.read(ArrayBuffer);
          if (ab && ab.byteLength > 0) feed({ type: "transportData", gen: gen, bytes: new Uint8Array(ab) });
          return;
        }
        case MSG_WRITABLE:
          flush(k);
          return;
        case MSG_DISCONNECT:
          gone(k, gen, "remote");
          return;
        case MSG_ERROR:
        default:
          // before MSG_CONNECT on TLS: the handshake failed (certificate or protocol; SecureSocket does not say which)
          gone(k, gen, tls && !connected ? "tls" : "error", "socket message " + message + (value !== undefined ? " " + value : ""));
      }
    };
  }

  /**
   * Hands the socket as much as it says fits (write() with no argument: its free send space,
   * after TLS overhead), a piece at a time: SecureSocket throws `can't write all data` for more.
   * What does not fit waits, in order, for MSG_WRITABLE. A socket that throws anyway is dead.
   */
  function flush(k: AnySocket): void {
    while (pending.length > 0 && sock === k) {
      const head = pending[0];
      let room = 0;
      try {
        room = k.write();
        if (room <= 0) return; // wait for MSG_WRITABLE
        const n = room < head.length ? room : head.length;
        k.write(n === head.length ? head : head.subarray(0, n));
        if (n === head.length) pending.shift();
        else pending[0] = head.subarray(n);
      } catch (x) {
        gone(k, sockGen, "error", "write failed with " + room + " bytes free: " + String(x));
        return;
      }
    }
  }

  function write(gen: number, bytes: Uint8Array): void {
    if (sock === null || gen !== sockGen) return;
    pending.push(bytes); // only read here (the socket copies what it takes): no copy of our own
    flush(sock);
  }

  function close(gen: number): void {
    if (sock === null || gen !== sockGen) return;
    const k = sock;
    sock = null; // nothing more from k counts
    pending = [];
    closeThen(k, { type: "transportClosed", gen: gen, cause: "local" });
  }

  function cancel(kind: string): void {
    const t = timers[kind];
    if (t !== undefined) {
      timers[kind] = undefined;
      Timer.clear(t);
    }
  }

  function persist(d: Persisted): void {
    try {
      if (Preference.get(domain, "attempt") !== d.attempt) Preference.set(domain, "attempt", d.attempt);
      if (Preference.get(domain, "lastError") !== d.lastError) Preference.set(domain, "lastError", d.lastError.slice(0, 60));
    } catch { /* no preference storage: nothing persists */ }
  }

  function restored(): Persisted | undefined {
    try {
      const a = Preference.get(domain, "attempt");
      const e = Preference.get(domain, "lastError");
      if (typeof a === "number") return { attempt: a, lastError: typeof e === "string" ? e : "" };
    } catch { /* none */ }
    return undefined;
  }

  function run(c: Command): void {
    switch (c.type) {
      case "openTransport": open(c.gen, c.host, c.port, c.tls); return;
      case "write": write(c.gen, c.bytes); return;
      case "closeTransport": close(c.gen); return;
      case "startTimer": {
        const kind = c.kind;
        cancel(kind);
        timers[kind] = Timer.set(() => {
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

  return {
    publish(payload, qos, properties) {
      const id = nextId++;
      feed({ type: "publish", msg: { id: id, payload: payload, qos: qos, properties: properties } });
      return id;
    },
    start() { feed({ type: "start", restored: restored() }); },
    stop() { feed({ type: "stop" }); },
    state() { return s; },
    diagnostics() { return { counters: diag.counters(Time.ticks), events: diag.snapshot() }; },
    publishDiagnostics() {
      const id = nextId++;
      feed({ type: "publish", msg: diagnosticsMessage(diag, id, Time.ticks) });
      return id;
    },
    note(code, text) { report(code, text); },
  };
}
