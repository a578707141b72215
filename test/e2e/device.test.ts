// The device runner over real sockets on loopback: certificate verification is on, telemetry
// flows and is acknowledged, the shell reports exactly one transportClosed per open, and no
// key or token reaches a status text or the diagnostics.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCerts } from "../../src/sim/certs.js";
import { createNodeEngine } from "../../src/platform/node/engine.js";
import { SimDevice, waitFor } from "../../src/sim/device.js";
import { fleetDeviceConfig } from "../../src/sim/fleet.js";
import { startHub, HubEmulator } from "../../src/sim/hub/emulator.js";
import { makeRegistry, Registry } from "../../src/sim/registry.js";

const FAST = { keepaliveSec: 2, connectTimeoutMs: 1000, backoff: { baseMs: 100, capMs: 2000, floorMs: 400, stableMs: 1500 } };

let hub: HubEmulator;
let registry: Registry;
const devices: SimDevice[] = [];
const hubs: HubEmulator[] = [];

before(async () => {
  registry = makeRegistry(8, 11);
  hub = await startHub({ registry, lingerMs: { min: 50, max: 250 }, seed: 11 });
  hubs.push(hub);
});

after(async () => {
  await Promise.all(devices.map((d) => d.stop(1000)));
  await Promise.all(hubs.map((h) => h.close()));
});

function device(i: number, o: { ca?: string; port?: number; over?: { [k: string]: unknown }; rate?: number } = {}): SimDevice {
  const r = registry.devices[i];
  const cfg = fleetDeviceConfig("localhost", o.port || hub.port, r.deviceId, r.symmetricKey, Object.assign({}, FAST, o.over || {}));
  const d = new SimDevice({ cfg, engine: createNodeEngine(cfg, i + 1), ca: o.ca || hub.caPem, address: "127.0.0.1", ratePerS: o.rate === undefined ? 20 : o.rate, seed: i + 1 });
  devices.push(d);
  return d;
}

test("certificate verification is on: a device trusting a different CA halts with tls.certRejected", async () => {
  const other = makeCerts();
  const d = device(0, { ca: other.caPem, rate: 0 });
  d.start();
  await waitFor(() => d.state() === "halted", 5000, "halted");
  const st = d.lastStatus()!;
  assert.equal(st.code, "tls.certRejected");
  assert.equal(d.shell.transport.opens, 1, "no retry after a rejected certificate");
  assert.equal(hub.received(d.id).length, 0);
  assert.equal(hub.connected(d.id), false, "the hub never saw a CONNECT");
});

test("a certificate for another host name is rejected (tls.certRejected), even from the trusted CA", async () => {
  const certs = makeCerts({ names: ["not-this-host.example"] });
  const h2 = await startHub({ registry, certs, seed: 12 });
  hubs.push(h2);
  const d = device(1, { ca: certs.caPem, port: h2.port, rate: 0 });
  d.start();
  await waitFor(() => d.state() === "halted", 5000, "halted");
  assert.equal(d.lastStatus()!.code, "tls.certRejected");
  assert.match(d.lastStatus()!.text, /ALTNAME|altnames|Hostname/i);
});

test("telemetry flows over TLS and is acknowledged: sent = acknowledged = received by the hub", async () => {
  const d = device(2, { rate: 50 });
  d.start();
  await waitFor(() => d.state() === "connected", 5000, "connected");
  await waitFor(() => d.counts().sent >= 30, 5000, "30 messages sent");
  d.stopTelemetry();
  await waitFor(() => d.pending() === 0, 5000, "every message acknowledged");
  const c = d.counts();
  const h = d.hubCounts(hub.received(d.id));
  assert.equal(c.acknowledged, c.sent);
  assert.equal(h.receivedByHub, c.sent);
  assert.equal(h.lost, 0);
  assert.equal(h.duplicates, 0);
  assert.ok(hub.received(d.id).every((m) => m.qos === 1 && m.topic.startsWith("devices/" + d.id + "/messages/events/")));
});

test("telemetry published while the link is down is queued and delivered after the reconnect", async () => {
  const d = device(3, { rate: 50 });
  d.start();
  await waitFor(() => d.state() === "connected", 5000, "connected");
  hub.inject(d.id, { kind: "drop" });
  await waitFor(() => d.state() === "waiting", 5000, "waiting");
  const during = d.counts().sent;
  await waitFor(() => d.state() === "connected" && d.counts().sent > during + 5, 5000, "reconnected");
  d.stopTelemetry();
  await waitFor(() => d.pending() === 0, 5000, "every message acknowledged");
  assert.equal(d.hubCounts(hub.received(d.id)).lost, 0);
});

test("the shell produces exactly one transportClosed per open, through faults of every shape", async () => {
  const d = device(4, { rate: 10 });
  d.start();
  const up = () => waitFor(() => d.state() === "connected", 8000, "connected");
  await up();
  for (const faults of [
    [{ kind: "drop" as const }],
    [{ kind: "garbage" as const }],
    [{ kind: "refuseTls" as const }, { kind: "drop" as const }],
    [{ kind: "withholdConnack" as const }, { kind: "drop" as const }],
    [{ kind: "connack" as const, code: 3 as const }, { kind: "drop" as const }],
    [{ kind: "expireToken" as const }],
  ]) {
    const mark = d.timeline.length;
    for (const f of faults) hub.inject(d.id, f);
    await waitFor(() => d.timeline.slice(mark).some((e) => e.state === "connected"), 10000, "reconnected after " + faults[0].kind);
  }
  await d.stop(2000);
  const t = d.shell.transport;
  assert.equal(t.aliveCount(), 0);
  assert.equal(t.opens, t.closes, "closes reported = sockets opened");
  assert.equal(t.maxAlive, 1, "never two sockets at once");
  assert.equal(d.opens, d.closes, "transportClosed events = openTransport commands");
  const gens = Object.keys(d.shell.closedPerGen);
  assert.equal(gens.length, d.opens);
  for (const g of gens) assert.equal(d.shell.closedPerGen[g], 1, "generation " + g);
});

test("plaintext (tls: false) to a loopback hub works; status texts and diagnostics never hold the key or token", async () => {
  const h3 = await startHub({ registry, plaintext: true, seed: 13 });
  hubs.push(h3);
  const r = registry.devices[5];
  const d = device(5, { port: h3.port, over: { tls: false }, rate: 20 });
  d.start();
  await waitFor(() => d.state() === "connected", 5000, "connected");
  h3.inject(d.id, { kind: "drop" });
  await waitFor(() => d.timeline.filter((e) => e.state === "connected").length >= 2, 5000, "reconnected");
  const texts = d.timeline.map((e) => e.text).concat(d.shell.diagnostics.snapshot().map((e) => e.reason + " " + e.code));
  for (const t of texts) {
    assert.ok(!t.includes(r.symmetricKey), "the key leaked: " + t);
    assert.ok(!/SharedAccessSignature|sig=/i.test(t), "a token leaked: " + t);
  }
  // telemetry flows over the plaintext link (wait for it: the reconnect may come before the first tick)
  await waitFor(() => d.hubCounts(h3.received(d.id)).receivedByHub > 0, 5000, "telemetry at the plaintext hub");
});

// ---- the command line (the built CLI, as a user runs it) ------------------------------------

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "linkguard.js");

function cli(args: string[], timeoutMs = 30000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(process.execPath, [BIN, ...args], { timeout: timeoutMs, env: Object.assign({}, process.env, { NO_COLOR: "1" }) }, (err, stdout, stderr) => {
      resolve({ code: c.exitCode, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const REPORT_KEYS = ["devices", "durationS", "seed", "faultsInjected", "sessionsEstablished", "connectAttempts",
  "linkCreationConflicts", "conflictsWithOpenLink", "hubDiagnostics", "telemetry", "reconnectDelayMs", "halted"];

test("linkguard device --json: one report object on stdout, the timeline on stderr", async () => {
  const dir = mkdtempSync(join(tmpdir(), "linkguard-device-"));
  try {
    const r = registry.devices[6];
    // the emulator's hub name is "localhost": a device that dials 127.0.0.1 names that host in its
    // username and token, so this hub must take that name
    const h = await startHub({ registry, hubName: "127.0.0.1", seed: 14 });
    hubs.push(h);
    writeFileSync(join(dir, "ca.pem"), h.caPem);
    writeFileSync(join(dir, "dev.json"), JSON.stringify({ host: "127.0.0.1", port: h.port, deviceId: r.deviceId, auth: { symmetricKey: r.symmetricKey } }));
    const res = await cli(["device", "--config", join(dir, "dev.json"), "--ca", join(dir, "ca.pem"), "--duration", "1.5", "--rate", "10", "--json"]);
    assert.equal(res.code, 0, res.stderr);
    const rep = JSON.parse(res.stdout);
    assert.equal(rep.deviceId, r.deviceId);
    assert.equal(rep.connects, 1);
    assert.ok(rep.telemetry.sent > 0 && rep.telemetry.acknowledged === rep.telemetry.sent);
    assert.match(res.stderr, /connected\s+link\.connected/);
    assert.ok(!res.stdout.includes(r.symmetricKey) && !res.stderr.includes(r.symmetricKey), "the key was printed");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("linkguard device: an invalid configuration exits 1 with path-precise errors; bad flags and files exit 2", async () => {
  const dir = mkdtempSync(join(tmpdir(), "linkguard-device-"));
  try {
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ host: "localhost", deviceId: "a b", auth: { symmetricKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" }, port: 0 }));
    const bad = await cli(["device", "--config", join(dir, "bad.json")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /\$\.deviceId: .*\(format\)/);
    assert.match(bad.stderr, /\$\.port: must be in 1\.\.65535 \(range\)/);
    assert.ok(!bad.stderr.includes("c2VjcmV0LXNlY3JldC1zZWNyZXQ="));
    assert.equal((await cli(["device", "--config", join(dir, "missing.json")])).code, 2);
    assert.equal((await cli(["device", "--config", join(dir, "bad.json"), "--frobnicate"])).code, 2);
    assert.equal((await cli(["device"])).code, 2);
    assert.equal((await cli(["sim", "--devices", "many"])).code, 2);
    assert.equal((await cli(["sim", "--faults", "meteor"])).code, 2);
    assert.equal((await cli(["sim", "--linger", "9-3"])).code, 2);
    for (const cmd of ["sim", "device", "start"]) {
      const h = await cli([cmd, "--help"]);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp("usage: linkguard " + cmd));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("linkguard sim --json prints exactly the DESIGN.md report; --html writes a self-contained page", async () => {
  const dir = mkdtempSync(join(tmpdir(), "linkguard-sim-"));
  try {
    const html = join(dir, "sim.html");
    const res = await cli(["sim", "--devices", "3", "--duration", "3", "--faults", "storm", "--seed", "2", "--linger", "50-300", "--json", "--html", html], 60000);
    assert.equal(res.code, 0, res.stderr);
    const rep = JSON.parse(res.stdout);
    assert.deepEqual(Object.keys(rep), REPORT_KEYS);
    assert.deepEqual(Object.keys(rep.telemetry), ["sent", "acknowledged", "receivedByHub", "lost", "duplicates", "droppedByPolicy"]);
    assert.deepEqual(Object.keys(rep.reconnectDelayMs), ["min", "p50", "p99", "max"]);
    assert.equal(rep.devices, 3);
    assert.equal(rep.faultsInjected, 1);
    assert.equal(rep.conflictsWithOpenLink, 0);
    assert.equal(rep.linkCreationConflicts, 0);
    assert.equal(rep.telemetry.lost, 0);
    assert.ok(rep.reconnectDelayMs.min >= 2000, "the default floor");
    const page = readFileSync(html, "utf8");
    assert.match(page, /<svg /);
    assert.ok(!/(src|href)=["']https?:/.test(page), "no network resources");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
