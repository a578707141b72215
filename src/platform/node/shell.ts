// The node shell: a loop that runs the core's commands and feeds events back. It decides
// nothing. Events are queued and handled one at a time (a command that causes an event never
// re-enters the core), every platform exception is caught at the callback edge, and the
// core's `notify` / `log` go into a Diagnostics ring whose text never holds a key or token.

import { performance } from "node:perf_hooks";
import { DeviceConfig } from "../../core/config.js";
import { Diagnostics } from "../../core/diagnostics.js";
import { CloseCause, Command, LinkEvent, Outbound, Persisted, Status, TimerKind } from "../../core/link.js";
import { observe, diagnosticsMessage } from "../../core/observe.js";
import { Storage } from "../../core/ports.js";
import { CoreEngine } from "./engine.js";
import { NodeTimers } from "./timers.js";
import { NodeTransport, TransportOptions } from "./transport.js";

export interface ShellObserver {
  /** every event handed to the core, before it is handled */
  event?(e: LinkEvent, nowMs: number): void;
  /** every command the core returned, before it is run */
  command?(c: Command, nowMs: number): void;
  /** a platform exception caught at the edge (already turned into an event where one applies) */
  fault?(where: string, detail: string): void;
}

export interface ShellOptions extends TransportOptions {
  engine: CoreEngine;
  cfg: DeviceConfig;
  /** default: a fresh ring (capacity 64) that redacts the configured key or token */
  diagnostics?: Diagnostics;
  /** receives the core's `persist` command; default: none kept */
  storage?: Storage;
  /** monotonic ms; default performance.now() */
  nowMs?: () => number;
  /** wall-clock seconds for SAS expiry; default Date.now() / 1000 */
  epochSec?: () => number;
  observer?: ShellObserver;
}

/** the key the shell persists the link's Persisted record under */
export const PERSIST_KEY = "linkguard.link";

function defaultNow(): number {
  return Math.floor(performance.now());
}

function defaultEpoch(): number {
  return Math.floor(Date.now() / 1000);
}

/** the configured credential, for redaction */
export function secretsOf(cfg: DeviceConfig): string[] {
  const a = cfg.auth as { symmetricKey?: string; sasToken?: string };
  const out: string[] = [];
  if (a.symmetricKey) out.push(a.symmetricKey);
  if (a.sasToken) out.push(a.sasToken);
  return out;
}

export class NodeShell {
  readonly diagnostics: Diagnostics;
  readonly transport: NodeTransport;
  private readonly engine: CoreEngine;
  private readonly timers = new NodeTimers();
  private readonly queue: LinkEvent[] = [];
  private readonly now: () => number;
  private readonly epoch: () => number;
  private readonly observer: ShellObserver;
  private readonly storage: Storage | null;
  private running = false;
  private disposed = false;
  private lastStatus: Status | null = null;
  /** transportClosed events fed to the core, per generation (tests check: exactly one per open) */
  readonly closedPerGen: { [gen: string]: number } = {};

  constructor(o: ShellOptions) {
    this.engine = o.engine;
    this.now = o.nowMs || defaultNow;
    this.epoch = o.epochSec || defaultEpoch;
    this.observer = o.observer || {};
    this.storage = o.storage || null;
    this.diagnostics = o.diagnostics || new Diagnostics({ capacity: 64, secrets: secretsOf(o.cfg) });
    this.transport = new NodeTransport({ ca: o.ca, address: o.address }, {
      opened: (gen) => this.post({ type: "transportOpened", gen: gen, epochSec: this.epoch() }),
      data: (gen, bytes) => this.post({ type: "transportData", gen: gen, bytes: bytes }),
      closed: (gen, cause, detail) => this.onClosed(gen, cause, detail),
    });
  }

  private onClosed(gen: number, cause: CloseCause, detail: string): void {
    const k = String(gen);
    this.closedPerGen[k] = (this.closedPerGen[k] || 0) + 1;
    this.post({ type: "transportClosed", gen: gen, cause: cause, detail: detail });
  }

  /** Starts the link (with the persisted record, if the storage has one). */
  start(seed?: number): void {
    let restored: Persisted | undefined;
    if (this.storage) {
      try {
        const t = this.storage.load(PERSIST_KEY);
        if (t) {
          const p = JSON.parse(t);
          if (p && typeof p.attempt === "number" && typeof p.lastError === "string") restored = { attempt: p.attempt, lastError: p.lastError };
        }
      } catch (e) {
        this.fault("storage.load", e);
      }
    }
    const e: LinkEvent = { type: "start" };
    if (seed !== undefined) e.seed = seed;
    if (restored) e.restored = restored;
    this.post(e);
  }

  stop(): void {
    this.post({ type: "stop" });
  }

  publish(msg: Outbound): void {
    this.post({ type: "publish", msg: msg });
  }

  /** Queues the diagnostics ring and counters as telemetry marked linkguard=diagnostics. */
  publishDiagnostics(id: number): void {
    this.post({ type: "publish", msg: diagnosticsMessage(this.diagnostics, id, this.now()) });
  }

  tokenExpiring(): void {
    this.post({ type: "tokenExpiring" });
  }

  /** the core's state as the engine reports it */
  state(): string {
    return this.engine.snapshot().kind;
  }

  status(): Status | null {
    return this.lastStatus;
  }

  nowMs(): number {
    return this.now();
  }

  /** Hands an event to the core; events raised while a step runs wait their turn. */
  post(e: LinkEvent): void {
    if (this.disposed) return;
    this.queue.push(e);
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.disposed) {
        const ev = this.queue.shift() as LinkEvent;
        const t = this.now();
        this.observe("event", () => this.observer.event && this.observer.event(ev, t));
        let cmds: Command[];
        try {
          cmds = this.engine.handle(ev, t);
        } catch (err) {
          this.fault("engine.handle", err);
          continue;
        }
        for (let i = 0; i < cmds.length; i++) this.run(cmds[i], t);
      }
    } finally {
      this.running = false;
    }
  }

  private run(c: Command, t: number): void {
    this.observe("command", () => this.observer.command && this.observer.command(c, t));
    // the ring and counters mean the same on every target: core/observe.ts reads the commands
    observe(this.diagnostics, c, t);
    try {
      switch (c.type) {
        case "openTransport":
          this.transport.open(c.gen, c.host, c.port, c.tls);
          return;
        case "write":
          this.transport.write(c.gen, c.bytes);
          return;
        case "closeTransport":
          this.transport.close(c.gen);
          return;
        case "startTimer": {
          const kind: TimerKind = c.kind;
          this.timers.start(kind, c.ms, () => this.post({ type: "timerFired", kind: kind }));
          return;
        }
        case "cancelTimer":
          this.timers.cancel(c.kind);
          return;
        case "notify":
          this.lastStatus = c.status;
          return;
        case "persist":
          if (this.storage) this.storage.save(PERSIST_KEY, JSON.stringify(c.data));
          return;
        case "log":
        case "dropped":
        case "acked":
        case "message":
          return; // the application's business: observers see them
      }
    } catch (err) {
      this.fault(c.type, err);
      // an open that threw is reported by the transport as one transportClosed; a failed
      // write surfaces as the socket's close. Nothing else needs an event.
    }
  }

  private observe(where: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.fault("observer." + where, e);
    }
  }

  private fault(where: string, e: unknown): void {
    const detail = this.diagnostics.clean(e instanceof Error ? e.message.split("\n")[0] : String(e));
    this.diagnostics.error(this.now(), "shell." + where, detail);
    if (this.observer.fault) {
      try { this.observer.fault(where, detail); } catch { /* nothing more to do */ }
    }
  }

  /** Cancels the timers and destroys the sockets without telling the core; the shell is dead after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.timers.cancelAll();
    this.transport.closeAll();
    this.engine.dispose();
  }
}
