// The benchmark suite (not a test): codec speed against mqtt-packet, bundle sizes against
// mqtt-packet and MQTT.js, the core's cost on the real XS engine, a 10,000-device reconnect
// storm in virtual time against the peers' policies, and recovery latency on loopback TLS.
// `linkguard bench` (src/cli/bench.ts) prints the table or the JSON object (DESIGN.md).
// --quick is the smoke version `npm test` runs: every figure, at a size that takes seconds.

import { execSync } from "node:child_process";
import { cpus } from "node:os";
import { writeFileSync } from "node:fs";
import { runCodec, CodecRow } from "./codec.js";
import { runSize, SizeReport } from "./size.js";
import { runXs, XsReport } from "./xs.js";
import { runStormSuite, runStorm, medianOf, proposalPolicy, StormResult } from "./storm.js";
import { runRecovery, RecoveryReport } from "./recovery.js";
import { stormSvg } from "./chart.js";
import { DEFAULTS } from "../core/config.js";

export type Part = "codec" | "size" | "xs" | "storm" | "recovery";
export const PARTS: Part[] = ["codec", "size", "xs", "storm", "recovery"];

export interface BenchOptions {
  quick: boolean;
  only: Part[];
  seeds: number;
  /** where to write the storm chart; null: not written */
  svgFile: string | null;
  log: (s: string) => void;
}

export type StormRow = Omit<StormResult, "perSecond">;

export interface Goal { goal: string; value: string; met: boolean }

export interface BenchReport {
  codec: CodecRow[];
  /** informational, not like with like: encodeInto a reused buffer vs mqtt-packet's generate */
  codecEncodeInto: CodecRow[];
  size: SizeReport | null;
  xs: XsReport | null;
  storm: StormRow[];
  stormProposals: (StormRow & { proposal: string })[];
  recovery: RecoveryReport | null;
  goals: Goal[];
  meta: { date: string; node: string; nproc: number; cpu: string; command: string; quick: boolean; seeds: number[]; durationS: number; defaultsBackoff: object };
}

function nproc(): number {
  try { return Number(execSync("nproc", { encoding: "utf8" }).trim()) || cpus().length; } catch { return cpus().length; }
}

function strip(r: StormResult): StormRow {
  const o = Object.assign({}, r) as Partial<StormResult>;
  delete o.perSecond;
  return o as StormRow;
}

/** Every goal of issue 6, against the figures. */
export function goals(r: BenchReport): Goal[] {
  const g: Goal[] = [];
  for (const c of r.codec) g.push({ goal: "codec " + c.case + ": >= 1.5x mqtt-packet", value: c.ratio + "x", met: c.ratio >= 1.5 });
  if (r.size) g.push({ goal: "Espruino runtime <= 16 KB minified (16384 B)", value: r.size.espruino.minBytes + " B", met: r.size.espruino.minBytes <= 16384 });
  if (r.xs) g.push({ goal: "XS: no heap growth over 10,000 publishes", value: r.xs.heapGrowthAfter10kPublishes + " slots", met: r.xs.heapGrowthAfter10kPublishes <= 0 });
  const lg = r.storm.find((s) => s.policy === "linkguard");
  const fa = r.storm.find((s) => s.policy === "linkguard-fleet-aware");
  const peers = r.storm.filter((s) => s.policy !== "linkguard" && s.policy !== "linkguard-fleet-aware");
  if (lg) {
    const fewest = peers.reduce((m, p) => Math.min(m, p.attempts), Infinity);
    g.push({ goal: "storm, linkguard default: 99% within 115 s", value: lg.t99S + " s", met: lg.t99S <= 115 });
    g.push({ goal: "storm, linkguard default: fewer attempts than every peer", value: lg.attempts + " (fewest peer: " + fewest + ")", met: lg.attempts < fewest });
    g.push({ goal: "storm, linkguard default: zero conflicts", value: String(lg.conflicts), met: lg.conflicts === 0 });
  }
  if (fa) {
    g.push({ goal: "storm, fleet-aware: 99% within 105 s", value: fa.t99S + " s", met: fa.t99S <= 105 });
    g.push({ goal: "storm, fleet-aware: <= 1.2 attempts per device", value: String(fa.attemptsPerDevice), met: fa.attemptsPerDevice <= 1.2 });
    g.push({ goal: "storm, fleet-aware: peak <= 3x the admission rate", value: fa.peakAttemptsPerS + "/s (limit " + 3 * fa.admitPerS + ")", met: fa.peakAttemptsPerS <= 3 * fa.admitPerS });
  }
  if (r.recovery) g.push({ goal: "recovery: never inside the floor (min >= floorMs)", value: r.recovery.minMs + " ms (floor " + r.recovery.floorMs + ")", met: r.recovery.minMs >= r.recovery.floorMs });
  return g;
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const t0 = Date.now();
  const on = (p: Part) => o.only.indexOf(p) >= 0;
  const q = o.quick;
  const seeds: number[] = [];
  for (let i = 1; i <= o.seeds; i++) seeds.push(i);
  const report: BenchReport = {
    codec: [], codecEncodeInto: [], size: null, xs: null, storm: [], stormProposals: [], recovery: null, goals: [],
    meta: {
      date: new Date().toISOString(), node: process.version, nproc: nproc(), cpu: (cpus()[0] || { model: "unknown" }).model,
      command: "linkguard bench" + (q ? " --quick" : ""), quick: q, seeds: seeds, durationS: 0,
      defaultsBackoff: Object.assign({}, DEFAULTS.backoff),
    },
  };
  if (on("codec")) {
    o.log("codec: linkguard vs mqtt-packet, interleaved rounds");
    const c = await runCodec({ rounds: q ? 3 : 11, msPerSample: q ? 30 : 150, alloc: !q, log: o.log });
    report.codec = c.rows;
    report.codecEncodeInto = c.extra;
  }
  if (on("size")) report.size = await runSize(o.log, q);
  if (on("xs")) report.xs = await runXs({ samples: q ? 3 : 21, publishes: q ? 1000 : 10000, log: o.log });
  if (on("storm")) {
    // quick: a tenth of the fleet at a tenth of the rate (the same 100 s admission window)
    const devices = q ? 1000 : 10000;
    const admitPerS = q ? 10 : 100;
    const full = runStormSuite({ devices: devices, admitPerS: admitPerS, seeds: seeds, limitS: 3600, log: o.log });
    report.storm = full.map(strip);
    for (const [kind, frac] of [["throttled-short", 0.05], ["throttled-after-window", 0.02]] as ["throttled-short" | "throttled-after-window", number][]) {
      const runs = seeds.map((seed) => runStorm("linkguard-fleet-aware", {
        devices: devices, admitPerS: admitPerS, seed: seed, limitS: 3600,
        peer: proposalPolicy(kind, devices, admitPerS, DEFAULTS.backoff.floorMs, frac),
      }));
      report.stormProposals.push(Object.assign({ proposal: kind + " (window fraction " + frac + ")" }, strip(medianOf(runs))));
    }
    if (o.svgFile) {
      const lgT = full.map((s) => s.t100S).reduce((a, b) => Math.max(a, b), 0);
      const svg = stormSvg(full.map((s) => ({ name: s.policy, perSecond: s.perSecond, note: "99% " + s.t99S + " s, " + s.attempts.toLocaleString("en-US") + " attempts" })),
        { admitPerS: admitPerS, devices: devices, title: "Reconnect storm: " + devices.toLocaleString("en-US") + " devices, hub admits " + admitPerS + "/s (virtual time)", maxS: Math.min(lgT + 10, 700) });
      writeFileSync(o.svgFile, svg);
      o.log("storm: chart written to " + o.svgFile);
    }
  }
  if (on("recovery")) {
    o.log("recovery: devices against the emulator on loopback TLS");
    report.recovery = await runRecovery({ drops: q ? 2 : 200, devices: q ? 2 : 25, log: o.log });
  }
  report.goals = goals(report);
  report.meta.durationS = Math.round((Date.now() - t0) / 100) / 10;
  return report;
}

// ---- the table ----------------------------------------------------------------------------

function pad(s: string | number, n: number, right?: boolean): string {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

export function table(r: BenchReport): string {
  const out: string[] = [];
  const n = (x: number) => x.toLocaleString("en-US");
  if (r.codec.length) {
    out.push("Codec (ops/s, median of interleaved rounds; bytes allocated per op)");
    out.push(pad("case", 19) + pad("linkguard", 13, true) + pad("mqtt-packet", 13, true) + pad("ratio", 8, true) + pad("B/op lg", 10, true) + pad("B/op mp", 10, true));
    for (const c of r.codec.concat(r.codecEncodeInto)) out.push(pad(c.case, 19) + pad(n(c.linkguardOpsPerS), 13, true) + pad(n(c.mqttPacketOpsPerS), 13, true) + pad(c.ratio + "x", 8, true) + pad(c.linkguardBytesPerOp, 10, true) + pad(c.mqttPacketBytesPerOp, 10, true));
    out.push("");
  }
  if (r.size) {
    out.push("Size (bytes)");
    for (const k of ["espruino", "moddable", "linkguardCore", "mqttPacket", "mqttjs"] as (keyof SizeReport)[]) {
      const s = r.size[k];
      out.push(pad(k, 14) + pad(n(s.minBytes) + " min", 14, true) + pad(n(s.gzipBytes) + " gz", 12, true) + "   " + s.source);
    }
    out.push("");
  }
  if (r.xs) {
    out.push("XS (xsnap meter; slots are 16 B on ESP32, 32 B on this host)");
    out.push("publish (QoS 1, 256 B)  " + n(r.xs.publishCompute) + " compute, " + r.xs.publishSlots + " slots");
    out.push("receive PUBACK          " + n(r.xs.receiveCompute) + " compute, " + r.xs.receiveSlots + " slots");
    out.push("receive C2D PUBLISH     " + n(r.xs.receiveC2dCompute) + " compute, " + r.xs.receiveC2dSlots + " slots");
    out.push("heap growth after " + n(r.xs.publishes) + " publishes: " + r.xs.heapGrowthAfter10kPublishes + " slots");
    out.push("");
  }
  if (r.storm.length) {
    const s0 = r.storm[0];
    out.push("Fleet storm: " + n(s0.devices) + " devices, hub admits " + s0.admitPerS + "/s, median of " + r.meta.seeds.length + " seeds (virtual time)");
    out.push(pad("policy", 24) + pad("t99 s", 8, true) + pad("t100 s", 8, true) + pad("attempts", 10, true) + pad("/device", 9, true) + pad("throttled", 11, true) + pad("peak/s", 8, true) + pad("conflicts", 11, true));
    const rows = (r.storm as (StormRow & { proposal?: string })[]).concat(r.stormProposals);
    for (const s of rows) {
      const name = s.proposal ? "proposal: " + s.proposal.split(" ")[0] : s.policy;
      out.push(pad(name, 24) + pad(s.t99S, 8, true) + pad(s.t100S, 8, true) + pad(n(s.attempts), 10, true) + pad(s.attemptsPerDevice, 9, true) + pad(n(s.throttled), 11, true) + pad(n(s.peakAttemptsPerS), 8, true) + pad(s.conflicts, 11, true));
    }
    out.push("");
  }
  if (r.recovery) {
    const v = r.recovery;
    out.push("Recovery on loopback TLS: " + v.drops + " drops over " + v.devices + " devices, floor " + v.floorMs + " ms: p50 " + v.p50Ms + " ms, p99 " + v.p99Ms + " ms (min " + v.minMs + ", max " + v.maxMs + "), conflicts " + v.conflicts);
    out.push("");
  }
  out.push("Goals");
  for (const g of r.goals) out.push((g.met ? "  met      " : "  NOT MET  ") + g.goal + ": " + g.value);
  out.push("");
  out.push(r.meta.command + " — " + r.meta.date + ", node " + r.meta.node + ", " + r.meta.nproc + " cpu (" + r.meta.cpu + "), " + r.meta.durationS + " s");
  return out.join("\n");
}
