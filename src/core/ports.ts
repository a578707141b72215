import type { LinkState, Status } from "./link.js";

// The interfaces a platform shell implements. The core never calls them: it returns
// commands (see link.ts) and a shell executes them through these ports.

/** Monotonic milliseconds (integer). */
export interface Clock { nowMs(): number }

/** Wall-clock seconds since the Unix epoch, for SAS token expiry; may be wrong before time sync. */
export interface WallClock { epochSec(): number }

/** Uniform in [0, 1). Seeded in tests and simulations, a hardware RNG on devices. */
export interface Random { next(): number }

export interface Timers {
  /** at most one pending timer per kind: starting a kind again replaces it */
  start(kind: string, ms: number, fire: () => void): void;
  cancel(kind: string): void;
}

export interface TransportHandlers {
  opened(): void;
  data(bytes: Uint8Array): void;
  /** called exactly once per open, after the socket is gone */
  closed(reason: string): void;
}

export interface Transport {
  open(host: string, port: number, handlers: TransportHandlers): void;
  write(bytes: Uint8Array): void;
  close(): void;
}

/** small persisted key/values (JSON strings) */
export interface Storage {
  load(key: string): string | null;
  save(key: string, value: string): void;
}

/** What the application hears from a device shell (Moddable, Espruino). */
export interface LinkCallbacks {
  onStatus?: (s: Status) => void;
  onLog?: (code: string, text: string) => void;
  /** QoS 1: the hub acknowledged message `id`; QoS 0: it was written */
  onAcked?: (id: number) => void;
  onDropped?: (id: number, why: string) => void;
  onMessage?: (topic: string, payload: Uint8Array, properties: { [k: string]: string } | null) => void;
}

/** A device shell's handle on its link. */
export interface DeviceLink {
  /** queue a telemetry message; returns its id (onAcked / onDropped name it) */
  publish(payload: Uint8Array, qos: 0 | 1, properties?: { [k: string]: string }): number;
  start(): void;
  stop(): void;
  state(): LinkState;
}
