import { test } from "node:test";
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { describe, explain } from "../../src/core/link.js";
import { sasToken } from "../../src/core/hub/sas.js";
import { testConfig, TEST_KEY } from "../helpers/config.js";
import { Driver, EPOCH, find } from "../helpers/driver.js";


test("start opens generation 1 and starts the connect timer", () => {
  const d = new Driver();
  const c = d.ev({ type: "start" });
  assert.deepEqual(find(c, "openTransport")[0], { type: "openTransport", gen: 1, host: "hub.example.net", port: 8883, tls: true });
  assert.deepEqual(find(c, "startTimer")[0], { type: "startTimer", kind: "connect", ms: 10000 });
  assert.equal(d.s.kind, "connecting");
});

test("transport opened sends an IoT Hub CONNECT: clean session 0, hub username, SAS password", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  const p = d.written(d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH }))[0];
  assert.equal(p.cmd, "connect");
  assert.equal(p.clientId, "dev-0001");
  assert.equal(p.clean, false);
  assert.equal(p.keepalive, 30);
  assert.equal(p.username, "hub.example.net/dev-0001/?api-version=2021-04-12");
  const pw = p.password.toString();
  assert.match(pw, /^SharedAccessSignature sr=hub.example.net%2Fdevices%2Fdev-0001&sig=[^&]+&se=1800003600$/);
  assert.ok(!pw.includes(TEST_KEY));
  assert.equal(d.s.kind, "handshaking");
});

test("CONNACK 0 connects, subscribes to cloud-to-device, and arms keepalive, stable and token timers", () => {
  const d = new Driver();
  const c = d.connect();
  assert.equal(d.s.kind, "connected");
  const sub = d.written(c).find((p) => p.cmd === "subscribe");
  assert.equal(sub.subscriptions[0].topic, "devices/dev-0001/messages/devicebound/#");
  assert.deepEqual(find(c, "startTimer").map((t) => t.kind).sort(), ["ping", "rx", "stable", "token"]);
  assert.equal(find(c, "notify")[0].status.code, "link.connected");
});

test("a remote close waits at least the floor and advances the attempt counter", () => {
  const d = new Driver();
  d.connect();
  d.at(5000);
  const c = d.remoteClose();
  assert.equal(d.s.kind, "waiting");
  const n = find(c, "notify")[0].status;
  assert.equal(n.code, "remote.close");
  assert.ok(n.delayMs >= 2000, `delay ${n.delayMs}`);
  assert.equal(d.s.attempt, 1);
  assert.equal(find(c, "openTransport").length, 0);
});

test("the attempt counter resets only after the stable period, not on CONNACK", () => {
  const d = new Driver();
  d.connect(); d.at(1000); d.remoteClose();
  d.at(10000); d.fire("backoff");
  d.ev({ type: "transportOpened", gen: d.s.gen, epochSec: EPOCH });
  d.data({ cmd: "connack", returnCode: 0, sessionPresent: true });
  assert.equal(d.s.attempt, 1, "CONNACK must not reset the counter");
  d.at(40000); d.fire("stable");
  assert.equal(d.s.attempt, 0);
});

test("repeated remote closes soon after CONNACK are reported as a suspected duplicate identity, at the cap", () => {
  const d = new Driver();
  let t = 0;
  let last: any = null;
  d.connect();
  for (let i = 0; i < 3; i++) {
    t += 500; d.at(t);
    last = find(d.remoteClose(), "notify")[0].status;
    t += 70000; d.at(t); d.fire("backoff");
    d.ev({ type: "transportOpened", gen: d.s.gen, epochSec: EPOCH });
    d.data({ cmd: "connack", returnCode: 0, sessionPresent: true });
  }
  assert.equal(last.code, "duplicate.suspected");
  assert.match(describe(last.code), /duplicate device identity/);
  assert.ok(last.delayMs >= 30000, `delay ${last.delayMs}`);
});

test("CONNACK 1 and 2 halt with the reason; an explicit start resumes", () => {
  for (const rc of [1, 2]) {
    const d = new Driver();
    d.ev({ type: "start" });
    d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
    d.data({ cmd: "connack", returnCode: rc, sessionPresent: false });
    assert.equal(d.s.kind, "closing");
    d.ev({ type: "transportClosed", gen: 1, cause: "local" });
    assert.equal(d.s.kind, "halted");
    assert.equal(d.s.code, `connack.${rc}`);
    d.at(5000);
    assert.equal(find(d.ev({ type: "start" }), "openTransport").length, 1);
  }
});

test("CONNACK 5 retries once with a fresh token at a long backoff, then halts", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
  d.data({ cmd: "connack", returnCode: 5, sessionPresent: false });
  const w = find(d.ev({ type: "transportClosed", gen: 1, cause: "remote" }), "notify")[0].status;
  assert.equal(w.state, "waiting");
  assert.ok(w.delayMs >= 30000);
  d.at(100000); d.fire("backoff");
  d.ev({ type: "transportOpened", gen: 2, epochSec: EPOCH + 100 });
  d.data({ cmd: "connack", returnCode: 5, sessionPresent: false });
  d.ev({ type: "transportClosed", gen: 2, cause: "remote" });
  assert.equal(d.s.kind, "halted");
  assert.equal(d.s.code, "auth.repeated");
});

test("a refused token with an unset clock is reported as clock not synced, and retried", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.ev({ type: "transportOpened", gen: 1, epochSec: 1000 });
  d.data({ cmd: "connack", returnCode: 5, sessionPresent: false });
  d.ev({ type: "transportClosed", gen: 1, cause: "remote" });
  assert.equal(d.s.kind, "waiting");
  assert.equal(d.s.code, "auth.clockNotSynced");
});

test("CONNACK 3 (throttled) waits a wider window than a plain drop", () => {
  const d1 = new Driver(testConfig(), 9), d2 = new Driver(testConfig(), 9);
  d1.ev({ type: "start" }); d1.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
  d1.data({ cmd: "connack", returnCode: 3, sessionPresent: false });
  const thr = find(d1.ev({ type: "transportClosed", gen: 1, cause: "remote" }), "notify")[0].status;
  d2.ev({ type: "start" });
  const drop = find(d2.ev({ type: "transportClosed", gen: 1, cause: "error" }), "notify")[0].status;
  assert.equal(thr.code, "connack.3");
  assert.ok(d1.s.prevHiMs > d2.s.prevHiMs);
  assert.ok(thr.delayMs > 2000 && drop.delayMs >= 2000);
});

test("a certificate rejection halts; a TLS failure retries", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.ev({ type: "transportClosed", gen: 1, cause: "cert", detail: "unable to verify" });
  assert.equal(d.s.kind, "halted");
  assert.equal(d.s.text, "unable to verify");
  assert.match(explain(d.s.code, d.s.text), /certificate was rejected \(unable to verify\)/);
  const e = new Driver();
  e.ev({ type: "start" });
  e.ev({ type: "transportClosed", gen: 1, cause: "tls" });
  assert.equal(e.s.kind, "waiting");
});

test("silence for 1.5x keepalive closes a half-open link; traffic keeps it", () => {
  const d = new Driver();
  d.connect();
  d.at(30000); d.data({ cmd: "pingresp" });
  d.at(45000);
  const c = d.fire("rx");
  assert.equal(d.s.kind, "connected", "heard from the hub 15 s ago");
  assert.deepEqual(find(c, "startTimer")[0], { type: "startTimer", kind: "rx", ms: 30000 });
  d.at(75000);
  d.fire("rx");
  assert.equal(d.s.kind, "closing");
  assert.equal(d.s.code, "keepalive.timeout");
});

test("the ping timer writes PINGREQ every keepalive", () => {
  const d = new Driver();
  d.connect();
  d.at(30000);
  const c = d.fire("ping");
  assert.equal(d.written(c)[0].cmd, "pingreq");
  assert.equal(find(c, "startTimer")[0].ms, 30000);
});

test("token renewal sends DISCONNECT, waits for the close, then reconnects with a fresh token", () => {
  const d = new Driver();
  d.connect();
  d.at(3300_000);
  const c = d.fire("token");
  assert.equal(d.written(c)[0].cmd, "disconnect");
  assert.equal(find(c, "closeTransport").length, 1);
  assert.equal(find(c, "openTransport").length, 0, "never overlap");
  const w = find(d.ev({ type: "transportClosed", gen: 1, cause: "local" }), "notify")[0].status;
  assert.equal(w.code, "token.renew");
  assert.ok(w.delayMs >= 2000 && w.delayMs <= 3000);
  assert.equal(d.s.attempt, 0, "a planned reconnect is not a failure");
  d.at(3310_000); d.fire("backoff");
  const p = d.written(d.ev({ type: "transportOpened", gen: 2, epochSec: EPOCH + 3310 }))[0];
  assert.match(p.password.toString(), /&se=1800006910$/);
});

test("telemetry: queued while disconnected, sent in order on connect, acked on PUBACK", () => {
  const cfg = testConfig({ telemetry: { queueLimit: 4, overflow: "drop-oldest" } });
  const d = new Driver(cfg);
  for (let i = 1; i <= 3; i++) d.ev({ type: "publish", msg: { id: i, payload: new Uint8Array([i]), qos: 1, properties: { seq: String(i) } } });
  const c = d.connect();
  const pubs = d.written(c).filter((p) => p.cmd === "publish");
  assert.deepEqual(pubs.map((p) => p.payload[0]), [1, 2, 3]);
  assert.equal(pubs[0].topic, "devices/dev-0001/messages/events/seq=1");
  const acked = find(d.data({ cmd: "puback", messageId: pubs[1].messageId }), "acked");
  assert.deepEqual(acked, [{ type: "acked", id: 2 }]);
});

test("in-flight messages are redelivered with DUP and the same packet id after a reconnect", () => {
  const d = new Driver();
  d.connect();
  const first = d.written(d.ev({ type: "publish", msg: { id: 7, payload: new Uint8Array([7]), qos: 1 } }))[0];
  assert.equal(first.dup, false);
  d.at(60000); d.remoteClose();
  d.at(200000); d.fire("backoff");
  d.ev({ type: "transportOpened", gen: 2, epochSec: EPOCH + 200 });
  const again = d.written(d.data({ cmd: "connack", returnCode: 0, sessionPresent: true })).filter((p) => p.cmd === "publish");
  assert.equal(again.length, 1);
  assert.equal(again[0].dup, true);
  assert.equal(again[0].messageId, first.messageId);
});

test("overflow: drop-oldest reports the dropped message, refuse-new refuses the new one", () => {
  const a = new Driver(testConfig({ telemetry: { queueLimit: 2, overflow: "drop-oldest" } }));
  const b = new Driver(testConfig({ telemetry: { queueLimit: 2, overflow: "refuse-new" } }));
  for (const d of [a, b]) for (let i = 1; i <= 2; i++) d.ev({ type: "publish", msg: { id: i, payload: new Uint8Array(1), qos: 1 } });
  assert.deepEqual(find(a.ev({ type: "publish", msg: { id: 3, payload: new Uint8Array(1), qos: 1 } }), "dropped"), [{ type: "dropped", id: 1, why: "overflow" }]);
  assert.deepEqual(find(b.ev({ type: "publish", msg: { id: 3, payload: new Uint8Array(1), qos: 1 } }), "dropped"), [{ type: "dropped", id: 3, why: "refused" }]);
  assert.deepEqual(a.s.queue.map((q) => q.id), [2, 3]);
  assert.deepEqual(b.s.queue.map((q) => q.id), [1, 2]);
});

test("a message larger than the packet limit is refused as too large", () => {
  const d = new Driver();
  const c = d.ev({ type: "publish", msg: { id: 1, payload: new Uint8Array(5000), qos: 1 } });
  assert.deepEqual(find(c, "dropped"), [{ type: "dropped", id: 1, why: "tooLarge" }]);
});

test("a property bag that makes the topic longer than MQTT's 65,535-byte string is refused as too large, not thrown", () => {
  const d = new Driver(testConfig({ maxPacketBytes: 1000000 }));
  const c = d.ev({ type: "publish", msg: { id: 1, payload: new Uint8Array(1), qos: 1, properties: { k: "v".repeat(70000) } } });
  assert.deepEqual(find(c, "dropped"), [{ type: "dropped", id: 1, why: "tooLarge" }]);
  // one byte under the limit it is accepted (queued while idle)
  const ok = d.ev({ type: "publish", msg: { id: 2, payload: new Uint8Array(1), qos: 1, properties: { k: "v".repeat(65535 - "devices/dev-0001/messages/events/k=".length) } } });
  assert.deepEqual(find(ok, "dropped"), []);
});

test("cloud-to-device: QoS 1 is acknowledged and delivered with its property bag", () => {
  const d = new Driver();
  d.connect();
  const c = d.data({ cmd: "publish", topic: "devices/dev-0001/messages/devicebound/%24.mid=42&color=red", payload: Buffer.from("on"), qos: 1, messageId: 5 });
  assert.deepEqual(d.written(c).map((p) => [p.cmd, p.messageId]), [["puback", 5]]);
  const m = find(c, "message")[0];
  assert.equal(new TextDecoder().decode(m.payload), "on");
  assert.equal(m.properties.color, "red");
});

test("hostile peer: garbage, unknown PUBACK, SUBACK without SUBSCRIBE, a second CONNACK all close with a protocol error", () => {
  const cases: [string, (d: Driver) => void, RegExp][] = [
    ["garbage", (d) => d.ev({ type: "transportData", gen: 1, bytes: new Uint8Array([0xf0, 0]) }), /^protocol\.mqtt\./],
    ["unknown puback", (d) => d.data({ cmd: "puback", messageId: 999 }), /^protocol\.unknownPacketId$/],
    ["suback", (d) => d.data({ cmd: "suback", messageId: 4242, granted: [0] }), /^protocol\.unexpected$/],
    ["second connack", (d) => d.data({ cmd: "connack", returnCode: 0, sessionPresent: false }), /^protocol\.unexpected$/],
  ];
  for (const [name, act, code] of cases) {
    const d = new Driver();
    d.connect();
    act(d);
    assert.equal(d.s.kind, "closing", name);
    assert.match(d.s.code, code, name);
    d.ev({ type: "transportClosed", gen: 1, cause: "local" });
    assert.equal(d.s.kind, "waiting", name);
  }
});

test("a packet over maxPacketBytes closes the link with protocol.mqtt.packetTooLarge at its length byte, before its body arrives", () => {
  const d = new Driver(testConfig({ maxPacketBytes: 4096 }));
  d.connect();
  // a PUBLISH whose remaining length says 5,000 bytes: only its fixed header is sent
  d.ev({ type: "transportData", gen: 1, bytes: new Uint8Array([0x30, 0x88, 0x27]) });
  assert.equal(d.s.kind, "closing");
  assert.equal(d.s.code, "protocol.mqtt.packetTooLarge");
  assert.match(d.s.text, /^at byte \d+$/);
});

test("a packet split across reads decodes as one", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
  const b = new Uint8Array(mqttPacket.generate({ cmd: "connack", returnCode: 0, sessionPresent: false } as any));
  d.ev({ type: "transportData", gen: 1, bytes: b.subarray(0, 1) });
  assert.equal(d.s.kind, "handshaking");
  d.ev({ type: "transportData", gen: 1, bytes: b.subarray(1) });
  assert.equal(d.s.kind, "connected");
});

test("stop while connected sends DISCONNECT and waits for the close; start right after still waits the floor", () => {
  const d = new Driver();
  d.connect();
  d.at(100000);
  const c = d.ev({ type: "stop" });
  assert.equal(d.written(c)[0].cmd, "disconnect");
  assert.equal(d.s.kind, "closing");
  d.ev({ type: "transportClosed", gen: 1, cause: "local" });
  assert.equal(d.s.kind, "idle");
  d.at(100500);
  const s = d.ev({ type: "start" });
  assert.equal(find(s, "openTransport").length, 0);
  assert.equal(d.s.kind, "waiting");
  assert.equal(find(s, "startTimer")[0].ms, 1500);
});

test("a restored attempt counter makes a rebooted device wait before its first connect", () => {
  const d = new Driver();
  const c = d.ev({ type: "start", restored: { attempt: 4, lastError: "remote.close" } });
  assert.equal(d.s.kind, "waiting");
  assert.equal(find(c, "openTransport").length, 0);
  assert.ok(find(c, "notify")[0].status.delayMs >= 2000);
  // the persisted last error stays the one before the restart, not "restored"
  assert.deepEqual(find(c, "persist")[0].data, { attempt: 4, lastError: "remote.close" });
});

test("no status text, log or persisted record ever contains the key or the SAS signature", () => {
  const d = new Driver();
  d.connect();
  d.at(500); d.remoteClose();
  const sig = /sig=|SharedAccessSignature/;
  for (const c of d.log) {
    if (c.type === "write") continue;
    const text = JSON.stringify(c);
    assert.ok(!text.includes(TEST_KEY) && !sig.test(text), text);
  }
});

test("ordinary drops later than QUICK_CLOSE_MS after CONNACK break a duplicate-identity run", () => {
  const d = new Driver();
  let t = 0;
  const codes: string[] = [];
  d.connect();
  for (const upMs of [500, 500, 8000, 500, 500]) {
    t += upMs; d.at(t);
    codes.push(find(d.remoteClose(), "notify")[0].status.code);
    t += 70000; d.at(t); d.fire("backoff");
    d.ev({ type: "transportOpened", gen: d.s.gen, epochSec: EPOCH });
    d.data({ cmd: "connack", returnCode: 0, sessionPresent: true });
  }
  assert.deepEqual(codes, ["remote.close", "remote.close", "remote.close", "remote.close", "remote.close"]);
});

test("kicks that arrive as a reset count towards a suspected duplicate too", () => {
  const d = new Driver();
  let t = 0;
  let last = "";
  d.connect();
  for (let i = 0; i < 3; i++) {
    t += 300; d.at(t);
    last = find(d.ev({ type: "transportClosed", gen: d.s.gen, cause: "error", detail: "ECONNRESET" }), "notify")[0].status.code;
    t += 70000; d.at(t); d.fire("backoff");
    d.ev({ type: "transportOpened", gen: d.s.gen, epochSec: EPOCH });
    d.data({ cmd: "connack", returnCode: 0, sessionPresent: true });
  }
  assert.equal(last, "duplicate.suspected");
});

test("a symmetric key the signing port refuses halts as auth.keyInvalid, not as a refusal by the hub", () => {
  const d = new Driver(testConfig({ auth: { symmetricKey: "not*base64" } }));
  d.ev({ type: "start" });
  const cmds = d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
  assert.equal(find(cmds, "write").length, 0, "no CONNECT without a token");
  assert.equal(d.s.kind, "closing");
  assert.equal(d.s.code, "auth.keyInvalid");
  d.ev({ type: "transportClosed", gen: 1, cause: "local" });
  assert.equal(d.s.kind, "halted");
  assert.equal(d.s.code, "auth.keyInvalid");
  assert.notEqual(describe("auth.keyInvalid"), "auth.keyInvalid", "the code has a sentence");
});

test("closing: a transport the shell cannot close keeps any new transport away until the hub has dropped it", () => {
  const d = new Driver();
  d.ev({ type: "start" });
  d.at(20000).fire("connect"); // the link closes the transport itself
  assert.equal(d.s.kind, "closing");
  d.at(30000).fire("closeGuard");
  const cmds = d.ev({ type: "transportCloseFailed", gen: 1, detail: "no close event after end()" });
  assert.equal(d.s.kind, "waiting");
  assert.equal(d.s.code, "connect.timeout", "the status still says why the link closed");
  assert.equal(find(cmds, "log")[0].code, "transport.unclosable");
  // the hub drops a link silent for 1.5 x keepalive (30 s in this configuration)
  const delay = find(cmds, "startTimer").find((c: any) => c.kind === "backoff").ms;
  assert.ok(delay >= 45000, `waits ${delay} ms`);
  // a stop and a start in between wait out the same time
  d.at(31000).ev({ type: "stop" });
  const again = d.ev({ type: "start" });
  assert.equal(find(again, "openTransport").length, 0);
  assert.equal(find(again, "startTimer")[0].ms, 30000 + 45000 - 31000);
  // its late close is stale news: nothing changes
  d.at(80000);
  assert.equal(find(d.fire("backoff"), "openTransport").length, 1);
  assert.equal(d.ev({ type: "transportClosed", gen: 1, cause: "local" }).length, 0);
});

test("a configured SAS token: sent as is, renewed by nobody, and a refusal halts at once", () => {
  const token = sasToken({ host: "hub.example.net", deviceId: "dev-0001", key: TEST_KEY, expirySec: EPOCH + 600 }) as string;
  const d = new Driver(testConfig({ auth: { sasToken: token } }));
  d.ev({ type: "start" });
  const cmds = d.ev({ type: "transportOpened", gen: 1, epochSec: EPOCH });
  assert.equal(Buffer.from(d.written(cmds)[0].password).toString(), token);
  d.data({ cmd: "connack", returnCode: 0, sessionPresent: false });
  const timer = find(d.log, "startTimer").find((c: any) => c.kind === "token");
  assert.equal(timer.ms, 600 * 1000, "the token timer runs to the token's own expiry");
  d.at(600 * 1000).fire("token");
  assert.equal(d.s.kind, "closing");
  assert.equal(d.s.code, "token.expired");
  d.ev({ type: "transportClosed", gen: 1, cause: "local" });
  assert.equal(d.s.kind, "halted");
  // a restart with the same token that the hub refuses halts without a second try
  d.at(700 * 1000).ev({ type: "start" });
  d.ev({ type: "transportOpened", gen: 2, epochSec: EPOCH });
  d.data({ cmd: "connack", returnCode: 5, sessionPresent: false });
  assert.equal(d.s.code, "connack.5");
  assert.equal(d.s.text, "the configured token was refused");
  d.ev({ type: "transportClosed", gen: 2, cause: "local" });
  assert.equal(d.s.kind, "halted");
});
