// Interop with a real broker: Debian's mosquitto, started here on a free loopback port with TLS
// and a certificate from src/sim/certs.ts. The same device (the real core, the node shell) that
// talks to the emulator connects, publishes QoS 1 and gets PUBACKs; then Mosquitto's session
// takeover: a second client with the same client id kicks the device, which reconnects after its
// backoff, and, when the other client keeps coming back, suspects a duplicate identity and backs
// off to its cap instead of fighting.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { validateConfig } from "../../src/core/config.js";
import { createNodeEngine } from "../../src/platform/node/engine.js";
import { makeCerts } from "../../src/sim/certs.js";
import { SimDevice, waitFor } from "../../src/sim/device.js";
import { need, requireNeed, skipUnless } from "../helpers/needs.js";

const MOSQUITTO = need("mosquitto");

const DEVICE_ID = "dev-0001";
const KEY = Buffer.from("mosquitto-interop-test-key-32byt").toString("base64");
const FLOOR_MS = 400;
const CAP_MS = 3000;

let broker: ChildProcess | null = null;
let brokerLog = "";
let dir = "";
let port = 0;
let caPem = "";
const devices: SimDevice[] = [];
const clients: mqtt.MqttClient[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function canConnect(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: "127.0.0.1", port: p });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

describe("interop with Debian's mosquitto", { skip: skipUnless(MOSQUITTO) }, () => {
before(async () => {
  const bin = requireNeed(MOSQUITTO);
  const certs = makeCerts({ names: ["localhost", "127.0.0.1"] });
  caPem = certs.caPem;
  dir = mkdtempSync(join(tmpdir(), "linkguard-mosquitto-"));
  // mosquitto started as root drops to its own user: it must be able to read the files
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "ca.pem"), certs.caPem, { mode: 0o644 });
  writeFileSync(join(dir, "cert.pem"), certs.certPem, { mode: 0o644 });
  writeFileSync(join(dir, "key.pem"), certs.keyPem, { mode: 0o644 });
  port = await freePort();
  writeFileSync(join(dir, "mosquitto.conf"), [
    `listener ${port} 127.0.0.1`,
    `cafile ${join(dir, "ca.pem")}`,
    `certfile ${join(dir, "cert.pem")}`,
    `keyfile ${join(dir, "key.pem")}`,
    "allow_anonymous true",
    "persistence false",
    "log_dest stderr",
    "",
  ].join("\n"));
  broker = spawn(bin, ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  broker.stderr!.on("data", (b: Buffer) => { brokerLog = (brokerLog + b.toString()).slice(-4000); });
  const t0 = Date.now();
  while (!(await canConnect(port))) {
    if (broker.exitCode !== null || Date.now() - t0 > 5000) throw new Error("mosquitto did not start:\n" + brokerLog);
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  for (const c of clients) c.end(true);
  await Promise.all(devices.map((d) => d.stop(1000)));
  if (broker && broker.exitCode === null) {
    const b = broker;
    await new Promise<void>((r) => { b.once("exit", () => r()); b.kill("SIGTERM"); setTimeout(r, 2000); });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function device(rate: number): SimDevice {
  const r = validateConfig({
    host: "localhost", port, deviceId: DEVICE_ID, auth: { symmetricKey: KEY },
    keepaliveSec: 2, connectTimeoutMs: 2000,
    backoff: { baseMs: 100, capMs: CAP_MS, floorMs: FLOOR_MS, stableMs: 2000 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  // the host is "localhost": resolved by the system, checked against the broker's certificate
  const d = new SimDevice({ cfg: r.config, engine: createNodeEngine(r.config, 5), ca: caPem, ratePerS: rate, seed: 5 });
  devices.push(d);
  return d;
}

/** A plain MQTT client of the broker (the mqtt package), over the same TLS. */
function client(clientId: string, reconnectPeriod: number): mqtt.MqttClient {
  const c = mqtt.connect({
    protocol: "mqtts", host: "localhost", port, ca: caPem, servername: "localhost", rejectUnauthorized: true,
    protocolVersion: 4, clientId, clean: false, reconnectPeriod, connectTimeout: 2000,
  });
  c.on("error", () => {});
  clients.push(c);
  return c;
}

test("the device connects to mosquitto over TLS, publishes QoS 1 and gets PUBACKs", async () => {
  const seen = new Set<string>();
  const sub = client("observer", 0);
  await new Promise<void>((resolve, reject) => {
    sub.once("connect", () => sub.subscribe(`devices/${DEVICE_ID}/messages/events/#`, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  });
  sub.on("message", (_t, payload) => { const m = /"id":"([^"]+)"/.exec(payload.toString()); if (m) seen.add(m[1]); });
  const d = device(20);
  d.start();
  await waitFor(() => d.state() === "connected", 5000, "connected to mosquitto");
  await waitFor(() => d.counts().acknowledged >= 20, 5000, "20 PUBACKs");
  d.stopTelemetry();
  await waitFor(() => d.pending() === 0, 5000, "every message acknowledged");
  await waitFor(() => seen.size === d.counts().sent, 3000, "the subscriber saw every message");
  assert.equal(d.counts().acknowledged, d.counts().sent);
  sub.end(true);
});

test("session takeover: a second client with the same id kicks the device; it reconnects after its backoff", async () => {
  const d = devices[0];
  assert.equal(d.state(), "connected");
  const mark = d.timeline.length;
  const other = client(DEVICE_ID, 0); // connects once, never reconnects
  await waitFor(() => d.timeline.slice(mark).some((e) => e.state === "waiting"), 5000, "the device to be kicked");
  const w = d.timeline.slice(mark).find((e) => e.state === "waiting")!;
  assert.equal(w.code, "remote.close");
  // the device's reconnect takes the session back from the other client
  await waitFor(() => d.state() === "connected" && d.timeline.slice(mark).some((e) => e.state === "connected"), 5000, "the device to reconnect");
  for (const ms of d.reconnectDelays()) assert.ok(ms >= FLOOR_MS, `reconnected after ${ms} ms, below the floor`);
  other.end(true);
  assert.ok(d.shell.transport.maxAlive <= 1);
});

test("a client that keeps taking the id over: the device suspects a duplicate and backs off to its cap", async () => {
  const d = devices[0];
  await waitFor(() => d.state() === "connected", 5000, "connected");
  const mark = d.timeline.length;
  const opens = d.opens;
  const clone = client(DEVICE_ID, 150); // comes back 150 ms after every kick
  await waitFor(() => d.timeline.slice(mark).some((e) => e.code === "duplicate.suspected"), 12000, "duplicate.suspected");
  const w = d.timeline.slice(mark).find((e) => e.code === "duplicate.suspected" && e.state === "waiting")!;
  assert.ok((w.delayMs || 0) >= CAP_MS / 2, `waits near the cap (${w.delayMs} ms)`);
  clone.end(true);
  await waitFor(() => d.state() === "connected", CAP_MS + 5000, "the device back once the other client is gone");
  assert.ok(d.opens - opens <= 8, `no fight: ${d.opens - opens} connects`);
  d.publishOne();
  await waitFor(() => d.pending() === 0, 5000, "a PUBACK after the takeover fight");
  assert.ok(d.shell.transport.maxAlive <= 1);
});
});
