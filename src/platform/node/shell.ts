// The node shell: the shared runner (../runner.ts: events one at a time, commands in order,
// exceptions caught at the edge) on Node's ports (NodeTransport, NodeTimers, a Storage), with the
// core in an engine of choice (engine.ts: in-process, or inside XS). The core's `notify` / `log`
// go into a Diagnostics ring whose text never holds a key or token; observers see every event and
// command (the simulator's timeline and reports). What halts and what retries is the core's.

import { performance } from "node:perf_hooks";
import { DeviceConfig } from "../../core/config.js";
import { Diagnostics } from "../../core/diagnostics.js";
import { Command, LinkEvent, Outbound, Status } from "../../core/link.js";
import { observe, diagnosticsMessage } from "../../core/observe.js";
import { Storage } from "../../core/ports.js";
import { runner, Runner } from "../runner.js";
import { CoreEngine } from "./engine.js";
import { NodeTimers } from "./timers.js";
import { NodeTransport, TransportOptions } from "./transport.js";

export interface ShellObserver {
  /** every event handed to the core, before it is handled */
  event?(e: LinkEvent, nowMs: number): void;
  /** every command the core returned, before it is run */
  command?(c: Command, nowMs: number): void;
  /**
   * an exception caught at the edge: where = "stepFailed" (the engine threw), "exception" (a
   * command or its platform call threw), or "observer.event" / "observer.command"
   */
  fault?(where: string, detail: string): void;
}

export interface ShellOptions extends TransportOptions {
  engine: CoreEngine;
  cfg: DeviceConfig;
  /** default: a fresh ring (capacity 64) that redacts the configured key or token */
  diagnostics?: Diagnostics;
  /** the persisted record: receives the core's `persist`, read at start; default: none kept */
  storage?: Storage;
  /** monotonic ms; default performance.now() */
  nowMs?: () => number;
  /** wall-clock seconds for SAS expiry; default Date.now() / 1000 */
  epochSec?: () => number;
  observer?: ShellObserver;
}

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
  private readonly now: () => number;
  private readonly observer: ShellObserver;
  private readonly runner: Runner;
  private disposed = false;
  private lastStatus: Status | null = null;
  /** transportClosed events fed to the core, per generation (tests check: exactly one per open) */
  readonly closedPerGen: { [gen: string]: number } = {};

  constructor(o: ShellOptions) {
    const engine = (this.engine = o.engine);
    const now = (this.now = o.nowMs || defaultNow);
    const epoch = o.epochSec || defaultEpoch;
    this.observer = o.observer || {};
    this.diagnostics = o.diagnostics || new Diagnostics({ capacity: 64, secrets: secretsOf(o.cfg) });
    this.transport = new NodeTransport({ ca: o.ca, address: o.address });
    this.runner = runner({
      // the engine, seen first by the observers; nothing reaches it once the shell is disposed
      engine: { handle: (e: LinkEvent, t: number) => this.disposed ? [] : (this.onEvent(e, t), engine.handle(e, t)) },
      transport: this.transport,
      timers: this.timers,
      clock: { nowMs: now, epochSec: epoch },
      storage: o.storage,
      app: { onStatus: (st) => { this.lastStatus = st; } },
      onCommand: (c, t) => this.onCommand(c, t),
      onFault: (code, text) => this.fault(code.slice("shell.".length), text),
    });
  }

  private onEvent(e: LinkEvent, t: number): void {
    if (e.type === "transportClosed") {
      const k = String(e.gen);
      this.closedPerGen[k] = (this.closedPerGen[k] || 0) + 1;
    }
    if (this.observer.event) this.guard("observer.event", () => this.observer.event!(e, t));
  }

  private onCommand(c: Command, t: number): void {
    if (this.observer.command) this.guard("observer.command", () => this.observer.command!(c, t));
    // the ring and counters mean the same on every target: core/observe.ts reads the commands
    observe(this.diagnostics, c, t);
  }

  /** Starts the link (with the persisted record, if the storage has one). */
  start(seed?: number): void {
    this.runner.start(seed);
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
    if (!this.disposed) this.runner.post(e);
  }

  private guard(where: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.fault(where, e instanceof Error ? e.message : String(e));
    }
  }

  private fault(where: string, text: string): void {
    const detail = this.diagnostics.clean(text.split("\n")[0]);
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
