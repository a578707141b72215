import { test } from "node:test";
import assert from "node:assert/strict";
import { Diagnostics, redact, stripCredentials, DEFAULT_CAPACITY, MAX_TEXT } from "../../src/core/diagnostics.js";

const ev = (atMs: number, reason = "r" + atMs) => ({ atMs, state: "waiting", code: 404104, reason });

test("the ring keeps the newest events, oldest first, overwriting the oldest", () => {
  const d = new Diagnostics({ capacity: 3 });
  for (let t = 1; t <= 5; t++) d.record(ev(t));
  assert.deepEqual(d.snapshot().map((e) => e.atMs), [3, 4, 5]);
  assert.equal(d.size, 3);
  assert.equal(new Diagnostics().capacity, DEFAULT_CAPACITY);
});

test("a partly filled ring returns just what was recorded; snapshots are copies", () => {
  const d = new Diagnostics({ capacity: 4 });
  d.record(ev(1));
  d.record(ev(2));
  const s = d.snapshot();
  assert.deepEqual(s, [ev(1), ev(2)]);
  s[0].reason = "changed";
  assert.equal(d.snapshot()[0].reason, "r1");
});

test("capacity must be a positive integer", () => {
  assert.throws(() => new Diagnostics({ capacity: 0 }), RangeError);
  assert.throws(() => new Diagnostics({ capacity: 2.5 }), RangeError);
});

test("redact replaces every occurrence of each secret", () => {
  assert.equal(redact("k=abc; again abc", ["abc", ""]), "k=[redacted]; again [redacted]");
  assert.equal(redact("nothing here", []), "nothing here");
});

test("stripCredentials removes tokens and signatures, and leaves look-alikes", () => {
  assert.equal(stripCredentials("pw SharedAccessSignature sr=h&sig=abc%3D&se=1 end"), "pw [redacted] end");
  assert.equal(stripCredentials("url?SIG=abc&se=1"), "url?SIG=[redacted]&se=1");
  assert.equal(stripCredentials("design=ok mysig=ok"), "design=ok mysig=ok");
});

test("no key, token or signature ever enters the ring or the counters", () => {
  const key = "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA==";
  const d = new Diagnostics({ capacity: 2, secrets: [key] });
  d.record({ atMs: 1, state: "handshaking", code: "auth sig=xyz", reason: "key " + key + " token SharedAccessSignature sr=a&sig=b&se=1" });
  d.dropped(2, 401003, "password SharedAccessSignature sr=a&sig=b&se=1");
  const all = JSON.stringify([d.snapshot(), d.counters()]);
  for (const bad of [key, "sig=xyz", "sig=b", "sr=a"]) assert.ok(!all.includes(bad), bad);
});

test("long reasons are cut to MAX_TEXT", () => {
  const d = new Diagnostics();
  d.record(ev(1, "x".repeat(1000)));
  assert.equal(d.snapshot()[0].reason.length, MAX_TEXT);
});

test("counters: attempts, connects, drops by code, connected time, last error", () => {
  const d = new Diagnostics();
  d.connectAttempted();
  d.connectAttempted();
  d.connected(1000);
  assert.equal(d.counters(1500).connectedMs, 500);
  d.dropped(4000, 404104, "remote close");
  d.dropped(5000, "tls.refused", "refused");
  d.suspectedDuplicate();
  d.queueDropped(3);
  d.queueDropped(0);
  assert.deepEqual(d.counters(9000), {
    connects: 1, connectAttempts: 2, drops: { "404104": 1, "tls.refused": 1 }, suspectedDuplicates: 1,
    queueDrops: 3, connectedMs: 3000, lastError: { atMs: 5000, code: "tls.refused", reason: "refused" },
  });
  d.clear();
  assert.equal(d.counters().connects, 0);
  assert.equal(d.snapshot().length, 0);
});
