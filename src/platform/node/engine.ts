// The core behind an interface, so a shell can drive either the core compiled for Node or
// the same core running inside another engine (XS: src/host/xs/engine.ts; src/host/engine.ts picks one).
// An engine is the link state plus `step`: it holds no decisions of its own either.

import { createHmac } from "node:crypto";
import { DeviceConfig } from "../../core/config.js";
import { Command, createLink, LinkEvent, LinkState, step } from "../../core/link.js";

export interface EngineSnapshot { kind: string; code: string; attempt: number; gen: number }

export interface CoreEngine {
  /** one step of the core: the commands to run, in order */
  handle(e: LinkEvent, nowMs: number): Command[];
  snapshot(): EngineSnapshot;
  dispose(): void;
}

/** node:crypto's HMAC-SHA256, in the shape the core takes (a platform may supply a native one). */
export function nodeHmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(msg).digest());
}

/**
 * Where the Node platform allocates encoded packets: Node's Buffer pool (slabs of 8 KB), as
 * node's own socket code and mqtt-packet do. A fresh `new Uint8Array` per packet costs more
 * on V8 than encoding the packet (bench/RESULTS.md). Devices keep the core's default.
 */
export function nodeAlloc(n: number): Uint8Array {
  return Buffer.allocUnsafe(n);
}

/** The core compiled for Node, with node:crypto's HMAC and the Buffer pool for packets. */
export function createNodeEngine(cfg: DeviceConfig, seed: number): CoreEngine {
  let s: LinkState = createLink(cfg, nodeHmac, seed, nodeAlloc);
  let disposed = false;
  return {
    handle(e: LinkEvent, nowMs: number): Command[] {
      if (disposed) return [];
      const r = step(s, e, nowMs);
      s = r.state;
      return r.commands;
    },
    snapshot(): EngineSnapshot {
      return { kind: s.kind, code: s.code, attempt: s.attempt, gen: s.gen };
    },
    dispose(): void {
      disposed = true;
    },
  };
}
