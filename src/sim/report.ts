// The simulation report (DESIGN.md, "Command line"): exactly these fields, in this order, and
// its human summary.

import { HubStats } from "./hub/emulator.js";
import { SimDevice } from "./device.js";
import { delayStats, DelayStats, Painter } from "./timeline.js";

export interface TelemetryReport {
  sent: number;
  acknowledged: number;
  receivedByHub: number;
  lost: number;
  duplicates: number;
  droppedByPolicy: number;
}

export interface SimReport {
  devices: number;
  durationS: number;
  seed: number;
  faultsInjected: number;
  sessionsEstablished: number;
  connectAttempts: number;
  linkCreationConflicts: number;
  conflictsWithOpenLink: number;
  hubDiagnostics: { [key: string]: number };
  telemetry: TelemetryReport;
  reconnectDelayMs: DelayStats;
  halted: number;
}

export interface ReportInput {
  durationS: number;
  seed: number;
  devices: readonly SimDevice[];
  hubStats: HubStats;
  received: (deviceId: string) => ReadonlyArray<{ payload: Uint8Array }>;
}

/** Builds the report from the devices (their own counts and timelines) and the hub's view. */
export function buildReport(r: ReportInput): SimReport {
  const t: TelemetryReport = { sent: 0, acknowledged: 0, receivedByHub: 0, lost: 0, duplicates: 0, droppedByPolicy: 0 };
  let sessions = 0;
  let attempts = 0;
  let halted = 0;
  const delays: number[] = [];
  for (const d of r.devices) {
    const c = d.counts();
    const h = d.hubCounts(r.received(d.id));
    t.sent += c.sent;
    t.acknowledged += c.acknowledged;
    t.droppedByPolicy += c.droppedByPolicy;
    t.receivedByHub += h.receivedByHub;
    t.duplicates += h.duplicates;
    t.lost += h.lost;
    const dc = d.shell.diagnostics.counters();
    sessions += dc.connects;
    attempts += dc.connectAttempts;
    if (d.state() === "halted") halted++;
    const ds = d.reconnectDelays();
    for (let i = 0; i < ds.length; i++) delays.push(ds[i]);
  }
  const s = r.hubStats;
  const diag: { [key: string]: number } = {};
  for (const k of Object.keys(s.diagnostics).sort()) diag[k] = s.diagnostics[k];
  return {
    devices: r.devices.length,
    durationS: r.durationS,
    seed: r.seed,
    faultsInjected: s.faultsInjected,
    sessionsEstablished: sessions,
    connectAttempts: attempts,
    linkCreationConflicts: s.linkCreationConflicts,
    conflictsWithOpenLink: s.conflictsWithOpenLink,
    hubDiagnostics: diag,
    telemetry: t,
    reconnectDelayMs: delayStats(delays),
    halted: halted,
  };
}

export interface Verdict { ok: boolean; failures: string[] }

/**
 * What counts as a failure of a run: a second link opened while the first was open, a conflict
 * although the hub's linger is shorter than the device's floor, lost telemetry, a halted device.
 */
export function judge(rep: SimReport, lingerMaxMs: number, floorMs: number, profile?: string): Verdict {
  const f: string[] = [];
  if (rep.conflictsWithOpenLink > 0) f.push(rep.conflictsWithOpenLink + " conflict(s) with an open link: a device opened a second link");
  // Half-open: the hub holds the link until its own keepalive expires, whatever the linger; a
  // device that noticed first and reconnected after its backoff conflicts (cause 1, expected).
  if (rep.linkCreationConflicts > 0 && lingerMaxMs < floorMs && profile !== "halfopen") {
    f.push(rep.linkCreationConflicts + " LinkCreationConflict(s) although the hub's linger (<= " + lingerMaxMs + " ms) is shorter than the floor (" + floorMs + " ms)");
  }
  if (rep.telemetry.lost > 0) f.push(rep.telemetry.lost + " telemetry message(s) lost");
  if (rep.halted > 0) f.push(rep.halted + " device(s) halted");
  return { ok: f.length === 0, failures: f };
}

/** The human summary. */
export function summary(rep: SimReport, v: Verdict, p: Painter, extra?: { wallS?: number; drainS?: number; lingerMs?: { min: number; max: number } }): string {
  const L: string[] = [];
  const ok = (good: boolean, s: string): string => p.paint(good ? "green" : "red", s);
  L.push(p.paint("bold", "linkguard sim") + `  ${rep.devices} devices, ${rep.durationS} s, seed ${rep.seed}` +
    (extra && extra.lingerMs ? `, hub linger ${extra.lingerMs.min}-${extra.lingerMs.max} ms` : "") +
    (extra && extra.wallS !== undefined ? `, ${extra.wallS.toFixed(1)} s wall (drain ${((extra.drainS || 0)).toFixed(1)} s)` : ""));
  L.push(`  faults injected        ${rep.faultsInjected}`);
  L.push(`  sessions established   ${rep.sessionsEstablished} of ${rep.connectAttempts} connect attempts`);
  L.push(`  LinkCreationConflicts  ${ok(rep.linkCreationConflicts === 0, String(rep.linkCreationConflicts))}   with an open link: ${ok(rep.conflictsWithOpenLink === 0, String(rep.conflictsWithOpenLink))}`);
  const t = rep.telemetry;
  L.push(`  telemetry              sent ${t.sent}, acknowledged ${t.acknowledged}, received by hub ${t.receivedByHub}, ` +
    `lost ${ok(t.lost === 0, String(t.lost))}, duplicates ${t.duplicates}, dropped by policy ${t.droppedByPolicy}`);
  const d = rep.reconnectDelayMs;
  L.push(`  reconnect delay (ms)   min ${d.min}  p50 ${d.p50}  p99 ${d.p99}  max ${d.max}`);
  L.push(`  halted                 ${ok(rep.halted === 0, String(rep.halted))}`);
  const keys = Object.keys(rep.hubDiagnostics);
  L.push("  hub diagnostics        " + (keys.length === 0 ? "none" : keys.map((k) => k + " x" + rep.hubDiagnostics[k]).join(", ")));
  L.push(v.ok ? p.paint("green", "  PASS") : p.paint("red", "  FAIL: " + v.failures.join("; ")));
  return L.join("\n");
}
