import type { CloseCause, LinkState, Persisted, Status, TimerKind } from "./link.js";

// The interfaces a platform implements. The core never calls them: it returns commands (see
// link.ts); the one runner (src/platform/runner.ts) runs them through these ports and feeds
// back, as events, what the ports report. An adapter reports facts, never verdicts: which close
// halts and which retries is decided in the core alone, for every platform.
//
// Implemented by: src/platform/node (NodeTransport, NodeTimers, MemoryStorage, FileStorage),
// src/platform/moddable/shell.ts and src/platform/espruino/shell.ts. Each adapter says above its
// transport what its platform lets it observe and what it does not.

/** Monotonic milliseconds (integer). */
export interface Clock { nowMs(): number }

/** Wall-clock seconds since the Unix epoch, for SAS token expiry; may be wrong before time sync. */
export interface WallClock { epochSec(): number }

/**
 * What a port reports, in the core's own vocabulary (LinkEvent): a transport's news about the
 * generation it was opened with, or a timer's expiry. A port reports facts, never verdicts.
 * transportOpened carries no wall clock: the runner stamps epochSec on it (one clock, every port).
 */
export type PortEvent =
  | { type: "transportOpened"; gen: number }
  | { type: "transportData"; gen: number; bytes: Uint8Array }
  /**
   * At most once per open, and only once the platform said the connection is gone (or never
   * existed: an open that failed). The cause is closeCause(seen, tls) (src/platform/runner.ts) of
   * what was observed.
   */
  | { type: "transportClosed"; gen: number; cause: CloseCause; detail?: string }
  /**
   * close(gen) was asked again and the platform has no stronger means than the one already
   * tried, or the means threw: no close was seen and none can be forced. Never a guess at a close.
   */
  | { type: "transportCloseFailed"; gen: number; detail?: string }
  | { type: "timerFired"; kind: TimerKind };

/**
 * Where a port reports (the runner's post): one function for every port, so a device carries
 * one function object for it, not one per kind of news. Never called from inside the port
 * call that caused the news (open, write, close, start): always from a later turn.
 */
export type Report = (e: PortEvent) => void;

export interface Timers {
  /** at most one pending timer per kind: starting a kind again replaces it; reports timerFired once */
  start(kind: TimerKind, ms: number, report: Report): void;
  cancel(kind: TimerKind): void;
}

/**
 * One connection at a time, named by the core's generation (invariant 4): calls and reports
 * for any other generation are ignored. Never throws for a platform failure: it reports it.
 * Like coreMQTT's transport_interface.h: open, send, close, and nothing else.
 */
export interface Transport {
  /** reports transportOpened, transportData and transportClosed (or transportCloseFailed) of `gen`, never from inside this call */
  open(gen: number, host: string, port: number, tls: boolean, report: Report): void;
  write(gen: number, bytes: Uint8Array): void;
  /** asks the platform to close; transportClosed (cause "local") confirms it once the platform says so */
  close(gen: number): void;
}

/** The persisted record (backoff attempt, last error), across reboots. */
export interface Storage {
  /** undefined when nothing (or nothing readable) is stored; never throws */
  load(): Persisted | undefined;
  /** may skip a write that changes nothing (flash wear) */
  save(data: Persisted): void;
}

// Seed material: each device shell mixes what differs between devices and boots (device id,
// MAC, hardware RNG, clock) into the backoff's jitter seed with seedFrom (rand.ts), because a
// hardware RNG alone is a fixed sequence on some builds (ENGINES.md).

/** What the application hears from a device shell (Moddable, Espruino). */
export interface LinkCallbacks {
  onStatus?: (s: Status) => void;
  onLog?: (code: string, text: string) => void;
  /** QoS 1: the hub acknowledged message `id`; QoS 0: it was written */
  onAcked?: (id: number) => void;
  onDropped?: (id: number, why: string) => void;
  onMessage?: (topic: string, payload: Uint8Array, properties: { [k: string]: string } | null) => void;
}

/**
 * A device shell's handle on its link. Its methods read the link through `this` (one function
 * object for every link, not a closure each): call them as methods, `link.start()`.
 */
export interface DeviceLink {
  /** queue a telemetry message; returns its id (onAcked / onDropped name it) */
  publish(payload: Uint8Array, qos: 0 | 1, properties?: { [k: string]: string }): number;
  start(): void;
  stop(): void;
  state(): LinkState;
}
