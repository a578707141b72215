import { test } from "node:test";
import assert from "node:assert/strict";
import { nextDelay, ceilingMs, fleetWindowMs } from "../../src/core/backoff.js";
import { BackoffConfig } from "../../src/core/config.js";
import { nextRng, rngUnit, seedFrom, seedRng } from "../../src/core/rand.js";

const B: BackoffConfig = { jitter: "full", baseMs: 1000, factor: 2, capMs: 60000, floorMs: 0, stableMs: 30000 };

function draws(n: number, seed: number): number[] {
  const out: number[] = [];
  let x = seedRng(seed);
  for (let i = 0; i < n; i++) { x = nextRng(x); out.push(rngUnit(x)); }
  return out;
}

function mean(a: number[]): number { return a.reduce((s, v) => s + v, 0) / a.length; }

test("the seeded generator is uniform enough: mean 0.5, each decile near 10%", () => {
  const u = draws(100000, 5);
  assert.ok(Math.abs(mean(u) - 0.5) < 0.01);
  const bins = new Array(10).fill(0);
  for (const v of u) { assert.ok(v >= 0 && v < 1); bins[Math.floor(v * 10)]++; }
  for (const b of bins) assert.ok(Math.abs(b - 10000) < 500, `decile count ${b}`);
});

test("the ceiling is min(cap, base * factor^attempt)", () => {
  assert.equal(ceilingMs(B, 0), 1000);
  assert.equal(ceilingMs(B, 3), 8000);
  assert.equal(ceilingMs(B, 6), 60000);
  assert.equal(ceilingMs(B, 50), 60000);
});

test("full jitter is uniform on [0, ceiling]: mean ceiling/2, bounds respected", () => {
  for (const attempt of [0, 2, 4]) {
    const d = draws(20000, attempt + 1).map((u) => nextDelay(B, "drop", attempt, 0, u).delayMs);
    const c = ceilingMs(B, attempt);
    assert.ok(Math.min(...d) >= 0 && Math.max(...d) <= c);
    assert.ok(Math.abs(mean(d) - c / 2) < c * 0.02, `mean ${mean(d)} for ceiling ${c}`);
  }
});

test("equal jitter is uniform on [ceiling/2, ceiling]: mean 3/4 ceiling", () => {
  const b = { ...B, jitter: "equal" as const };
  const d = draws(20000, 9).map((u) => nextDelay(b, "drop", 3, 0, u).delayMs);
  assert.ok(Math.min(...d) >= 4000 && Math.max(...d) <= 8000);
  assert.ok(Math.abs(mean(d) - 6000) < 120);
});

test("decorrelated jitter is uniform on [base, min(cap, prev*3)]", () => {
  const b = { ...B, jitter: "decorrelated" as const };
  const d = draws(20000, 4).map((u) => nextDelay(b, "drop", 1, 5000, u));
  assert.ok(d.every((x) => x.delayMs >= 1000 && x.delayMs <= 15000 && x.hiMs === 15000));
  assert.ok(Math.abs(mean(d.map((x) => x.delayMs)) - 8000) < 160);
  // the window grows from the previous top and stops at the cap
  assert.equal(nextDelay(b, "drop", 5, 50000, 0.5).hiMs, 60000);
});

test("no delay ever falls under the floor or over the cap, in every mode and kind", () => {
  for (const jitter of ["full", "equal", "decorrelated"] as const) {
    for (const kind of ["drop", "throttled", "long", "planned"] as const) {
      const b = { ...B, jitter, floorMs: 2000, capMs: 30000 };
      let prev = 0;
      const u = draws(5000, 3);
      for (let i = 0; i < u.length; i++) {
        const d = nextDelay(b, kind, i % 12, prev, u[i]);
        prev = d.hiMs;
        assert.ok(d.delayMs >= 2000 && d.delayMs <= 30000, `${jitter}/${kind}: ${d.delayMs}`);
      }
    }
  }
});

test("the floor lifts the window instead of piling delays on it", () => {
  const b = { ...B, jitter: "full" as const, floorMs: 2000 };
  const d = draws(20000, 8).map((u) => nextDelay(b, "drop", 0, 0, u).delayMs);
  const atFloor = d.filter((x) => x === 2000).length;
  assert.ok(atFloor < 100, `${atFloor} of 20000 delays sit exactly on the floor`);
  assert.ok(Math.abs(mean(d) - 2500) < 50, `mean ${mean(d)}`); // [2000, 3000]
});

test("throttled waits are wider than drops and at least the fleet window when the fleet is known", () => {
  const drop = nextDelay(B, "drop", 0, 0, 0.99).delayMs;
  const thr = nextDelay(B, "throttled", 0, 0, 0.99).delayMs;
  assert.ok(thr > drop);
  const fleet = { ...B, fleet: { devices: 10000, admitPerS: 100 } };
  assert.equal(fleetWindowMs(fleet), 100000);
  const t = nextDelay({ ...fleet, capMs: 300000 }, "throttled", 3, 0, 0.0);
  assert.ok(t.hiMs >= 100000 && t.delayMs >= 50000);
});

test("fleet-aware first retry spreads over devices / admission rate", () => {
  const b = { ...B, jitter: "decorrelated" as const, floorMs: 1000, capMs: 120000, fleet: { devices: 10000, admitPerS: 100 } };
  const d = draws(20000, 2).map((u) => nextDelay(b, "drop", 0, 0, u).delayMs);
  assert.ok(Math.min(...d) >= 1000 && Math.max(...d) <= 101000);
  assert.ok(Math.abs(mean(d) - 51000) < 1500, `mean ${mean(d)}`);
});

test("long waits stay in the top half of the cap; planned waits sit just above the floor", () => {
  const b = { ...B, floorMs: 1000 };
  for (const u of draws(1000, 6)) {
    const l = nextDelay(b, "long", 0, 0, u).delayMs;
    assert.ok(l >= 30000 && l <= 60000);
    const p = nextDelay(b, "planned", 7, 0, u).delayMs;
    assert.ok(p >= 1000 && p <= 2000);
  }
});

test("the 32-bit multiply of seedRng matches Math.imul", async () => {
  // seedRng scrambles with murmur3's finaliser; check it against a Math.imul reference.
  const ref = (seed: number) => {
    let x = (seed | 0) ^ 0x9e3779b9;
    x ^= x >>> 16; x = Math.imul(x, 0x85ebca6b); x ^= x >>> 13; x = Math.imul(x, 0xc2b2ae35); x ^= x >>> 16;
    return x === 0 ? 0x6d2b79f5 : x | 0;
  };
  for (const s of [0, 1, 2, 3, -1, 0x7fffffff, 123456789, -987654321]) assert.equal(seedRng(s), ref(s), `seed ${s}`);
});

test("neighbouring seeds give uncorrelated first draws", () => {
  const first = (s: number) => rngUnit(nextRng(seedRng(s)));
  const xs: number[] = [];
  for (let s = 1; s <= 10000; s++) xs.push(first(s));
  let num = 0, den = 0;
  const m = mean(xs);
  for (let i = 1; i < xs.length; i++) { num += (xs[i] - m) * (xs[i - 1] - m); den += (xs[i] - m) * (xs[i] - m); }
  assert.ok(Math.abs(num / den) < 0.05, `lag-1 correlation ${num / den}`);
  assert.ok(Math.abs(m - 0.5) < 0.02, `mean ${m}`);
});

test("fleet mode: a first refusal retries soon (within W/20 above the floor), a second takes the wide window", () => {
  const b = { ...B, jitter: "decorrelated" as const, floorMs: 2000, capMs: 120000, fleet: { devices: 10000, admitPerS: 100 } };
  for (const u of draws(2000, 12)) {
    const first = nextDelay(b, "throttled", 1, 0, u).delayMs;
    assert.ok(first >= 2000 && first <= 7000, `first refusal ${first}`);
    const second = nextDelay(b, "throttled", 2, 0, u).delayMs;
    assert.ok(second >= 50000 && second <= 120000, `second refusal ${second}`);
  }
});

test("seedFrom: device-unique material gives distinct seeds, and the same material the same seed", () => {
  // what a device shell passes when its RNG is the same on every boot (E.hwRand on Espruino)
  const seen = new Set<number>();
  for (let i = 0; i < 10000; i++) seen.add(seedFrom("dev-" + i + "|1804289383"));
  assert.ok(seen.size >= 9998, `${10000 - seen.size} collisions in 10,000 ids`);
  assert.equal(seedFrom("dev-0001|1804289383"), seedFrom("dev-0001|1804289383"));
  assert.notEqual(seedFrom("dev-0001|1"), seedFrom("dev-0001|2"));
  // neighbouring ids draw unrelated first jitters
  const first = (id: string) => rngUnit(nextRng(seedRng(seedFrom(id + "|1804289383"))));
  const u: number[] = [];
  for (let i = 0; i < 2000; i++) u.push(first("dev-" + String(i).padStart(4, "0")));
  assert.ok(Math.abs(mean(u) - 0.5) < 0.03, `mean first draw ${mean(u)}`);
  assert.ok(Math.abs(first("dev-0001") - first("dev-0002")) > 1e-6);
});
