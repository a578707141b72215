// The engine a desktop device runs its core on: the core compiled for Node, or the same core
// inside the real XS engine (xs/engine.ts, through xsnap). `linkguard sim --engine` and
// `linkguard device --engine` choose; both engines take the same events and give the same commands.

import { DeviceConfig } from "../core/config.js";
import { CoreEngine, createNodeEngine } from "../platform/node/engine.js";
import { createXsEngine } from "./xs/engine.js";
import { xsnapWorkerPath } from "./xs/worker.js";

export type EngineKind = "node" | "xs";
export const ENGINE_KINDS: readonly EngineKind[] = Object.freeze(["node", "xs"] as EngineKind[]);

/** Thrown by loadEngine when an engine is not installed on this machine. */
export class EngineUnavailable extends Error {}

/** An engine of the given kind; the XS engine needs @agoric/xsnap's worker (built by npm ci). */
export async function loadEngine(kind: EngineKind, cfg: DeviceConfig, seed: number): Promise<CoreEngine> {
  if (kind === "node") return createNodeEngine(cfg, seed);
  try {
    xsnapWorkerPath();
  } catch (e) {
    throw new EngineUnavailable("the XS engine is not installed here (" + String((e as Error).message).split("\n")[0] + "); use --engine node");
  }
  return createXsEngine(cfg, seed);
}
