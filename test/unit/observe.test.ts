import { test } from "node:test";
import assert from "node:assert/strict";
import { Diagnostics } from "../../src/core/diagnostics.js";
import { observe, diagnosticsMessage } from "../../src/core/observe.js";
import { Command } from "../../src/core/link.js";
import { testConfig, TEST_KEY } from "../helpers/config.js";
import { Driver, find } from "../helpers/driver.js";

/** A driver whose every command also feeds a Diagnostics, as a shell does. */
function observed(): { d: Driver; diag: Diagnostics; run: (f: () => Command[]) => Command[] } {
  const d = new Driver(testConfig({ telemetry: { queueLimit: 1, overflow: "drop-oldest" } }));
  const diag = new Diagnostics({ secrets: [TEST_KEY] });
  return { d, diag, run: (f) => { const from = d.log.length; const c = f(); for (const x of d.log.slice(from)) observe(diag, x, d.now); return c; } };
}

test("the counters follow the link: attempts, connects, drops by reason, time connected", () => {
  const { d, diag, run } = observed();
  run(() => d.connect());
  d.at(5000);
  run(() => d.remoteClose());
  const c = diag.counters(5000);
  assert.equal(c.connectAttempts, 1);
  assert.equal(c.connects, 1);
  assert.deepEqual(c.drops, { "remote.close": 1 });
  assert.equal(c.connectedMs, 5000);
  assert.equal(c.lastError!.code, "remote.close");
  const ring = diag.snapshot();
  assert.deepEqual(ring.map((e) => e.state), ["connecting", "handshaking", "connected", "waiting"]);
  assert.match(ring[3].reason, /next try in \d+ ms/);
});

test("queue overflow and a suspected duplicate identity are counted", () => {
  const { d, diag, run } = observed();
  run(() => d.ev({ type: "publish", msg: { id: 1, payload: new Uint8Array(1), qos: 1 } }));
  run(() => d.ev({ type: "publish", msg: { id: 2, payload: new Uint8Array(1), qos: 1 } }));
  assert.equal(diag.counters().queueDrops, 1);
  let t = 0;
  run(() => d.connect());
  for (let i = 0; i < 3; i++) {
    t += 500; d.at(t); run(() => d.remoteClose());
    t += 70000; d.at(t); run(() => d.fire("backoff"));
    run(() => d.ev({ type: "transportOpened", gen: d.s.gen, epochSec: 1_800_000_000 }));
    run(() => d.data({ cmd: "connack", returnCode: 0, sessionPresent: true }));
  }
  assert.equal(diag.counters().suspectedDuplicates, 1);
});

test("diagnostics go to the hub as telemetry marked linkguard=diagnostics, without secrets", () => {
  const { d, diag, run } = observed();
  run(() => d.connect());
  const msg = diagnosticsMessage(diag, 99, d.now);
  const c = run(() => d.ev({ type: "publish", msg }));
  const p = d.written(c).find((x) => x.cmd === "publish");
  assert.match(p.topic, /^devices\/dev-0001\/messages\/events\/.*linkguard=diagnostics/);
  assert.match(p.topic, /%24\.ct=application%2Fjson/);
  const body = JSON.parse(Buffer.from(p.payload).toString("utf8"));
  assert.equal(body.counters.connects, 1);
  assert.ok(Array.isArray(body.events) && body.events.length >= 3);
  const text = JSON.stringify(body);
  assert.ok(!text.includes(TEST_KEY) && !/sig=|SharedAccessSignature/.test(text));
  assert.equal(find(c, "dropped").length, 0);
});
