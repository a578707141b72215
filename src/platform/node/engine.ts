// The core behind an interface, so a shell can drive either the core compiled for Node or
// the same core running inside another engine (XS, via src/platform/xs/engine.ts).
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

export type EngineKind = "node" | "xs";
export const ENGINE_KINDS: readonly EngineKind[] = Object.freeze(["node", "xs"] as EngineKind[]);

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

/** Thrown by loadEngine when an engine is not built into this checkout. */
export class EngineUnavailable extends Error {}

// A variable specifier: the XS engine lands separately, and its absence must not break the build.
const XS_ENGINE_MODULE = "../xs/engine.js";

/** An engine of the given kind. The XS engine is loaded on demand. */
export async function loadEngine(kind: EngineKind, cfg: DeviceConfig, seed: number): Promise<CoreEngine> {
  if (kind === "node") return createNodeEngine(cfg, seed);
  let mod: { createXsEngine?: (cfg: DeviceConfig, seed: number) => Promise<CoreEngine> };
  try {
    mod = await import(XS_ENGINE_MODULE);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).indexOf("xs/engine") >= 0;
    throw new EngineUnavailable(missing
      ? "the XS engine (src/platform/xs/engine.ts) is not in this build yet; use --engine node"
      : "the XS engine failed to load: " + String(err.message).split("\n")[0]);
  }
  if (typeof mod.createXsEngine !== "function") {
    throw new EngineUnavailable("src/platform/xs/engine.js does not export createXsEngine; use --engine node");
  }
  return mod.createXsEngine(cfg, seed);
}
