// The fleet runner: the emulator in-process, N devices (each its own core, node shell and real
// TLS socket), a fault schedule from profileFaults, QoS 1 telemetry throughout; then a drain
// (no more faults or telemetry; the devices reconnect and get their in-flight messages
// acknowledged) before anything is counted.

import { performance } from "node:perf_hooks";
import { DeviceConfig, validateConfig } from "../core/config.js";
import { EngineKind, loadEngine } from "../host/engine.js";
import { CoreEngine } from "../platform/node/engine.js";
import { SimDevice } from "./device.js";
import { diagKey, diagProperties, DiagRecord } from "./diaglog.js";
import { FaultProfile, profileFaults, ScheduledFault } from "./faults.js";
import { HubEmulator, startHub } from "./hub/emulator.js";
import { makeRegistry } from "./registry.js";
import { buildReport, SimReport } from "./report.js";

export interface FleetOptions {
  devices: number;
  durationS: number;
  profile: FaultProfile;
  seed: number;
  engine?: EngineKind;
  /** the hub's linger range; default the emulator's (200–2000 ms) */
  lingerMs?: { min: number; max: number };
  /** telemetry per device per second; default 1 */
  ratePerS?: number;
  /** device configuration fields over the defaults (host, port, id, key are the runner's) */
  deviceConfig?: { [k: string]: unknown };
  /**
   * longest drain; default 3 x (backoff cap + connect timeout) + 10 s: after a run of faults a
   * device may sit in a long wait (up to the cap), then meet a fault armed for its next CONNECT
   * (a withheld CONNACK, CONNACK 3 or 5) and wait again
   */
  drainMaxMs?: number;
  onProgress?: (p: Progress) => void;
  /** how often onProgress is called, ms; default 500 */
  progressEveryMs?: number;
}

export interface Progress {
  phase: "run" | "drain";
  elapsedMs: number;
  durationMs: number;
  connected: number;
  devices: number;
  faults: number;
  /** devices not yet settled (drain) */
  unsettled: number;
}

export interface FaultMark { atMs: number; deviceId: string; kind: string }
export interface HubMark { atMs: number; key: string; deviceId: string; why?: string }

export interface FleetResult {
  report: SimReport;
  devices: SimDevice[];
  faults: FaultMark[];
  hub: HubMark[];
  lingerMs: { min: number; max: number };
  floorMs: number;
  /** ms from start to the end of fault injection and telemetry */
  runMs: number;
  /** ms the drain took */
  drainMs: number;
  /** true when every device settled before the drain's limit */
  drained: boolean;
}

export const DEFAULT_LINGER = Object.freeze({ min: 200, max: 2000 });

/** The configuration a fleet device runs: the defaults, the overrides, and the runner's identity fields. */
export function fleetDeviceConfig(hubName: string, port: number, deviceId: string, key: string, over?: { [k: string]: unknown }): DeviceConfig {
  const doc: { [k: string]: unknown } = Object.assign({}, over || {}, {
    host: hubName, port: port, deviceId: deviceId, auth: { symmetricKey: key },
  });
  const r = validateConfig(doc);
  if (!r.ok) throw new Error("fleet device configuration: " + r.errors.map((e) => e.path + ": " + e.message).join("; "));
  return r.config;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The keepalive the half-open profile gives devices unless told otherwise (s): the default 240 s would hide the fault for 6 minutes. */
export const HALFOPEN_KEEPALIVE_SEC = 10;

/** The profile's device settings under the caller's: half-open runs need a keepalive short enough to notice within the run. */
export function profileDeviceConfig(profile: FaultProfile, over?: { [k: string]: unknown }): { [k: string]: unknown } {
  const base: { [k: string]: unknown } = profile === "halfopen" ? { keepaliveSec: HALFOPEN_KEEPALIVE_SEC } : {};
  return Object.assign(base, over || {});
}

/** Relative ms of a hub diagnostic record. */
export function hubMark(rec: DiagRecord, wallT0: number): HubMark | null {
  const key = diagKey(rec);
  if (!key) return null;
  let dev = "";
  let why: string | undefined;
  try {
    const p = diagProperties(rec);
    dev = p.deviceId;
    why = p.errorMessage;
  } catch { /* records made by the emulator always decode */ }
  return { atMs: Date.parse(rec.time) - wallT0, key: key, deviceId: dev, why: why };
}

export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  const n = o.devices;
  const lingerMs = o.lingerMs || DEFAULT_LINGER;
  const registry = makeRegistry(n, o.seed);
  const hub: HubEmulator = await startHub({ registry, seed: o.seed, lingerMs });
  const devices: SimDevice[] = [];
  const timers: NodeJS.Timeout[] = [];
  let progressTimer: NodeJS.Timeout | null = null;
  try {
    const configs = registry.devices.map((d) => fleetDeviceConfig(hub.hubName, hub.port, d.deviceId, d.symmetricKey, profileDeviceConfig(o.profile, o.deviceConfig)));
    const engines: CoreEngine[] = [];
    for (let i = 0; i < n; i++) engines.push(await loadEngine(o.engine || "node", configs[i], o.seed * 100003 + i + 1));
    const t0 = Math.floor(performance.now());
    const wallT0 = Date.now();
    for (let i = 0; i < n; i++) {
      devices.push(new SimDevice({
        cfg: configs[i], engine: engines[i], ca: hub.caPem, address: "127.0.0.1",
        ratePerS: o.ratePerS === undefined ? 1 : o.ratePerS, t0Ms: t0, seed: o.seed * 100003 + i + 1,
      }));
    }
    const durationMs = Math.round(o.durationS * 1000);
    const marks: FaultMark[] = [];
    const elapsed = (): number => Math.floor(performance.now()) - t0;
    let phase: "run" | "drain" = "run";

    // Spread the first connects so that a large fleet does not start as a storm (50 per second).
    const spreadMs = n > 50 ? Math.ceil((n / 50) * 1000) : 0;
    for (let i = 0; i < n; i++) {
      const d = devices[i];
      const at = spreadMs > 0 ? Math.floor((i * spreadMs) / n) : 0;
      if (at === 0) d.start();
      else timers.push(setTimeout(() => { if (phase === "run") d.start(); }, at));
    }

    // The fault schedule, grouped by time so that an arming fault stays before its drop.
    const schedule: ScheduledFault[] = profileFaults(o.profile, o.seed, o.durationS, registry.devices.map((d) => d.deviceId));
    const groups: { [at: string]: ScheduledFault[] } = {};
    for (const f of schedule) (groups[String(f.atMs)] = groups[String(f.atMs)] || []).push(f);
    for (const at of Object.keys(groups)) {
      const list = groups[at];
      timers.push(setTimeout(() => {
        for (const f of list) {
          hub.inject(f.deviceId, f.fault);
          marks.push({ atMs: elapsed(), deviceId: f.deviceId, kind: f.fault.kind });
        }
      }, Number(at)));
    }

    const progress = (): void => {
      if (!o.onProgress) return;
      let connected = 0;
      let unsettled = 0;
      for (const d of devices) {
        if (d.state() === "connected") connected++;
        if (!d.settled()) unsettled++;
      }
      o.onProgress({ phase, elapsedMs: elapsed(), durationMs, connected, devices: n, faults: marks.length, unsettled });
    };
    progressTimer = setInterval(progress, o.progressEveryMs || 500);

    await sleep(Math.max(0, durationMs - elapsed()));

    // Drain: no more faults, no more telemetry; wait for reconnects and acknowledgements.
    phase = "drain";
    for (const t of timers) clearTimeout(t);
    for (const d of devices) {
      d.stopTelemetry();
      if (d.state() === "idle") d.start(); // a late starter in a large fleet
    }
    const runMs = elapsed();
    const cfg0 = configs[0];
    // a half-open link is only noticed after 1.5 x keepalive of silence
    const drainMax = o.drainMaxMs !== undefined ? o.drainMaxMs : (cfg0 ? 3 * (cfg0.backoff.capMs + cfg0.connectTimeoutMs) + 1500 * cfg0.keepaliveSec + 10000 : 0);
    let drained = true;
    while (devices.some((d) => !d.settled())) {
      if (elapsed() - runMs >= drainMax) { drained = false; break; }
      await sleep(100);
    }
    // the hub's last views (lingers) end within its linger: let them be logged
    await sleep(Math.min(lingerMs.max, 2500) + 100);
    const drainMs = elapsed() - runMs;
    progress();
    if (progressTimer) clearInterval(progressTimer);
    progressTimer = null;

    const report = buildReport({ durationS: o.durationS, seed: o.seed, devices, hubStats: hub.stats(), received: (id) => hub.received(id) });
    const hubMarks: HubMark[] = [];
    for (const rec of hub.diagnostics()) {
      const m = hubMark(rec, wallT0);
      if (m) hubMarks.push(m);
    }
    return {
      report, devices, faults: marks, hub: hubMarks, lingerMs: { min: lingerMs.min, max: lingerMs.max },
      floorMs: cfg0 ? cfg0.backoff.floorMs : 0, runMs, drainMs, drained,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    if (progressTimer) clearInterval(progressTimer);
    await Promise.all(devices.map((d) => d.stop(2000)));
    await hub.close();
  }
}
