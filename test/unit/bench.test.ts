// The benchmark's smoke version: `linkguard bench --quick` end to end (seconds, not minutes).
// It checks the shape of the DESIGN.md bench object and that every figure is a finite number.
// No timing assertions: figures are measured by src/bench/ (results in bench/), never asserted here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runBench, table, PARTS, BenchReport } from "../../src/bench/suite.js";
import { stormSvg } from "../../src/bench/chart.js";
import { POLICIES } from "../../src/bench/storm.js";

const CODEC_CASES = ["publish-encode", "publish-decode", "connect-encode", "connect-decode", "puback-encode", "puback-decode"];

/** Every number anywhere in x, with its path. */
function numbers(x: unknown, path: string, out: [string, number][]): [string, number][] {
  if (typeof x === "number") out.push([path, x]);
  else if (Array.isArray(x)) x.forEach((v, i) => numbers(v, path + "[" + i + "]", out));
  else if (x !== null && typeof x === "object") for (const k of Object.keys(x)) numbers((x as any)[k], path + "." + k, out);
  return out;
}

function hasNumbers(o: any, keys: string[], where: string): void {
  for (const k of keys) assert.equal(typeof o[k], "number", where + "." + k + " is a number");
}

let report: BenchReport;

test("bench --quick produces the DESIGN.md object with every part", { timeout: 120000 }, async () => {
  report = await runBench({ quick: true, only: PARTS.slice(), seeds: 1, svgFile: null, log: () => {} });
  const r = JSON.parse(JSON.stringify(report)); // what --json prints

  assert.deepEqual(r.codec.map((c: any) => c.case), CODEC_CASES);
  for (const c of r.codec) hasNumbers(c, ["linkguardOpsPerS", "mqttPacketOpsPerS", "ratio"], "codec");

  for (const k of ["espruino", "moddable", "mqttPacket", "mqttjs"]) hasNumbers(r.size[k], ["minBytes", "gzipBytes"], "size." + k);
  hasNumbers(r.xs, ["publishCompute", "receiveCompute", "heapGrowthAfter10kPublishes"], "xs");

  assert.deepEqual(r.storm.map((s: any) => s.policy), POLICIES);
  for (const s of r.storm) {
    hasNumbers(s, ["devices", "admitPerS", "t99S", "t100S", "attempts", "throttled", "peakAttemptsPerS", "conflicts"], "storm");
    assert.equal(s.perSecond, undefined, "the per-second series stays out of the JSON");
  }
  hasNumbers(r.recovery, ["drops", "floorMs", "p50Ms", "p99Ms"], "recovery");
  assert.ok(r.recovery.drops > 0);
});

test("every figure in the bench object is a finite number", () => {
  const all = numbers(report, "$", []);
  assert.ok(all.length > 50);
  for (const [path, v] of all) assert.ok(Number.isFinite(v), path + " = " + v);
});

test("the table names every goal and the storm chart is one self-contained SVG", () => {
  const t = table(report);
  for (const g of report.goals) assert.ok(t.includes(g.goal));
  const svg = stormSvg([{ name: "a", perSecond: [5, 50, 500, 0] }, { name: "b", perSecond: [1] }], { admitPerS: 100, devices: 10, title: "t" });
  assert.ok(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(!/<script|href=/.test(svg));
});
