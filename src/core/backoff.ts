// Jittered exponential backoff, pure. Randomness comes in as a uniform draw `u` in [0, 1)
// (see rand.ts for the seeded generator the link keeps in its state).
//
// Every mode defines a window [lo, hi] and the delay is lo + u * (hi - lo), after the
// window has been lifted to the floor: lifting the window (rather than clamping the
// delay) keeps the draw uniform, so a fleet does not pile up exactly on the floor.
//
//   ceiling d = min(cap, base * factor^attempt)
//   full          [0, d]                      (FreeRTOS backoffAlgorithm, AWS "full jitter")
//   equal         [d/2, d]
//   decorrelated  [base, min(cap, prev * 3)]  (AWS "decorrelated jitter"; prev starts at base)
//
// With a known fleet (devices, admitPerS), the first retry spreads over the fleet window
// W = devices / admitPerS, and a first refusal (CONNACK 3) retries within W / 20.

import { BackoffConfig } from "./config.js";

/** Why the link is waiting: it selects the window. */
export type WaitKind =
  | "drop"       // an unplanned drop or failed attempt: the policy's window
  | "throttled"  // CONNACK 3 or a 429: a wider window, at least the fleet window
  | "long"       // auth failure or suspected duplicate identity: stay near the cap
  | "planned";   // token renewal after a clean DISCONNECT: the floor plus a little jitter

export interface Delay {
  delayMs: number;
  /** the window's upper bound, kept as `prev` for the decorrelated mode */
  hiMs: number;
}

/** The ceiling for an attempt: min(cap, base * factor^attempt), without `**` (Espruino lacks it). */
export function ceilingMs(b: BackoffConfig, attempt: number): number {
  let d = b.baseMs;
  for (let i = 0; i < attempt && d < b.capMs; i++) d = d * b.factor;
  return d < b.capMs ? d : b.capMs;
}

/**
 * The fleet window in ms: the span over which `devices` reconnects must be spread so that
 * devices / window stays under the hub's admission rate. 0 when the fleet is unknown.
 */
export function fleetWindowMs(b: BackoffConfig): number {
  if (!b.fleet || b.fleet.admitPerS <= 0) return 0;
  return Math.ceil((b.fleet.devices / b.fleet.admitPerS) * 1000);
}

/**
 * The next delay. `attempt` counts failed attempts since the link was last stable (0 for the
 * first retry), `prevHiMs` is the previous window's top (0 if none), `u` a uniform draw in [0, 1).
 */
export function nextDelay(b: BackoffConfig, kind: WaitKind, attempt: number, prevHiMs: number, u: number): Delay {
  const fleet = fleetWindowMs(b);
  let lo: number;
  let hi: number;
  if (kind === "planned") {
    lo = 0;
    hi = b.baseMs;
  } else if (kind === "long") {
    lo = b.capMs / 2;
    hi = b.capMs;
  } else if (fleet > 0 && attempt === 0) {
    // Fleet-aware first retry: spread the whole fleet over its admission window.
    lo = 0;
    hi = fleet;
  } else if (b.jitter === "full") {
    lo = 0;
    hi = ceilingMs(b, attempt);
  } else if (b.jitter === "equal") {
    hi = ceilingMs(b, attempt);
    lo = hi / 2;
  } else {
    const prev = prevHiMs > 0 ? prevHiMs : b.baseMs;
    lo = b.baseMs;
    hi = prev * 3 < b.capMs ? prev * 3 : b.capMs;
    if (hi < lo) hi = lo;
  }
  if (kind === "throttled" && fleet > 0 && attempt === 1) {
    // Fleet mode, first refusal: the fleet window already spreads the fleet at the hub's
    // admission rate, so a refusal means a momentary burst. Retry soon, into the spare
    // capacity just behind it, instead of sleeping a whole window (bench: 100% of 10,000
    // devices back in ~102 s instead of ~190 s). A second refusal takes the wide window below.
    lo = 0;
    hi = Math.ceil(fleet / 20);
  } else if (kind === "throttled") {
    // The hub said it is overloaded: never come back inside the previous window, and
    // never sooner than the fleet window when the fleet size is known.
    const wide = ceilingMs(b, attempt + 3);
    if (hi < wide) hi = wide;
    if (fleet > 0 && hi < fleet) hi = fleet;
    if (lo < hi / 2) lo = hi / 2;
  }
  // Lift the window to the floor (never below it), then draw.
  if (lo < b.floorMs) {
    hi = hi + (b.floorMs - lo);
    lo = b.floorMs;
  }
  const top = b.capMs > b.floorMs ? b.capMs : b.floorMs;
  if (hi > top) hi = top;
  if (lo > hi) lo = hi;
  const delay = Math.floor(lo + u * (hi - lo));
  return { delayMs: delay < b.floorMs ? b.floorMs : delay, hiMs: hi };
}
