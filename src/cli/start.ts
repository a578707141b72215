// `npm start` (`linkguard start`): the desktop simulator's default scenario. The emulator and
// one device (the real core, the node shell, a real TLS socket), four scripted faults, a live
// timeline of link states, backoff delays and hub diagnostics, and a summary. Ends by itself.
//
// Each fault waits until the device has its link back and has held it for the stable period,
// so the scenario is as short as the device's own backoff allows (about 30–40 s).

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { DiagRecord } from "../sim/diaglog.js";
import { createNodeEngine } from "../platform/node/engine.js";
import { SimDevice, waitFor } from "../sim/device.js";
import { Fault } from "../sim/faults.js";
import { fleetDeviceConfig, hubMark } from "../sim/fleet.js";
import { startHub, HubEmulator } from "../sim/hub/emulator.js";
import { makeRegistry } from "../sim/registry.js";
import { formatEntry, formatHubLine, formatLog, Painter, wantsColor } from "../sim/timeline.js";

const HELP = `usage: linkguard start [--seed K]

The desktop simulator's default scenario: the IoT Hub emulator (TLS on 127.0.0.1) and one
device running linkguard's core over the node shell, with scripted faults:
  1. a remote close while the hub still considers the device connected (its linger)
  2. a clone: a second client with the device's identity and key
  3. a withheld CONNACK
  4. an early token expiry
The timeline shows every link state, reason and backoff delay, and the hub's diagnostics.
Ends by itself (about 30–40 s). Exit codes: 0 pass; 1 a conflict, lost telemetry or a fault
that did not play out; 2 usage errors.

  --seed K   seed of the keys and the backoff jitter (default 1)`;

/** The scenario's device timers: short, so the faults play out in seconds (see the banner). */
const SCENARIO = Object.freeze({
  keepaliveSec: 5,
  connectTimeoutMs: 2000,
  backoff: { floorMs: 2000, baseMs: 1000, capMs: 5000, stableMs: 2000 },
});
const LINGER_MS = 1500;
/** the clone stays while the device has not yet suspected it, and this long after */
const CLONE_MS = 3000;
const HARD_LIMIT_MS = 55000;

interface Step { title: string; why: string; faults: Fault[]; expect: string[]; renew?: boolean }

const STEPS: Step[] = [
  {
    title: "remote close inside the hub's linger",
    why: `the hub drops the link and keeps the device "connected" for ${LINGER_MS} ms; a CONNECT inside that would be 409002 LinkCreationConflict. The device waits at least its ${SCENARIO.backoff.floorMs} ms floor.`,
    faults: [{ kind: "drop", lingerMs: LINGER_MS }],
    expect: ["remote.close", "transport.error"],
  },
  {
    title: "a clone",
    why: "a second client with the same identity and key connects, and reconnects 100–500 ms after every kick, until the device has noticed it (then 3 s more). Each CONNECT closes the other link (409002/400027). The device sees its link close soon after CONNACK again and again, reports a suspected duplicate identity and backs off near its cap instead of fighting.",
    faults: [{ kind: "clone", ms: CLONE_MS }],
    renew: true,
    expect: ["duplicate.suspected"],
  },
  {
    title: "withheld CONNACK",
    why: "the next CONNECT is never answered; the device's connect timeout closes the link (connect.timeout) and it backs off.",
    faults: [{ kind: "withholdConnack" }, { kind: "drop", lingerMs: 200 }],
    expect: ["connect.timeout"],
  },
  {
    title: "early token expiry",
    why: "the hub declares the SAS token expired and closes the link (401003, 404104); the device reconnects with a freshly signed token.",
    faults: [{ kind: "expireToken" }],
    expect: ["remote.close"],
  },
];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startCommand(argv: string[]): Promise<number> {
  let seed = 1;
  try {
    const r = parseArgs({ args: argv, options: { seed: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
    if (r.values.help) { console.log(HELP); return 0; }
    if (r.values.seed !== undefined) {
      seed = Number(r.values.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed: "${r.values.seed}" is not an integer`);
    }
  } catch (e) {
    console.error(`linkguard start: ${(e as Error).message.split("\n")[0]}\n\n${HELP}`);
    return 2;
  }
  const p = new Painter(wantsColor(process.stdout));
  const say = (s: string): void => { process.stdout.write(s + "\n"); };
  const registry = makeRegistry(1, seed);
  const dev0 = registry.devices[0];
  let wallT0 = Date.now();
  const hubLines: DiagRecord[] = [];
  const hub: HubEmulator = await startHub({
    registry, seed, lingerMs: { min: 200, max: 2000 },
    onDiag: (rec) => {
      const r = rec as DiagRecord;
      hubLines.push(r);
      const m = hubMark(r, wallT0);
      if (m) say(formatHubLine(m.atMs, m.key, m.deviceId, m.why, p));
    },
  });
  const cfg = fleetDeviceConfig(hub.hubName, hub.port, dev0.deviceId, dev0.symmetricKey, SCENARIO as unknown as { [k: string]: unknown });
  say(p.paint("bold", "linkguard start") + " — the desktop simulator's default scenario");
  say(`  emulator   TLS 1.2+ on 127.0.0.1:${hub.port}, hub "${hub.hubName}", its view of a dropped link lingers 200–2000 ms (${LINGER_MS} ms in fault 1)`);
  say(`  device     ${cfg.deviceId}: the real core and node shell, 2 QoS 1 messages/s, trusting only the emulator's CA`);
  say(p.paint("yellow", `  short timers for this demo, so the faults play out in seconds: keepalive ${cfg.keepaliveSec} s, connect timeout ${cfg.connectTimeoutMs / 1000} s,`));
  say(p.paint("yellow", `  stable period ${cfg.backoff.stableMs / 1000} s, backoff cap ${cfg.backoff.capMs / 1000} s (defaults: 240 s, 15 s, 30 s, 20 s); the floor is the default ${cfg.backoff.floorMs / 1000} s`));
  say("");
  const t0 = Math.floor(performance.now());
  wallT0 = Date.now();
  const dev = new SimDevice({
    cfg, engine: createNodeEngine(cfg, seed), ca: hub.caPem, address: "127.0.0.1", ratePerS: 2, t0Ms: t0, seed,
    onTimeline: (e) => say(formatEntry(e, p, false)),
    onLog: (atMs, code, text) => say(formatLog(atMs, code, text, p)),
  });
  const elapsed = (): number => Math.floor(performance.now()) - t0;
  const left = (): number => Math.max(0, HARD_LIMIT_MS - elapsed());
  const failures: string[] = [];
  const seen: string[] = [];
  try {
    dev.start();
    for (let i = 0; i < STEPS.length; i++) {
      const s = STEPS[i];
      // the link is back and has held for the stable period: the backoff starts afresh
      try {
        await waitFor(() => dev.state() === "connected" && lastConnectedFor(dev, elapsed()) >= cfg.backoff.stableMs + 100, left(), "a stable link");
      } catch {
        failures.push(`fault ${i + 1} (${s.title}) was not reached within the time limit`);
        break;
      }
      const mark = dev.timeline.length;
      say("");
      say(p.paint("bold", `  ▶ fault ${i + 1}/${STEPS.length}: ${s.title}`) + p.paint("dim", ` — ${s.why}`));
      for (const f of s.faults) hub.inject(dev.id, f);
      // a fault that lasts (the clone) is extended until the device shows the expected reason
      const renew = s.renew ? setInterval(() => {
        if (!dev.timeline.slice(mark).some((e) => s.expect.indexOf(e.code) >= 0)) for (const f of s.faults) hub.inject(dev.id, f);
      }, 1000) : null;
      try {
        await waitFor(() => dev.timeline.slice(mark).some((e) => s.expect.indexOf(e.code) >= 0), left(), s.expect.join(" or "));
        await waitFor(() => dev.state() === "connected" && dev.timeline.slice(mark).some((e) => e.state === "connected"), left(), "reconnect");
        for (const e of dev.timeline.slice(mark)) if (s.expect.indexOf(e.code) >= 0 && seen.indexOf(e.code) < 0) seen.push(e.code);
      } catch (e) {
        failures.push(`fault ${i + 1} (${s.title}): ${(e as Error).message}`);
        break;
      } finally {
        if (renew) clearInterval(renew);
      }
    }
    // Drain: everything sent is acknowledged, and the hub's last views have ended.
    dev.stopTelemetry();
    await waitFor(() => dev.settled(), Math.max(1000, left()), "telemetry acknowledged").catch(() => failures.push("telemetry still in flight at the time limit"));
    await sleep(300);
  } finally {
    await dev.stop(2000);
  }
  const st = hub.stats();
  const counts = dev.hubCounts(hub.received(dev.id));
  const rep = dev.report();
  await hub.close();
  if (st.conflictsWithOpenLink > 0) failures.push(`${st.conflictsWithOpenLink} conflict(s) with an open link`);
  if (st.linkCreationConflicts > 0) failures.push(`${st.linkCreationConflicts} LinkCreationConflict(s) not caused by the clone`);
  if (counts.lost > 0) failures.push(`${counts.lost} telemetry message(s) lost`);

  const d = rep.reconnectDelayMs;
  const t = dev.counts();
  const diag = Object.keys(st.diagnostics).sort().map((k) => `${k} x${st.diagnostics[k]}`).join(", ") || "none";
  const drops = Object.keys(rep.drops).map((k) => `${k} x${rep.drops[k]}`).join(", ");
  say("");
  say(p.paint("bold", "summary") + ` (${(elapsed() / 1000).toFixed(1)} s)`);
  say(`  link              ${rep.connects} sessions from ${rep.connectAttempts} connect attempts; never two sockets at once: ${dev.shell.transport.maxAlive <= 1 ? "yes" : p.paint("red", "NO")}`);
  say(`  drops by reason   ${drops}`);
  say(`  reconnect delays  min ${d.min} ms, p50 ${d.p50} ms, max ${d.max} ms (floor ${cfg.backoff.floorMs} ms; the hub's linger is at most 2000 ms)`);
  say(`  hub diagnostics   ${diag}`);
  say(`  conflicts         LinkCreationConflict ${p.paint(st.linkCreationConflicts === 0 ? "green" : "red", String(st.linkCreationConflicts))}, ` +
    `with an open link ${p.paint(st.conflictsWithOpenLink === 0 ? "green" : "red", String(st.conflictsWithOpenLink))}, caused by the clone ${st.cloneConflicts}`);
  say(`  telemetry         sent ${t.sent}, acknowledged ${t.acknowledged}, received by the hub ${counts.receivedByHub}, lost ${p.paint(counts.lost === 0 ? "green" : "red", String(counts.lost))}, duplicates ${counts.duplicates}`);
  say(`  reasons seen      ${seen.join(", ") || "none"}`);
  say(failures.length === 0
    ? p.paint("green", "  PASS") + " — no LinkCreationConflict of the device's making, every fault recovered, nothing lost"
    : p.paint("red", "  FAIL: " + failures.join("; ")));
  say(p.paint("dim", "  next: `linkguard sim --devices 20 --duration 30 --faults chaos --html sim.html` for a fleet, `linkguard hub --help` for a real device"));
  return failures.length === 0 ? 0 : 1;
}

/** ms the current connected period has lasted (0 if not connected). */
function lastConnectedFor(dev: SimDevice, nowMs: number): number {
  const tl = dev.timeline;
  const last = tl[tl.length - 1];
  return last && last.state === "connected" ? nowMs - last.atMs : 0;
}
