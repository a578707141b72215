// Exhaustive model check of the link state machine: breadth-first over every interleaving of
// shell events (see world.ts) to a fixed depth, the eight invariants asserted after every step.
// On a violation it prints the shortest event trace that produces it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createLink, LinkState } from "../../src/core/link.js";
import { testConfig } from "../helpers/config.js";
import { apply, enabledEvents, initialWorld, key, World } from "./world.js";

const DEPTH = Number(process.env.LINKGUARD_MODEL_DEPTH || 13);
const MAX_STATES = 2_000_000;

interface Node { s: LinkState; w: World; parent: Node | null; label: string }

function trace(n: Node): string {
  const labels: string[] = [];
  for (let p: Node | null = n; p && p.parent; p = p.parent) labels.push(p.label);
  return labels.reverse().join(" -> ");
}

function check(rich: boolean, depth: number): { states: number; transitions: number; depth: number } {
  const root: Node = { s: createLink(testConfig(), undefined, 42), w: initialWorld(), parent: null, label: "" };
  const seen = new Set<string>([key(root.s, root.w)]);
  let frontier: Node[] = [root];
  let transitions = 0;
  let d = 0;
  for (; d < depth && frontier.length > 0 && seen.size < MAX_STATES; d++) {
    const next: Node[] = [];
    for (const node of frontier) {
      for (const l of enabledEvents(node.s, node.w, rich)) {
        transitions++;
        const o = apply(node.s, node.w, l);
        if (o.violation) {
          assert.fail(`invariant violated: ${o.violation}\n  shortest trace (${d + 1} events): ${trace(node)}${node.parent ? " -> " : ""}${l.label}`);
        }
        const k = key(o.state, o.world);
        if (!seen.has(k)) {
          seen.add(k);
          next.push({ s: o.state, w: o.world, parent: node, label: l.label });
        }
      }
    }
    frontier = next;
  }
  return { states: seen.size, transitions, depth: d };
}

test(`model check: every interleaving to depth ${DEPTH} keeps the eight invariants`, () => {
  const t0 = process.hrtime.bigint();
  const r = check(false, DEPTH);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`model check: ${r.states} states, ${r.transitions} transitions, depth ${r.depth}, 0 violations (${ms.toFixed(0)} ms)`);
  assert.ok(r.depth >= 12, `explored only to depth ${r.depth}`);
  assert.ok(r.states >= 10000, `only ${r.states} states`);
});

test("model check with every CONNACK code, a bad clock and cloud-to-device traffic, depth 10", () => {
  const r = check(true, 10);
  console.log(`model check (rich events): ${r.states} states, ${r.transitions} transitions, depth ${r.depth}, 0 violations`);
  assert.ok(r.states >= 10000, `only ${r.states} states`);
});
