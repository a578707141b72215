// One simulated device: the real core (through a CoreEngine), the node shell, a real socket
// to a hub, and QoS 1 telemetry at a rate. Each payload carries a unique message id, so the
// runner can count exactly (DESIGN.md, simulation report):
//   sent            messages accepted from the application (publish events given to the core)
//   acknowledged    the core reported `acked` (QoS 1: the hub's PUBACK)
//   droppedByPolicy the core reported `dropped` (the configured overflow policy, or too large)
//   receivedByHub   distinct ids the hub received;  duplicates: receptions beyond the first
//   lost            sent, not dropped by policy, never received by the hub

import { DeviceConfig } from "../core/config.js";
import { Command, Status } from "../core/link.js";
import { explain } from "../core/reasons.js";
import { Storage } from "../core/ports.js";
import { CoreEngine } from "../platform/node/engine.js";
import { NodeShell } from "../platform/node/shell.js";
import { MemoryStorage } from "../platform/node/storage.js";
import { delayStats, DelayStats, reconnectDelays, TimelineEntry } from "./timeline.js";

export interface DeviceOptions {
  cfg: DeviceConfig;
  engine: CoreEngine;
  /** trusted CA (PEM); default Node's roots */
  ca?: string | Buffer;
  /** dial this address instead of resolving cfg.host */
  address?: string;
  /** telemetry messages per second; 0 for none; default 1 */
  ratePerS?: number;
  /** QoS of telemetry; default 1 */
  qos?: 0 | 1;
  /** performance.now() of the run's start: timeline times are relative to it; default: now */
  t0Ms?: number;
  /** seed for the core's backoff jitter */
  seed?: number;
  storage?: Storage;
  onTimeline?: (e: TimelineEntry) => void;
  /** the core's `log` commands */
  onLog?: (atMs: number, code: string, text: string) => void;
  /** every command (tests) */
  onCommand?: (c: Command, atMs: number) => void;
}

export interface TelemetryCounts {
  sent: number;
  acknowledged: number;
  droppedByPolicy: number;
  /** accepted and neither acknowledged nor dropped yet */
  pending: number;
}

export interface HubCounts { receivedByHub: number; duplicates: number; lost: number }

export interface DeviceLinkReport {
  deviceId: string;
  state: string;
  code: string;
  connects: number;
  connectAttempts: number;
  drops: { [code: string]: number };
  suspectedDuplicates: number;
  reconnectDelayMs: DelayStats;
  connectedMs: number;
  telemetry: TelemetryCounts;
  lastError: { atMs: number; code: number | string; reason: string } | null;
}

/** The payload's message id: "{deviceId}#{n}". */
const ID_RE = /"id":"([^"]*)#(\d+)"/;

export function payloadOf(deviceId: string, n: number, atMs: number): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify({ id: deviceId + "#" + n, t: atMs }), "utf8"));
}

/** The message number a payload carries for this device, or -1. */
export function messageNumber(deviceId: string, payload: Uint8Array): number {
  const m = ID_RE.exec(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8"));
  return m && m[1] === deviceId ? Number(m[2]) : -1;
}

export class SimDevice {
  readonly id: string;
  readonly cfg: DeviceConfig;
  readonly shell: NodeShell;
  readonly timeline: TimelineEntry[] = [];
  readonly t0Ms: number;
  private readonly ratePerS: number;
  private readonly qos: 0 | 1;
  private readonly o: DeviceOptions;
  private telemetryTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private readonly acked = new Set<number>();
  private readonly dropped = new Set<number>();
  private stateNow = "idle";
  private status: Status | null = null;
  private idleWaiters: Array<() => void> = [];
  /** openTransport commands and transportClosed events, for the one-close-per-open check */
  opens = 0;
  closes = 0;

  constructor(o: DeviceOptions) {
    this.o = o;
    this.cfg = o.cfg;
    this.id = o.cfg.deviceId;
    this.ratePerS = o.ratePerS === undefined ? 1 : o.ratePerS;
    this.qos = o.qos === undefined ? 1 : o.qos;
    this.t0Ms = o.t0Ms === undefined ? Math.floor(performance.now()) : o.t0Ms;
    this.shell = new NodeShell({
      engine: o.engine,
      cfg: o.cfg,
      ca: o.ca,
      address: o.address,
      storage: o.storage || new MemoryStorage(),
      observer: {
        command: (c, t) => this.onCommand(c, t),
        event: (e) => { if (e.type === "transportClosed") this.closes++; },
      },
    });
  }

  /** ms since the run's start */
  rel(t: number): number {
    return t - this.t0Ms;
  }

  start(): void {
    this.shell.start(this.o.seed);
    if (this.ratePerS > 0) {
      const every = Math.max(1, Math.round(1000 / this.ratePerS));
      this.telemetryTimer = setInterval(() => this.publishOne(), every);
    }
  }

  /** Hands one telemetry message to the core (it queues it while the link is down). */
  publishOne(): void {
    const n = this.nextId++;
    this.shell.publish({ id: n, payload: payloadOf(this.id, n, this.rel(this.shell.nowMs())), qos: this.qos });
  }

  stopTelemetry(): void {
    if (this.telemetryTimer) clearInterval(this.telemetryTimer);
    this.telemetryTimer = null;
  }

  state(): string {
    return this.stateNow;
  }

  lastStatus(): Status | null {
    return this.status;
  }

  /** accepted and neither acknowledged nor dropped */
  pending(): number {
    return this.nextId - 1 - this.acked.size - this.dropped.size;
  }

  /** connected with nothing outstanding, or halted: nothing more will change by waiting */
  settled(): boolean {
    return (this.stateNow === "connected" && this.pending() === 0) || this.stateNow === "halted";
  }

  private onCommand(c: Command, t: number): void {
    if (this.o.onCommand) this.o.onCommand(c, this.rel(t));
    switch (c.type) {
      case "openTransport":
        this.opens++;
        return;
      case "notify": {
        const s = c.status;
        this.stateNow = s.state;
        this.status = s;
        const e: TimelineEntry = { atMs: this.rel(t), deviceId: this.id, state: s.state, code: s.code, text: explain(s.code, s.text), attempt: s.attempt, gen: s.gen };
        if (s.delayMs !== undefined) e.delayMs = s.delayMs;
        this.timeline.push(e);
        if (this.o.onTimeline) this.o.onTimeline(e);
        if (s.state === "idle" || s.state === "halted") {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (let i = 0; i < w.length; i++) w[i]();
        }
        return;
      }
      case "acked":
        this.acked.add(c.id);
        return;
      case "dropped":
        this.dropped.add(c.id);
        return;
      case "log":
        if (this.o.onLog) this.o.onLog(this.rel(t), c.code, c.text);
        return;
      default:
        return;
    }
  }

  counts(): TelemetryCounts {
    return { sent: this.nextId - 1, acknowledged: this.acked.size, droppedByPolicy: this.dropped.size, pending: this.pending() };
  }

  /** Reconciles with what the hub received (its payloads, in order). */
  hubCounts(received: ReadonlyArray<{ payload: Uint8Array }>): HubCounts {
    const seen = new Set<number>();
    let dup = 0;
    for (let i = 0; i < received.length; i++) {
      const n = messageNumber(this.id, received[i].payload);
      if (n < 1) continue;
      if (seen.has(n)) dup++;
      else seen.add(n);
    }
    let lost = 0;
    for (let n = 1; n < this.nextId; n++) if (!this.dropped.has(n) && !seen.has(n)) lost++;
    return { receivedByHub: seen.size, duplicates: dup, lost: lost };
  }

  reconnectDelays(): number[] {
    return reconnectDelays(this.timeline);
  }

  report(): DeviceLinkReport {
    const c = this.shell.diagnostics.counters(this.shell.nowMs());
    const snap = this.status;
    return {
      deviceId: this.id,
      state: this.stateNow,
      code: snap ? snap.code : "idle",
      connects: c.connects,
      connectAttempts: c.connectAttempts,
      drops: c.drops,
      suspectedDuplicates: c.suspectedDuplicates,
      reconnectDelayMs: delayStats(this.reconnectDelays()),
      connectedMs: c.connectedMs,
      telemetry: this.counts(),
      lastError: c.lastError === null ? null : { atMs: this.rel(c.lastError.atMs), code: c.lastError.code, reason: c.lastError.reason },
    };
  }

  /**
   * Stops the link (a clean DISCONNECT when connected) and waits until the core is idle and
   * the transport confirmed its close, then releases the shell. After timeoutMs it just disposes.
   */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopTelemetry();
    if (this.stateNow !== "idle") {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idleWaiters.push(() => { clearTimeout(t); resolve(); });
        this.shell.stop();
        if (this.stateNow === "idle") { clearTimeout(t); resolve(); }
      });
    }
    // the socket's 'close' may trail the core's idle by a tick
    for (let i = 0; i < 50 && this.shell.transport.aliveCount() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    this.shell.dispose();
  }
}

/** Resolves when `pred` holds (checked every `everyMs`), rejects after `timeoutMs` naming `what`. */
export function waitFor(pred: () => boolean, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = (): void => {
      let ok = false;
      try { ok = pred(); } catch (e) { reject(e); return; }
      if (ok) { resolve(); return; }
      if (Date.now() - t0 >= timeoutMs) { reject(new Error("timed out after " + timeoutMs + " ms waiting for " + what)); return; }
      setTimeout(check, everyMs);
    };
    check();
  });
}
