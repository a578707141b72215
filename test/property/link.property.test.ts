// Property tests: long random event sequences (thousands of steps) keep every invariant.
// The same world model as the exhaustive check, driven by fast-check's choices instead of BFS,
// so the walk reaches deep states (token renewal, stable resets, long backoffs) that BFS cannot.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createLink, step, LinkState, LinkEvent } from "../../src/core/link.js";
import { testConfig } from "../helpers/config.js";
import { apply, enabledEvents, initialWorld, World } from "../model/world.js";

function walk(choices: number[], seed: number, jitter: "full" | "equal" | "decorrelated", stepFn?: typeof step): string | null {
  const cfg = testConfig();
  cfg.backoff = { ...cfg.backoff, jitter };
  let s: LinkState = createLink(cfg, undefined, seed);
  let w: World = initialWorld();
  const labels: string[] = [];
  for (const c of choices) {
    const ev = enabledEvents(s, w, true);
    // Bias towards time passing (timers) so that the walk gets somewhere.
    const timers = ev.filter((e) => e.event.type === "timerFired");
    const pick = c % 4 === 0 && timers.length > 0 ? timers[(c >> 2) % timers.length] : ev[(c >> 2) % ev.length];
    labels.push(pick.label);
    const o = apply(s, w, pick, stepFn);
    if (o.violation) return `${o.violation} after ${labels.length} steps; last events: ${labels.slice(-12).join(" -> ")}`;
    s = o.state;
    w = o.world;
  }
  return null;
}

test("random walks of 2000 events keep every invariant (each jitter mode)", () => {
  for (const jitter of ["full", "equal", "decorrelated"] as const) {
    fc.assert(
      fc.property(fc.array(fc.nat(1 << 20), { minLength: 2000, maxLength: 2000 }), fc.integer(), (choices, seed) => {
        const v = walk(choices, seed, jitter);
        if (v) throw new Error(v);
      }),
      { numRuns: 40, seed: 20261123 },
    );
  }
});

/** The last violation that `runs` seeded walks of `steps` events finds with a broken step, or null. */
function violationFound(broken: typeof step, o: { steps: number; runs: number; fcSeed: number; linkSeed: number; jitter: "full" | "decorrelated" }): string | null {
  let caught: string | null = null;
  fc.assert(
    fc.property(fc.array(fc.nat(1 << 20), { minLength: o.steps, maxLength: o.steps }), (choices) => {
      const v = walk(choices, o.linkSeed, o.jitter, broken);
      if (v) caught = v;
      return true;
    }),
    { numRuns: o.runs, seed: o.fcSeed },
  );
  return caught;
}

test("the checker is honest: a link that reconnects at once after a remote close is caught", () => {
  // A deliberately broken link: on a remote close it opens a new transport in the same step.
  const broken: typeof step = (s: LinkState, e: LinkEvent, now: number) => {
    const r = step(s, e, now);
    if (e.type === "transportClosed" && e.cause === "remote" && r.state.kind === "waiting") {
      return { state: r.state, commands: r.commands.concat([{ type: "openTransport", gen: r.state.gen + 1, host: "h", port: 1, tls: true }]) };
    }
    return r;
  };
  const caught = violationFound(broken, { steps: 300, runs: 50, fcSeed: 7, linkSeed: 1, jitter: "decorrelated" });
  assert.ok(caught, "no walk found the broken reconnect");
  assert.match(caught!, /inv3|inv1/);
});

test("the checker is honest: a link that resets its attempt counter on CONNACK is caught", () => {
  const broken: typeof step = (s, e, now) => {
    const r = step(s, e, now);
    if (r.state.kind === "connected" && s.kind === "handshaking") return { state: { ...r.state, attempt: 0 }, commands: r.commands };
    return r;
  };
  const caught = violationFound(broken, { steps: 400, runs: 50, fcSeed: 11, linkSeed: 3, jitter: "full" });
  assert.ok(caught, "no walk found the early reset");
  assert.match(caught!, /inv8/);
});
