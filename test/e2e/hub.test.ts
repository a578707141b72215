// End-to-end tests of the IoT Hub emulator over real TLS on loopback, with MQTT clients
// written here on mqtt-packet. The clients trust only the run's generated CA
// (rejectUnauthorized, servername "localhost"). Timings are small and only order events:
// the assertions are about behaviour.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { generate, parser as mqttParser, type IConnackPacket, type Packet } from "mqtt-packet";
import common from "azure-iot-common";
import { makeCerts, readCa, writeCerts, type Certs } from "../../src/sim/certs.js";
import { startHub, type HubEmulator, type HubOptions } from "../../src/sim/hub/emulator.js";
import { parseDiagLine, diagProperties, type DiagRecord } from "../../src/sim/diaglog.js";
import { makeRegistry, parseRegistry, loadRegistry, type Registry } from "../../src/sim/registry.js";
import { profileFaults, FAULT_PROFILES, type ScheduledFault } from "../../src/sim/faults.js";
import { hubCommand } from "../../src/cli/hub.js";

const { SharedAccessSignature, encodeUriComponentStrict } = common;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let certs: Certs;
const registry: Registry = makeRegistry(4, 99);
const KEY = (i: number): string => registry.devices[i].symmetricKey;
const ID = (i: number): string => registry.devices[i].deviceId;
const hubs: HubEmulator[] = [];
const clients: Client[] = [];
const tmpDirs: string[] = [];

before(() => {
  certs = makeCerts();
});

after(async () => {
  for (const c of clients) c.destroy();
  for (const h of hubs) await h.close();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

async function hub(opts: Partial<HubOptions> = {}): Promise<HubEmulator> {
  const h = await startHub({ registry, certs, lingerMs: { min: 50, max: 100 }, seed: 3, ...opts });
  hubs.push(h);
  return h;
}

function token(deviceId: string, key: string, lifeS = 3600, host = "localhost"): string {
  const sr = encodeUriComponentStrict(host + "/devices/" + deviceId);
  return SharedAccessSignature.create(sr, "", key, Math.floor(Date.now() / 1000) + lifeS).toString();
}

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(5);
  }
}

/** A minimal MQTT 3.1.1 client on mqtt-packet. */
class Client {
  readonly socket: Socket;
  readonly packets: Packet[] = [];
  closed = false;
  parseError: Error | null = null;
  private waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    const p = mqttParser({ protocolVersion: 4 });
    p.on("packet", (pk: Packet) => {
      this.packets.push(pk);
      this.wake();
    });
    p.on("error", (e: Error) => {
      this.parseError = e;
      this.wake();
    });
    socket.on("data", (b: Buffer) => p.parse(b));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    clients.push(this);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(h: HubEmulator, extra: Partial<ConnectionOptions> = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s: TLSSocket = tlsConnect({ host: "127.0.0.1", port: h.port, ca: h.caPem, servername: "localhost", rejectUnauthorized: true, ...extra });
      s.once("secureConnect", () => resolve(new Client(s)));
      s.once("error", reject);
      s.once("close", () => reject(new Error("closed during the TLS handshake")));
    });
  }

  static openPlain(h: HubEmulator): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host: "127.0.0.1", port: h.port });
      s.once("connect", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }

  send(p: Packet): void {
    this.socket.write(generate(p));
  }

  /** the next packet of this kind (consumed), or null when the link closes or time runs out */
  async next(cmd: string, timeoutMs = 2000): Promise<Packet | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0];
      if (this.closed || Date.now() >= end) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    await until("the socket to close", () => this.closed, timeoutMs).catch(() => {});
    return this.closed;
  }

  async connect(deviceId: string, o: { key?: string; password?: string; username?: string; clean?: boolean; keepalive?: number } = {}): Promise<IConnackPacket | null> {
    this.send({
      cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: o.clean ?? false, keepalive: o.keepalive ?? 60,
      clientId: deviceId, username: o.username ?? "localhost/" + deviceId + "/?api-version=2021-04-12",
      password: Buffer.from(o.password ?? token(deviceId, o.key ?? KEY(registry.devices.findIndex((d) => d.deviceId === deviceId)))),
    });
    return (await this.next("connack")) as IConnackPacket | null;
  }

  publish(deviceId: string, body: string, messageId: number, qos: 0 | 1 = 1, dup = false): void {
    this.send({ cmd: "publish", topic: "devices/" + deviceId + "/messages/events/", payload: Buffer.from(body), qos, dup, retain: false, messageId });
  }

  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

async function connected(h: HubEmulator, i: number, o: { clean?: boolean; keepalive?: number } = {}): Promise<Client> {
  const c = await Client.open(h);
  const ack = await c.connect(ID(i), o);
  assert.equal(ack?.returnCode, 0);
  return c;
}

function codes(h: HubEmulator): string[] {
  return h.diagnostics().map((d) => (d as DiagRecord).resultType ?? d.operationName);
}

// ---------------------------------------------------------------------------------------

describe("connect and telemetry", () => {
  test("accepts a device and acknowledges QoS 1 telemetry; records every message", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    assert.equal(h.connected(ID(0)), true);
    c.publish(ID(0), "m1", 7);
    const ack = await c.next("puback");
    assert.equal(ack?.messageId, 7);
    c.publish(ID(0), "m1", 7, 1, true);
    await c.next("puback");
    c.publish(ID(0), "m2", 0, 0);
    await until("3 messages", () => h.received(ID(0)).length === 3);
    const r = h.received(ID(0));
    assert.deepEqual(r.map((m) => [Buffer.from(m.payload).toString(), m.dup, m.qos]), [["m1", false, 1], ["m1", true, 1], ["m2", false, 0]]);
    assert.equal(r[0].topic, "devices/" + ID(0) + "/messages/events/");
    assert.equal(h.stats().connectsAccepted, 1);
    assert.equal(h.openLinks(ID(0)), 1);
  });

  test("answers PINGREQ and ends the link at once on DISCONNECT", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.send({ cmd: "pingreq" });
    assert.ok(await c.next("pingresp"));
    c.send({ cmd: "disconnect" });
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.connected(ID(0)), false);
    const last = h.diagnostics().at(-1) as DiagRecord;
    assert.equal(last.operationName, "deviceDisconnect");
    assert.equal(last.resultType, undefined);
  });

  test("bad token -> CONNACK 5 and 401003; unknown device -> CONNACK 5; bad username -> CONNACK 4", async () => {
    const h = await hub();
    const c1 = await Client.open(h);
    assert.equal((await c1.connect(ID(0), { key: KEY(1) }))?.returnCode, 5);
    assert.equal(await c1.waitClosed(), true);
    const c2 = await Client.open(h);
    assert.equal((await c2.connect("nobody", { key: KEY(0) }))?.returnCode, 5);
    const c3 = await Client.open(h);
    assert.equal((await c3.connect(ID(0), { username: "otherhub/" + ID(0) + "/?api-version=2021-04-12" }))?.returnCode, 4);
    const c4 = await Client.open(h);
    assert.equal((await c4.connect(ID(0), { password: token(ID(0), KEY(0), -10) }))?.returnCode, 5);
    const c5 = await Client.open(h);
    assert.equal((await c5.connect(ID(0), { username: "LOCALHOST/" + ID(0) + "/?api-version=2018-06-30&DeviceClientType=x" }))?.returnCode, 0);
    assert.deepEqual(codes(h), ["401003", "404001", "400004", "401003", "deviceConnect"]);
    assert.equal(h.stats().connectAttempts, 5);
    assert.equal(h.stats().connectsAccepted, 1);
  });

  test("clean session 1 is accepted", async () => {
    const h = await hub();
    const c = await Client.open(h);
    const ack = await c.connect(ID(0), { clean: true });
    assert.equal(ack?.returnCode, 0);
    assert.equal(ack?.sessionPresent, false);
  });
});

describe("protocol rules", () => {
  test("QoS 2 closes the link (400003)", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.send({ cmd: "publish", topic: "devices/" + ID(0) + "/messages/events/", payload: Buffer.from("x"), qos: 2, dup: false, retain: false, messageId: 1 });
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.connected(ID(0)), false);
    assert.deepEqual(codes(h), ["deviceConnect", "400003"]);
  });

  test("PUBLISH to another device's topic closes the link", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.publish(ID(1), "x", 1);
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.received(ID(0)).length, 0);
    assert.equal(h.received(ID(1)).length, 0);
  });

  test("SUBSCRIBE: devicebound granted QoS 1, anything else 0x80", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.send({ cmd: "subscribe", messageId: 3, subscriptions: [
      { topic: "devices/" + ID(0) + "/messages/devicebound/#", qos: 1 },
      { topic: "devices/" + ID(1) + "/messages/devicebound/#", qos: 1 },
      { topic: "#", qos: 0 },
    ] });
    const s = await c.next("suback");
    assert.deepEqual((s as { granted: number[] }).granted, [1, 0x80, 0x80]);
  });

  test("garbage from the device closes the link (400006)", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.socket.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]));
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.connected(ID(0)), false);
    assert.ok(codes(h).includes("400006"));
  });

  test("a first packet that is not CONNECT closes the link", async () => {
    const h = await hub();
    const c = await Client.open(h);
    c.send({ cmd: "pingreq" });
    assert.equal(await c.waitClosed(), true);
  });

  test("keepalive: silence for 1.5x keepalive closes the link with 404104 (idle timeout)", async () => {
    const h = await hub();
    const c = await connected(h, 0, { keepalive: 1 });
    assert.equal(await c.waitClosed(2500), true);
    assert.equal(h.connected(ID(0)), false);
    const rec = h.diagnostics().at(-1) as DiagRecord;
    assert.equal(rec.resultType, "404104");
    assert.match(diagProperties(rec).errorMessage ?? "", /idle timeout/);
  });
});

describe("cloud-to-device", () => {
  test("delivers QoS 1, redelivers with DUP on a persistent reconnect until PUBACK", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "devices/" + ID(0) + "/messages/devicebound/#", qos: 1 }] });
    await c.next("suback");
    h.sendC2d(ID(0), "hello", { color: "red" });
    const p1 = (await c.next("publish")) as Packet & { topic: string; dup: boolean; qos: number; payload: Buffer };
    assert.equal(p1.qos, 1);
    assert.equal(p1.dup, false);
    assert.match(p1.topic, new RegExp("^devices/" + ID(0) + "/messages/devicebound/.*color=red"));
    c.send({ cmd: "disconnect" }); // no PUBACK
    await c.waitClosed();
    h.sendC2d(ID(0), "queued");
    const c2 = await Client.open(h);
    const ack = await c2.connect(ID(0));
    assert.equal(ack?.sessionPresent, true);
    const again = (await c2.next("publish")) as Packet & { dup: boolean; payload: Buffer; messageId: number };
    assert.equal(again.payload.toString(), "hello");
    assert.equal(again.dup, true);
    const queued = (await c2.next("publish")) as Packet & { dup: boolean; payload: Buffer; messageId: number };
    assert.equal(queued.payload.toString(), "queued");
    assert.equal(queued.dup, false);
    c2.send({ cmd: "puback", messageId: again.messageId });
    c2.send({ cmd: "puback", messageId: queued.messageId });
    await until("the queue to empty", () => h.pendingC2d(ID(0)) === 0);
  });

  test("clean session 1 drops queued messages", async () => {
    const h = await hub();
    h.sendC2d(ID(0), "lost");
    assert.equal(h.pendingC2d(ID(0)), 1);
    const c = await Client.open(h);
    await c.connect(ID(0), { clean: true });
    assert.equal(h.pendingC2d(ID(0)), 0);
  });
});

describe("the hub's view of a link: linger and conflicts", () => {
  test("a second CONNECT while the first socket is open: conflictsWithOpenLink 1", async () => {
    const h = await hub();
    const first = await connected(h, 0);
    const second = await connected(h, 0);
    assert.equal(await first.waitClosed(), true, "the hub closes the old link");
    assert.equal(second.closed, false);
    const s = h.stats();
    assert.equal(s.linkCreationConflicts, 1);
    assert.equal(s.conflictsWithOpenLink, 1);
    assert.equal(s.diagnostics["409002 LinkCreationConflict"], 1);
    assert.equal(s.diagnostics["400027 ConnectionForcefullyClosedOnNewConnection"], 1);
  });

  test("a CONNECT after the client closed but inside the linger: a conflict, not with an open link", async () => {
    const h = await hub({ lingerMs: { min: 3000, max: 3000 } });
    const first = await connected(h, 0);
    first.destroy();
    await until("the hub to see the close", () => h.openLinks(ID(0)) === 0);
    assert.equal(h.connected(ID(0)), true, "the hub still considers the device connected");
    await connected(h, 0);
    const s = h.stats();
    assert.equal(s.linkCreationConflicts, 1);
    assert.equal(s.conflictsWithOpenLink, 0);
  });

  test("a CONNECT after the linger: no conflict, and a 404104 line", async () => {
    const h = await hub();
    const first = await connected(h, 0);
    first.destroy();
    await until("the linger to end", () => !h.connected(ID(0)));
    await connected(h, 0);
    const s = h.stats();
    assert.equal(s.linkCreationConflicts, 0);
    assert.equal(s.diagnostics["404104 DeviceConnectionClosedRemotely"], 1);
    assert.deepEqual(codes(h), ["deviceConnect", "404104", "deviceConnect"]);
  });

  test("admission limit: over admitPerS new connections, CONNACK 3 and 429001", async () => {
    const h = await hub({ admitPerS: 2 });
    const acks: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(h);
      acks.push((await c.connect(ID(i)))?.returnCode ?? -1);
    }
    assert.deepEqual(acks, [0, 0, 3]);
    assert.equal(h.stats().throttled, 1);
    assert.equal(h.stats().diagnostics["429001 ThrottlingException"], 1);
  });
});

describe("faults", () => {
  test("drop: the socket closes without a packet; the hub's view lingers, then 404104", async () => {
    const h = await hub({ lingerMs: { min: 1000, max: 1000 } });
    const c = await connected(h, 0);
    h.inject(ID(0), { kind: "drop", lingerMs: 80 });
    assert.equal(await c.waitClosed(), true);
    assert.equal(c.packets.length, 0);
    assert.equal(h.connected(ID(0)), true);
    await until("the linger to end", () => !h.connected(ID(0)));
    assert.ok(codes(h).includes("404104"));
    assert.equal(h.stats().faultsInjected, 1);
  });

  test("halfOpen: no answers, the device's close is ignored until 1.5x keepalive", async () => {
    const h = await hub();
    const c = await connected(h, 0, { keepalive: 1 });
    h.inject(ID(0), { kind: "halfOpen" });
    c.send({ cmd: "pingreq" });
    assert.equal(await c.next("pingresp", 300), null);
    c.destroy();
    await until("the hub to see the close", () => h.openLinks(ID(0)) === 0);
    await sleep(100);
    assert.equal(h.connected(ID(0)), true, "ignored");
    await until("the hub's keepalive timer", () => !h.connected(ID(0)), 2500);
    assert.equal((h.diagnostics().at(-1) as DiagRecord).resultType, "404104");
  });

  test("halfOpen then a reconnect before the timer: a conflict, with the open link if the device did not close it", async () => {
    const h = await hub();
    const c = await connected(h, 0, { keepalive: 30 });
    h.inject(ID(0), { kind: "halfOpen" });
    await connected(h, 0);
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.stats().conflictsWithOpenLink, 1);
  });

  test("refuseTls: the next handshake is cut, the one after succeeds", async () => {
    const h = await hub();
    h.inject(ID(0), { kind: "refuseTls" });
    await assert.rejects(Client.open(h));
    await connected(h, 0);
    assert.equal(h.stats().tlsRefused, 1);
  });

  test("delayConnack: CONNACK comes after the delay", async () => {
    const h = await hub();
    h.inject(ID(0), { kind: "delayConnack", ms: 300 });
    const c = await Client.open(h);
    const t0 = Date.now();
    const ack = await c.connect(ID(0));
    assert.equal(ack?.returnCode, 0);
    assert.ok(Date.now() - t0 >= 250, "delayed");
  });

  test("withholdConnack: the next CONNECT is never answered; the one after is", async () => {
    const h = await hub();
    h.inject(ID(0), { kind: "withholdConnack" });
    const c = await Client.open(h);
    c.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: false, keepalive: 60, clientId: ID(0),
      username: "localhost/" + ID(0) + "/?api-version=2021-04-12", password: Buffer.from(token(ID(0), KEY(0))) });
    assert.equal(await c.next("connack", 300), null);
    assert.equal(c.closed, false);
    assert.equal(h.connected(ID(0)), false);
    c.destroy();
    await connected(h, 0);
  });

  test("connack: the next CONNECT gets the scripted code", async () => {
    const h = await hub();
    h.inject(ID(0), { kind: "connack", code: 2 });
    const c = await Client.open(h);
    assert.equal((await c.connect(ID(0)))?.returnCode, 2);
    assert.equal(await c.waitClosed(), true);
    await connected(h, 0);
  });

  test("expireToken: link closed with 401003; the same token gets CONNACK 5, a fresh one is accepted", async () => {
    const h = await hub();
    const tok = token(ID(0), KEY(0));
    const c = await Client.open(h);
    assert.equal((await c.connect(ID(0), { password: tok }))?.returnCode, 0);
    h.inject(ID(0), { kind: "expireToken" });
    assert.equal(await c.waitClosed(), true);
    assert.equal(h.connected(ID(0)), false);
    const c2 = await Client.open(h);
    assert.equal((await c2.connect(ID(0), { password: tok }))?.returnCode, 5);
    const c3 = await Client.open(h);
    assert.equal((await c3.connect(ID(0), { password: token(ID(0), KEY(0), 3601) }))?.returnCode, 0);
    assert.deepEqual(codes(h), ["deviceConnect", "401003", "404104", "401003", "deviceConnect"]);
  });

  test("throttle: CONNACK 3 with 429001 during the window, accepted after it", async () => {
    const h = await hub();
    h.inject(ID(0), { kind: "throttle", ms: 200 });
    const c = await Client.open(h);
    assert.equal((await c.connect(ID(0)))?.returnCode, 3);
    await sleep(220);
    await connected(h, 0);
    assert.equal(h.stats().diagnostics["429001 ThrottlingException"], 1);
  });

  test("garbage: the device receives bytes that are no MQTT packet", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    h.inject(ID(0), { kind: "garbage" });
    await until("a parse error", () => c.parseError !== null);
  });

  test("clone: a second client with the device's identity kicks it; counted as cloneConflicts", async () => {
    const h = await hub();
    const c = await connected(h, 0);
    h.inject(ID(0), { kind: "clone", ms: 700 });
    assert.equal(await c.waitClosed(), true);
    await until("the clone's conflict", () => h.stats().cloneConflicts >= 1);
    // the device comes back; the clone gets kicked and reconnects, kicking the device again
    const c2 = await connected(h, 0);
    assert.equal(await c2.waitClosed(), true);
    const s = h.stats();
    assert.ok(s.cloneConflicts >= 2);
    assert.equal(s.linkCreationConflicts, 0);
    assert.equal(s.conflictsWithOpenLink, 0);
    assert.ok(s.cloneConnects >= 2);
    await until("the clone to stop (DISCONNECT)", () => !h.connected(ID(0)), 2000);
    await connected(h, 0);
  });

  test("storm: every link dropped at once", async () => {
    const h = await hub();
    const cs = [await connected(h, 0), await connected(h, 1), await connected(h, 2)];
    h.inject("*", { kind: "storm" });
    for (const c of cs) assert.equal(await c.waitClosed(), true);
    await until("the lingers to end", () => [0, 1, 2].every((i) => !h.connected(ID(i))));
    assert.equal(h.stats().diagnostics["404104 DeviceConnectionClosedRemotely"], 3);
  });

  test("a fault for every device ('*') arms each of them", async () => {
    const h = await hub();
    h.inject("*", { kind: "connack", code: 3 });
    for (const i of [0, 1]) {
      const c = await Client.open(h);
      assert.equal((await c.connect(ID(i)))?.returnCode, 3);
    }
  });
});

describe("TLS and transports", () => {
  test("TLS 1.2 with plain RSA key exchange (AES128-GCM-SHA256, AES128-SHA256), for Espruino", async () => {
    const h = await hub();
    for (const cipher of ["AES128-GCM-SHA256", "AES128-SHA256"]) {
      const c = await Client.open(h, { maxVersion: "TLSv1.2", ciphers: cipher });
      assert.equal((c.socket as TLSSocket).getCipher().standardName.startsWith("TLS_RSA_WITH_AES_128"), true);
      c.destroy();
    }
  });

  test("TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 on P-256, for Moddable", async () => {
    const h = await hub();
    const c = await Client.open(h, { maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-GCM-SHA256", ecdhCurve: "prime256v1" });
    const s = c.socket as TLSSocket;
    assert.equal(s.getCipher().name, "ECDHE-RSA-AES128-GCM-SHA256");
    assert.equal((s.getEphemeralKeyInfo() as { name?: string } | null)?.name, "prime256v1");
    assert.match(String(s.getPeerCertificate(true).issuerCertificate?.subject?.CN), /^linkguard emulator CA/);
  });

  test("TLS 1.1 is refused; an untrusted CA is refused", async () => {
    const h = await hub();
    await assert.rejects(Client.open(h, { minVersion: "TLSv1", maxVersion: "TLSv1.1" }));
    await assert.rejects(Client.open(h, { ca: makeCerts().caPem }));
  });

  test("plaintext on loopback works; plaintext elsewhere is refused", async () => {
    const h = await hub({ plaintext: true });
    const c = await Client.openPlain(h);
    assert.equal((await c.connect(ID(0)))?.returnCode, 0);
    await assert.rejects(startHub({ registry, certs, plaintext: true, bind: "0.0.0.0" }), /loopback/);
  });
});

describe("diagnostic log", () => {
  test("every line parses with parseDiagLine and no line holds a key or a token", async () => {
    const lines: string[] = [];
    const h = await hub({ onDiag: (r) => lines.push(JSON.stringify(r)) });
    const tok = token(ID(0), KEY(0));
    const c = await Client.open(h);
    await c.connect(ID(0), { password: tok });
    const bad = await Client.open(h);
    await bad.connect(ID(0), { password: tok.replace(/sig=./, "sig=A") });
    // the hub closes the refused link; a drop injected before that would drop it too (seen under load)
    await until("the refused link closed", () => bad.closed);
    h.inject(ID(0), { kind: "drop", lingerMs: 10 });
    await until("404104", () => lines.some((l) => l.includes("404104")));
    assert.equal(lines.length, 3, lines.join("\n"));
    for (const line of lines) {
      const rec = parseDiagLine(line);
      assert.ok(rec, line);
      assert.equal(rec.category, "Connections");
      const p = diagProperties(rec);
      assert.equal(p.protocol, "Mqtt");
      assert.equal(p.maskedIpAddress, "127.0.0.XXX");
      for (const d of registry.devices) assert.ok(!line.includes(d.symmetricKey));
      assert.ok(!line.includes("SharedAccessSignature") && !line.includes("sig="));
    }
    const conn = parseDiagLine(lines[0]);
    assert.equal(conn?.operationName, "deviceConnect");
    assert.equal(conn?.level, "Information");
    assert.equal(typeof JSON.parse(diagProperties(conn!).authType ?? "null"), "object");
  });

  test("parseDiagLine rejects malformed records", () => {
    const good = { time: new Date().toISOString(), resourceId: "/x", operationName: "deviceConnect", category: "Connections", level: "Error",
      resultType: "409002", resultDescription: "LinkCreationConflict", location: "local",
      properties: JSON.stringify({ deviceId: "d", protocol: "Mqtt", authType: null, maskedIpAddress: "10.0.0.XXX", statusCode: "409" }) };
    assert.ok(parseDiagLine(JSON.stringify(good)));
    const broken: object[] = [
      { ...good, category: "Routes" }, { ...good, time: "yesterday" }, { ...good, resultDescription: undefined },
      { ...good, properties: { deviceId: "d" } }, { ...good, properties: "{" }, { ...good, operationName: "connect" },
      { ...good, properties: JSON.stringify({ deviceId: "d", protocol: "Mqtt", authType: null, maskedIpAddress: "10.0.0.7", statusCode: null }) },
    ];
    for (const b of broken) assert.equal(parseDiagLine(JSON.stringify(b)), null, JSON.stringify(b));
    assert.equal(parseDiagLine("not json"), null);
  });
});

describe("registry, certificates, profiles, command", () => {
  test("registry errors name the JSON path", () => {
    const k = Buffer.alloc(32, 1).toString("base64");
    const doc = (devices: unknown[]): string => JSON.stringify({ hubName: "localhost", devices });
    assert.deepEqual(parseRegistry(doc([{ deviceId: "a", symmetricKey: k }, { deviceId: "b", symmetricKey: k }, { deviceId: "c", symmetricKey: "no!" }])),
      { ok: false, error: "$.devices[2].symmetricKey: not base64" });
    assert.equal((parseRegistry(doc([{ deviceId: "a", symmetricKey: k }, { deviceId: "a", symmetricKey: k }])) as { error: string }).error.startsWith("$.devices[1].deviceId: duplicate"), true);
    assert.equal((parseRegistry(doc([{ deviceId: "a/b", symmetricKey: k }])) as { error: string }).error.startsWith("$.devices[0].deviceId:"), true);
    assert.equal((parseRegistry(JSON.stringify({ devices: 3 })) as { error: string }).error, "$.devices: not an array");
    assert.equal((parseRegistry("{") as { error: string }).error.startsWith("$: not JSON"), true);
    assert.equal((loadRegistry("/nonexistent/devices.json") as { error: string }).error.startsWith("/nonexistent/devices.json: cannot read"), true);
  });

  test("makeRegistry is deterministic per seed", () => {
    assert.deepEqual(makeRegistry(3, 5), makeRegistry(3, 5));
    assert.notDeepEqual(makeRegistry(3, 5), makeRegistry(3, 6));
    const r = makeRegistry(12, 1);
    assert.equal(r.devices[11].deviceId, "dev-0012");
    assert.equal(Buffer.from(r.devices[0].symmetricKey, "base64").length, 32);
    assert.deepEqual(parseRegistry(JSON.stringify(r)), { ok: true, registry: r });
  });

  test("writeCerts writes ca.pem and ca.der; a later run can reuse the CA", () => {
    const dir = mkdtempSync(join(tmpdir(), "lg-certs-"));
    tmpDirs.push(dir);
    writeCerts(certs, dir);
    assert.equal(readFileSync(join(dir, "ca.pem"), "utf8"), certs.caPem);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, "ca.der"))), certs.caDer);
    const again = makeCerts({ ca: readCa(dir)!, names: ["localhost", "192.168.1.10"] });
    assert.equal(again.caPem, certs.caPem);
    assert.notEqual(again.certPem, certs.certPem);
  });

  test("profiles are deterministic; chaos holds only self-healing faults", () => {
    for (const p of FAULT_PROFILES) assert.deepEqual(profileFaults(p, 11, 120, 20), profileFaults(p, 11, 120, 20));
    assert.deepEqual(profileFaults("none", 1, 60, 5), []);
    const chaos: ScheduledFault[] = profileFaults("chaos", 11, 300, 50);
    const kinds = new Set(chaos.map((f) => f.fault.kind));
    for (const k of ["drop", "garbage", "delayConnack", "withholdConnack", "refuseTls", "connack", "throttle", "expireToken", "storm"]) assert.ok(kinds.has(k as never), k);
    assert.ok(!kinds.has("halfOpen") && !kinds.has("clone"));
    const fives = new Map<string, number>();
    for (const f of chaos) {
      if (f.fault.kind !== "connack") continue;
      assert.ok(f.fault.code === 3 || f.fault.code === 5);
      if (f.fault.code === 5) fives.set(f.deviceId, (fives.get(f.deviceId) ?? 0) + 1);
    }
    for (const n of fives.values()) assert.equal(n, 1);
    for (let i = 1; i < chaos.length; i++) assert.ok(chaos[i - 1].atMs <= chaos[i].atMs);
    assert.ok(profileFaults("clone", 1, 60, 20).every((f) => f.fault.kind === "clone"));
    assert.equal(profileFaults("storm", 1, 90, 20).length, 2);
  });

  test("hubCommand: --help exits 0, bad flags and files exit 2, and it runs until stopped", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    let text = "";
    let errText = "";
    out.on("data", (b: Buffer) => (text += b.toString()));
    err.on("data", (b: Buffer) => (errText += b.toString()));
    assert.equal(await hubCommand(["--help"], { stdout: out, stderr: err }), 0);
    assert.match(text, /--write-certs/);
    assert.equal(await hubCommand(["--bogus"], { stdout: out, stderr: err }), 2);
    assert.equal(await hubCommand(["--port", "x"], { stdout: out, stderr: err }), 2);
    assert.equal(await hubCommand(["--linger", "9-1"], { stdout: out, stderr: err }), 2);
    assert.equal(await hubCommand(["--devices", "/nonexistent.json"], { stdout: out, stderr: err }), 2);
    assert.equal(await hubCommand(["--plaintext", "--bind", "0.0.0.0"], { stdout: out, stderr: err }), 2);
    const dir = mkdtempSync(join(tmpdir(), "lg-hubcmd-"));
    tmpDirs.push(dir);
    const devices = join(dir, "devices.json");
    writeFileSync(devices, JSON.stringify(registry));
    text = "";
    const ac = new AbortController();
    const run = hubCommand(["--port", "0", "--devices", devices, "--write-certs", dir, "--diag", join(dir, "diag.jsonl")], { stdout: out, stderr: err, signal: ac.signal });
    await until("the port line", () => /port \d+/.test(text));
    const port = Number(/port (\d+)/.exec(text)![1]);
    const s = tlsConnect({ host: "127.0.0.1", port, ca: readFileSync(join(dir, "ca.pem")), servername: "localhost" });
    await new Promise<void>((r, j) => s.once("secureConnect", r).once("error", j));
    s.destroy();
    ac.abort();
    assert.equal(await run, 0);
    assert.ok(!text.includes(KEY(0)) && !errText.includes(KEY(0)));
  });
});
