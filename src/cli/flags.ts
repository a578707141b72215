// The command line's flags: util.parseArgs made strict, numbers in a range, the engine to run
// the core on; each mistake a UsageError that names the flag (the commands exit 2 on it).

import { parseArgs } from "node:util";
import { ENGINE_KINDS, EngineKind } from "../host/engine.js";

export class UsageError extends Error {}

/** A number flag: integer or not, in [min, max]; a clear message otherwise. */
export function numberFlag(name: string, v: string | undefined, dflt: number, min: number, max: number, integer: boolean): number {
  if (v === undefined) return dflt;
  const t = v.trim();
  const x = t === "" ? NaN : Number(t);
  if (!Number.isFinite(x)) throw new UsageError(`--${name}: "${v}" is not a number`);
  if (integer && Math.floor(x) !== x) throw new UsageError(`--${name}: "${v}" must be an integer`);
  if (x < min || x > max) throw new UsageError(`--${name}: ${v} is out of range ${min}..${max}`);
  return x;
}

export function engineFlag(v: string | undefined): EngineKind {
  if (v === undefined) return "node";
  if ((ENGINE_KINDS as readonly string[]).indexOf(v) < 0) throw new UsageError(`--engine: "${v}" is not one of ${ENGINE_KINDS.join(", ")}`);
  return v as EngineKind;
}

/** util.parseArgs, strict, its errors turned into UsageError with the flag named. */
export function parseFlags(argv: string[], options: { [name: string]: { type: "string" | "boolean"; short?: string } }): { [name: string]: string | boolean | undefined } {
  try {
    const r = parseArgs({ args: argv, options: options, strict: true, allowPositionals: false });
    return r.values as { [name: string]: string | boolean | undefined };
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/, ""));
  }
}
