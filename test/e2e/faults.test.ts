// One device (the real core, the node shell, a real TLS socket on loopback) against the
// emulator, one test per fault kind. In every test the device never opens a second link, causes
// no LinkCreationConflict (the hub's linger, 50–250 ms, is shorter than the device's floor),
// recovers, and reports the reason the fault should produce.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createNodeEngine } from "../../src/platform/node/engine.js";
import { SimDevice, waitFor } from "../../src/sim/device.js";
import { fleetDeviceConfig } from "../../src/sim/fleet.js";
import { startHub, HubEmulator } from "../../src/sim/hub/emulator.js";
import { makeRegistry, Registry } from "../../src/sim/registry.js";
import { Fault } from "../../src/sim/faults.js";

const LINGER = { min: 50, max: 250 };
const FLOOR_MS = 400;
/** short timers so each fault plays out in about a second; the floor outlasts the hub's linger */
const FAST = {
  keepaliveSec: 2,
  connectTimeoutMs: 1000,
  backoff: { baseMs: 100, capMs: 2000, floorMs: FLOOR_MS, stableMs: 1500 },
};

let hub: HubEmulator;
let registry: Registry;
let next = 0;
let dev: SimDevice | null = null;

before(async () => {
  registry = makeRegistry(20, 7);
  hub = await startHub({ registry, lingerMs: LINGER, seed: 7 });
});

afterEach(async () => {
  if (dev) await dev.stop(2000);
  dev = null;
});

after(async () => {
  if (dev) await dev.stop(1000);
  await hub.close();
});

/** A connected device with its own identity (faults armed for one test never reach another). */
async function connectedDevice(over: { [k: string]: unknown } = {}): Promise<SimDevice> {
  const r = registry.devices[next++];
  const cfg = fleetDeviceConfig(hub.hubName, hub.port, r.deviceId, r.symmetricKey, Object.assign({}, FAST, over));
  dev = new SimDevice({ cfg, engine: createNodeEngine(cfg, next), ca: hub.caPem, address: "127.0.0.1", ratePerS: 10, seed: next });
  dev.start();
  await waitFor(() => dev!.state() === "connected", 5000, r.deviceId + " to connect");
  return dev;
}

function codes(d: SimDevice): string[] {
  return d.timeline.map((e) => e.code);
}

/** The device reconnected after `since` entries and its telemetry all reached the hub. */
async function recovers(d: SimDevice, since: number, timeoutMs = 8000): Promise<void> {
  await waitFor(() => d.timeline.slice(since).some((e) => e.state === "connected") && d.state() === "connected", timeoutMs, d.id + " to reconnect");
  d.stopTelemetry();
  await waitFor(() => d.pending() === 0, 5000, d.id + " to have its telemetry acknowledged");
  const h = d.hubCounts(hub.received(d.id));
  assert.equal(h.lost, 0, "telemetry lost");
}

/** The invariants every scenario keeps, and every reconnect waited at least the floor. */
function assertOneLinkNoConflict(d: SimDevice): void {
  const s = hub.stats();
  assert.equal(s.conflictsWithOpenLink, 0, "a second link while the first was open");
  assert.equal(s.linkCreationConflicts, 0, "LinkCreationConflict although the linger is shorter than the floor");
  assert.ok(d.shell.transport.maxAlive <= 1, "more than one socket alive at once");
  for (const ms of d.reconnectDelays()) assert.ok(ms >= FLOOR_MS, `reconnected after ${ms} ms, below the floor`);
}

async function inject(d: SimDevice, ...faults: Fault[]): Promise<number> {
  const mark = d.timeline.length;
  for (const f of faults) hub.inject(d.id, f);
  return mark;
}

test("drop: waits out the floor, reconnects, no conflict", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "drop" });
  await recovers(d, mark);
  const reason = d.timeline.slice(mark).find((e) => e.state === "waiting");
  assert.ok(reason && (reason.code === "remote.close" || reason.code === "transport.error"), "reason " + (reason && reason.code));
  assertOneLinkNoConflict(d);
});

test("halfOpen: silence for 1.5x keepalive closes the link (keepalive.timeout), then it recovers", async () => {
  // the emulator times a half-open link out 1.5x keepalive after the fault, which can be up to one
  // ping interval later than the device's own 1.5x keepalive of silence: a floor above the
  // keepalive keeps the reconnect outside the hub's view
  const d = await connectedDevice({ keepaliveSec: 1, backoff: { baseMs: 100, capMs: 3000, floorMs: 1200, stableMs: 1500 } });
  const mark = await inject(d, { kind: "halfOpen" });
  await recovers(d, mark, 10000);
  assert.ok(codes(d).slice(mark).includes("keepalive.timeout"), codes(d).join(","));
  assert.equal(hub.stats().conflictsWithOpenLink, 0);
  assert.equal(hub.stats().linkCreationConflicts, 0);
});

test("refuseTls: the cut handshake is reported as tls.failed and retried", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "refuseTls" }, { kind: "drop" });
  await recovers(d, mark);
  assert.ok(codes(d).slice(mark).includes("tls.failed"), codes(d).join(","));
  assertOneLinkNoConflict(d);
});

test("delayConnack: a slow CONNACK within the connect timeout still connects", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "delayConnack", ms: 500 }, { kind: "drop" });
  await recovers(d, mark);
  const tl = d.timeline.slice(mark);
  const hs = tl.find((e) => e.state === "handshaking");
  const up = tl.find((e) => e.state === "connected");
  assert.ok(hs && up && up.atMs - hs.atMs >= 400, "connected only after the delayed CONNACK");
  assert.ok(!codes(d).slice(mark).includes("connect.timeout"));
  assertOneLinkNoConflict(d);
});

test("withholdConnack: the connect timeout closes the link (connect.timeout), then it recovers", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "withholdConnack" }, { kind: "drop" });
  await recovers(d, mark);
  assert.ok(codes(d).slice(mark).includes("connect.timeout"), codes(d).join(","));
  assertOneLinkNoConflict(d);
});

test("CONNACK 3: throttled, a wider wait (connack.3), then it recovers", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "connack", code: 3 }, { kind: "drop" });
  await recovers(d, mark);
  const w = d.timeline.slice(mark).find((e) => e.code === "connack.3" && e.state === "waiting");
  assert.ok(w, codes(d).join(","));
  assertOneLinkNoConflict(d);
});

test("throttle: the hub's admission refusal is honoured (connack.3), then it recovers", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "throttle", ms: 800 }, { kind: "drop" });
  await recovers(d, mark);
  assert.ok(codes(d).slice(mark).includes("connack.3"), codes(d).join(","));
  assert.ok((hub.stats().diagnostics["429001 ThrottlingException"] || 0) >= 1);
  assertOneLinkNoConflict(d);
});

test("CONNACK 5 once: a long wait, then a fresh token is accepted", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "connack", code: 5 }, { kind: "drop" });
  await recovers(d, mark);
  const w = d.timeline.slice(mark).find((e) => e.code === "connack.5" && e.state === "waiting");
  assert.ok(w && (w.delayMs || 0) >= 1000, "a long wait (>= capMs/2) after CONNACK 5");
  assertOneLinkNoConflict(d);
});

test("CONNACK 1: fatal, the device halts with connack.1 instead of retrying", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "connack", code: 1 }, { kind: "drop" });
  await waitFor(() => d.state() === "halted", 5000, "halted");
  assert.equal(d.lastStatus()!.code, "connack.1");
  const opens = d.opens;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(d.opens, opens, "no retry after halting");
  assert.ok(codes(d).slice(mark).includes("connack.1"));
  assertOneLinkNoConflict(d);
});

test("expireToken: the hub closes the link (401003), the device reconnects with a fresh token", async () => {
  // a token's expiry has 1 s resolution, and the emulator refuses the very token it expired:
  // a floor of at least 1 s makes the next token differ (the default floor is 2 s)
  const d = await connectedDevice({ backoff: { baseMs: 100, capMs: 3000, floorMs: 1100, stableMs: 1500 } });
  const mark = await inject(d, { kind: "expireToken" });
  await recovers(d, mark);
  assert.ok(codes(d).slice(mark).includes("remote.close"), codes(d).join(","));
  assert.ok(!codes(d).slice(mark).includes("connack.5"), "the new token was fresh");
  assertOneLinkNoConflict(d);
});

test("garbage: bytes that are no MQTT packet are a protocol error; the device closes and recovers", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "garbage" });
  await recovers(d, mark);
  assert.ok(codes(d).slice(mark).some((c) => c.indexOf("protocol.") === 0), codes(d).join(","));
  assertOneLinkNoConflict(d);
});

test("storm: every link dropped at once; the device waits out the floor and recovers", async () => {
  const d = await connectedDevice();
  const mark = await inject(d, { kind: "storm" });
  await recovers(d, mark);
  assertOneLinkNoConflict(d);
});

test("clone: conflicts happen, the device suspects a duplicate identity and backs off to its cap", async () => {
  const CAP = 3000;
  const d = await connectedDevice({ backoff: { baseMs: 100, capMs: CAP, floorMs: FLOOR_MS, stableMs: 2000 } });
  const opensBefore = d.opens;
  const before = hub.stats();
  const mark = await inject(d, { kind: "clone", ms: 7000 });
  await waitFor(() => codes(d).slice(mark).includes("duplicate.suspected"), 9000, "duplicate.suspected");
  const w = d.timeline.slice(mark).find((e) => e.code === "duplicate.suspected" && e.state === "waiting")!;
  assert.ok((w.delayMs || 0) >= CAP / 2, `waits near the cap (${w.delayMs} ms)`);
  assert.ok(hub.stats().cloneConflicts > before.cloneConflicts, "the clone and the device collided");
  // after the clone is gone, the device gets its link back
  await recovers(d, d.timeline.length - 1, 12000);
  assert.ok(d.opens - opensBefore <= 8, `no fight: ${d.opens - opensBefore} connects while cloned`);
  const s = hub.stats();
  assert.equal(s.conflictsWithOpenLink, 0);
  assert.equal(s.linkCreationConflicts, 0, "clone conflicts are counted apart");
  assert.ok(d.shell.transport.maxAlive <= 1);
});

test("after a drop, the diagnostics reach the hub as telemetry marked linkguard=diagnostics", async () => {
  const d = await connectedDevice({ backoff: { baseMs: 100, capMs: 2000, floorMs: FLOOR_MS, stableMs: 60000 } });
  const since = d.timeline.length;
  hub.inject(d.id, { kind: "drop" });
  await waitFor(() => d.timeline.slice(since).some((e) => e.state === "connected"), 8000, d.id + " to reconnect");
  d.shell.publishDiagnostics(999999);
  const isDiag = (m: { topic: string }) => m.topic.indexOf("linkguard=diagnostics") >= 0;
  await waitFor(() => hub.received(d.id).some(isDiag), 5000, "the diagnostics message at the hub");
  const m = hub.received(d.id).find(isDiag)!;
  const body = JSON.parse(Buffer.from(m.payload).toString("utf8"));
  assert.equal(body.counters.drops["remote.close"], 1);
  assert.ok(body.counters.connects >= 2);
  assert.ok(body.events.some((e: { code: string }) => e.code === "remote.close"));
  const key = (d.cfg.auth as { symmetricKey: string }).symmetricKey;
  assert.ok(!m.topic.includes(key) && !Buffer.from(m.payload).toString("utf8").includes(key));
});
