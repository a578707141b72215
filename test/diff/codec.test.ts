// Differential tests of the MQTT 3.1.1 codec against the mqtt-packet reference library,
// on random packets of every modelled type: our bytes parse identically there, its bytes
// decode identically here (whole, split at every byte, split at random places).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { toMp, MpPacket, encodeOk, bytesOf, feedAny as feed, decodeAny } from "../helpers/mqtt.js";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import { Packet, EMPTY_DECODER, DecoderState, encode } from "../../src/core/mqtt/index.js";

const TAKES_ALLOC = ["connect", "publish", "subscribe", "suback", "unsubscribe"];


const MAX = 1 << 22;
const RUNS = 300;

// ---- arbitraries ------------------------------------------------------------------

/** Text with ASCII, 2-, 3- and 4-byte UTF-8 characters; never U+0000 (§1.5.3) nor lone surrogates. */
const char = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "z", "0", "/", "$", ".", "=", "&", "%", " ", "-", "_", "?") },
  { weight: 2, arbitrary: fc.constantFrom("é", "ß", "€", "中", "𝄞", "😀", "\u007f", "\u0001", "\uffff") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
).filter((c) => c !== "\u0000");
// size "max": fast-check otherwise keeps lengths near 10 whatever maxLength says
const text = (minLength: number, maxLength: number) => fc.string({ unit: char, minLength, maxLength, size: "max" });
/** Topic names: non-empty, no wildcards (§4.7). */
const topicName = text(1, 40).filter((t) => t.indexOf("+") < 0 && t.indexOf("#") < 0);
/** Topic filters with wildcards only where §4.7.1 allows them. */
const topicFilter = fc
  .tuple(fc.array(fc.oneof(text(0, 8).filter((t) => !/[+#/]/.test(t)), fc.constant("+")), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => {
    const f = levels.join("/");
    return hash ? (f.length === 0 ? "#" : f + "/#") : f.length === 0 ? "x" : f;
  });
const payload = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 300, size: "max" }) },
  { weight: 1, arbitrary: fc.integer({ min: 16000, max: 70000 }).map((n) => new Uint8Array(n).fill(0xa5)) },
);
const packetId = fc.integer({ min: 1, max: 65535 });
const qos = fc.constantFrom<0 | 1 | 2>(0, 1, 2);

const arbs: { [type: string]: fc.Arbitrary<Packet> } = {
  connect: fc
    .record({
      clientId: text(0, 30),
      cleanSession: fc.boolean(),
      keepaliveSec: fc.integer({ min: 0, max: 65535 }),
      username: fc.option(text(0, 60), { nil: undefined }),
      password: fc.option(text(0, 120), { nil: undefined }),
      will: fc.option(fc.record({ topic: topicName, payload: fc.uint8Array({ maxLength: 100, size: "max" }), qos: fc.constantFrom<0 | 1>(0, 1), retain: fc.boolean() }), { nil: undefined }),
    })
    .map((r) => {
      const p: Packet = { type: "connect", clientId: r.clientId, cleanSession: r.cleanSession, keepaliveSec: r.keepaliveSec };
      // §3.1.3.1: an empty client id needs a clean session; §3.1.2.9: no password without a user name
      if (r.clientId === "") p.cleanSession = true;
      if (r.username !== undefined) p.username = r.username;
      if (r.username !== undefined && r.password !== undefined) p.password = r.password;
      if (r.will !== undefined) p.will = r.will;
      return p;
    }),
  connack: fc.record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 5 }) }).map((r): Packet => ({ type: "connack", ...r })),
  publish: fc
    .record({ topic: topicName, payload, qos, dup: fc.boolean(), retain: fc.boolean(), packetId })
    .map((r): Packet => ({ type: "publish", topic: r.topic, payload: r.payload, qos: r.qos, dup: r.qos > 0 && r.dup, retain: r.retain, packetId: r.qos > 0 ? r.packetId : 0 })),
  puback: packetId.map((id): Packet => ({ type: "puback", packetId: id })),
  subscribe: fc
    .record({ packetId, subscriptions: fc.array(fc.record({ topic: topicFilter, qos }), { minLength: 1, maxLength: 5 }) })
    .map((r): Packet => ({ type: "subscribe", ...r })),
  suback: fc
    .record({ packetId, granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 8 }) })
    .map((r): Packet => ({ type: "suback", ...r })),
  unsubscribe: fc
    .record({ packetId, topics: fc.array(topicFilter, { minLength: 1, maxLength: 5 }) })
    .map((r): Packet => ({ type: "unsubscribe", ...r })),
  unsuback: packetId.map((id): Packet => ({ type: "unsuback", packetId: id })),
  pingreq: fc.constant<Packet>({ type: "pingreq" }),
  pingresp: fc.constant<Packet>({ type: "pingresp" }),
  disconnect: fc.constant<Packet>({ type: "disconnect" }),
};
const anyPacket = fc.oneof(...Object.keys(arbs).map((k) => arbs[k]));

// ---- translation to and from mqtt-packet's objects -----------------------------------


const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

/** Our packet as a plain comparable value (payloads as hex). */
function norm(p: Packet): object {
  switch (p.type) {
    case "connect": {
      const o: MpPacket = { type: "connect", clientId: p.clientId, cleanSession: p.cleanSession, keepaliveSec: p.keepaliveSec };
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = p.password;
      if (p.will !== undefined) o.will = { topic: p.will.topic, payload: hex(p.will.payload), qos: p.will.qos, retain: p.will.retain };
      return o;
    }
    case "publish": return { type: "publish", topic: p.topic, payload: hex(p.payload), qos: p.qos, dup: p.dup, retain: p.retain, packetId: p.packetId };
    case "subscribe": return { type: "subscribe", packetId: p.packetId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case "suback": return { type: "suback", packetId: p.packetId, granted: p.granted.slice() };
    case "unsubscribe": return { type: "unsubscribe", packetId: p.packetId, topics: p.topics.slice() };
    default: return { ...p };
  }
}

/** mqtt-packet's parsed packet as the same plain value. */
function fromMp(o: MpPacket): object {
  switch (o.cmd) {
    case "connect": {
      const r: MpPacket = { type: "connect", clientId: o.clientId, cleanSession: o.clean, keepaliveSec: o.keepalive };
      if (o.username !== undefined) r.username = o.username;
      if (o.password !== undefined) r.password = o.password.toString("utf8");
      if (o.will !== undefined) r.will = { topic: o.will.topic, payload: hex(o.will.payload), qos: o.will.qos, retain: o.will.retain };
      return r;
    }
    case "connack": return { type: "connack", sessionPresent: o.sessionPresent, returnCode: o.returnCode };
    case "publish": return { type: "publish", topic: o.topic, payload: hex(o.payload), qos: o.qos, dup: o.dup, retain: o.retain, packetId: o.qos > 0 ? o.messageId : 0 };
    case "puback": return { type: "puback", packetId: o.messageId };
    case "subscribe": return { type: "subscribe", packetId: o.messageId, subscriptions: o.subscriptions.map((s: MpPacket) => ({ topic: s.topic, qos: s.qos })) };
    case "suback": return { type: "suback", packetId: o.messageId, granted: o.granted.slice() };
    case "unsubscribe": return { type: "unsubscribe", packetId: o.messageId, topics: o.unsubscriptions.slice() };
    case "unsuback": return { type: "unsuback", packetId: o.messageId };
    default: return { type: o.cmd };
  }
}

/** Everything mqtt-packet parses out of bytes (its parser emits synchronously). */
function mpParse(bytes: Uint8Array): { packets: object[]; errors: string[] } {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: object[] = [];
  const errors: string[] = [];
  parser.on("packet", (p: MpPacket) => packets.push(fromMp(p)));
  parser.on("error", (e: Error) => errors.push(e.message));
  parser.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  return { packets, errors };
}

/** Feeds the pieces of bytes cut at `cuts` (sorted offsets) and collects every packet. */
function feedPieces(bytes: Uint8Array, cuts: number[]): { packets: object[]; dec: DecoderState } {
  let dec = EMPTY_DECODER;
  const packets: object[] = [];
  let from = 0;
  for (const at of cuts.concat([bytes.length])) {
    const r = feed(dec, bytes.subarray(from, at), MAX);
    assert.equal(r.error, null);
    for (const p of r.packets) packets.push(norm(p));
    dec = r.dec;
    from = at;
  }
  return { packets, dec };
}

// ---- properties ---------------------------------------------------------------------

describe("our encoder against mqtt-packet's parser", () => {
  for (const type of Object.keys(arbs)) {
    test(`every ${type} we encode parses identically in mqtt-packet`, () => {
      fc.assert(
        fc.property(arbs[type], fc.integer({ min: 0, max: 7 }), (p, at) => {
          const bytes = encodeOk(p);
          // into a reused buffer through alloc (the kinds of variable size take one): exactly the
          // packet's bytes, nothing around them written
          if (TAKES_ALLOC.indexOf(p.type) >= 0) {
            const into = new Uint8Array(bytes.length + at + 3).fill(0xee);
            const view = bytesOf(encode(p, (n) => into.subarray(at, at + n)));
            assert.equal(view.buffer, into.buffer);
            assert.deepEqual(into.subarray(at, at + bytes.length), bytes);
            assert.ok(into.subarray(0, at).every((x) => x === 0xee) && into.subarray(at + bytes.length).every((x) => x === 0xee));
          }
          // every byte is written: memory from a pooled allocator may hold anything
          assert.deepEqual(encodeOk(p, (n) => new Uint8Array(n).fill(0xee)), bytes);
          const r = mpParse(bytes);
          assert.deepEqual(r.errors, []);
          assert.deepEqual(r.packets, [norm(p)]);
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe("mqtt-packet's generator against our decoder", () => {
  for (const type of Object.keys(arbs)) {
    test(`every ${type} mqtt-packet generates decodes identically, whole and split at every byte`, () => {
      fc.assert(
        fc.property(arbs[type], (p) => {
          const bytes = new Uint8Array(mqttPacket.generate(toMp(p)));
          // the same logical packet has one encoding: ours is byte-identical
          assert.deepEqual(encodeOk(p), bytes);
          const want = [norm(p)];
          const one = decodeAny(bytes, 0, bytes.length, MAX, 0);
          assert.ok(one !== null && one.ok);
          assert.equal(one.next, bytes.length);
          assert.deepEqual([norm(one.packet)], want);
          const whole = feedPieces(bytes, []);
          assert.deepEqual(whole.packets, want);
          assert.equal(whole.dec.filled, 0);
          assert.equal(whole.dec.offset, bytes.length);
          if (bytes.length <= 2048) {
            for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(feedPieces(bytes, [cut]).packets, want);
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  test("a stream of generated packets decodes identically under random multi-splits", () => {
    fc.assert(
      fc.property(fc.array(anyPacket, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (ps, rawCuts) => {
        const parts = ps.map((p) => new Uint8Array(mqttPacket.generate(toMp(p))));
        const total = parts.reduce((n, b) => n + b.length, 0);
        const bytes = new Uint8Array(total);
        let pos = 0;
        for (const b of parts) {
          bytes.set(b, pos);
          pos += b.length;
        }
        const cuts = rawCuts.map((c) => c % (total + 1)).sort((a, b) => a - b);
        const r = feedPieces(bytes, cuts);
        assert.deepEqual(r.packets, ps.map(norm));
        assert.equal(r.dec.offset, total);
      }),
      { numRuns: RUNS },
    );
  });
});
