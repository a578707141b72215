// The MQTT 3.1.1 codec: UTF-8, golden encodings, programmer errors, every decoder error
// code with its exact offset, the streaming decoder's state handling, and random garbage.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { prng, encodeOk, bytesOf, feedAny as feed, decodeAny as decodePacket } from "../helpers/mqtt.js";
import {
  Packet, ProtocolError, DecoderState, utf8Length, writeUtf8, readUtf8, utf8ErrorAt, readUtf8WithNul,
  encode, encodePuback, encodePublish, encodeSubscribe, encodeConnect, PINGREQ_BYTES, PINGRESP_BYTES, DISCONNECT_BYTES,
  EMPTY_DECODER, MQTT_ERRORS, ServerPacket, publishSize, ConnectPacket, PublishPacket, SubscribePacket,
  decodePacket as decodeWith, feed as feedWith, fromServer, anyPacket,
} from "../../src/core/mqtt/index.js";

const decodeFromServer = (buf: Uint8Array, pos: number, end: number, max: number, base: number) => decodeWith(buf, pos, end, max, base, fromServer);
const feedFromServer = (dec: DecoderState, chunk: Uint8Array, max: number) => feedWith(dec, chunk, max, fromServer);

const MAX = 1 << 20;
const b = (...xs: number[]) => new Uint8Array(xs);
const ascii = (s: string) => Array.prototype.map.call(s, (c: string) => c.charCodeAt(0)) as number[];
const str = (s: string) => [s.length >> 8, s.length & 0xff, ...ascii(s)];

/** Decodes bytes from the start with stream offset base; an error value or the single packet. */
function decodeAll(bytes: Uint8Array, max = MAX, base = 0) {
  return decodePacket(bytes, 0, bytes.length, max, base);
}

function expectError(bytes: Uint8Array, code: string, at: number, max = MAX) {
  const r = decodeAll(bytes, max);
  assert.deepEqual(r, { ok: false, code, at });
  assert.ok(MQTT_ERRORS[code], `${code} has a description`);
  // the same error, at the same absolute offset, through feed after a 3-byte prefix stream
  const f = feed(feed(EMPTY_DECODER, b(0xc0, 0x00, 0xd0), max).dec, new Uint8Array([0x00, ...bytes]), max);
  assert.deepEqual(f.packets, [{ type: "pingresp" }]);
  assert.deepEqual(f.error, { ok: false, code, at: at + 4 });
}

const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)];

/** utf8Length and writeUtf8 give exactly Node's UTF-8 bytes for s (lone surrogates as U+FFFD). */
function assertEncodesLikeNode(s: string): void {
  const want = Buffer.from(s, "utf8");
  const buf = new Uint8Array(utf8Length(s));
  assert.equal(buf.length, want.length, s);
  writeUtf8(s, buf, 0);
  assert.deepEqual(Buffer.from(buf), want);
}

describe("utf8", () => {
  const samples = ["", "devices/dev1", "é", "€uro", "中文/主题", "𝄞 music", "😀😀", "\u007f\u0080\u07ff\u0800\uffff", "a\ud83d\ude00b"];

  test("length and bytes match Node's UTF-8 for BMP and astral characters", () => {
    for (const s of samples) {
      const want = Buffer.from(s, "utf8");
      assert.equal(utf8Length(s), want.length, s);
      const buf = new Uint8Array(want.length + 2);
      assert.equal(writeUtf8(s, buf, 1), want.length + 1);
      assert.deepEqual(Buffer.from(buf.subarray(1, want.length + 1)), want);
      assert.equal(readUtf8(buf, 1, want.length + 1), s);
    }
  });

  test("a lone surrogate is written as U+FFFD, as Node writes it", () => {
    for (const s of ["\ud800", "a\udc00b", "\ud83d", "x\ud83dy", "\ude00\ud83d"]) assertEncodesLikeNode(s);
  });

  test("long strings decode whole (mixed widths; 65535 ASCII bytes)", () => {
    const s = "ab€𝄞é".repeat(5000).slice(0, 20000);
    const buf = new Uint8Array(utf8Length(s));
    writeUtf8(s, buf, 0);
    assert.equal(readUtf8(buf, 0, buf.length), s);
    const a = new Uint8Array(65535).fill(0x61);
    assert.equal(readUtf8(a, 0, a.length), "a".repeat(65535));
  });

  const invalid: [string, number[], number][] = [
    ["U+0000 (MQTT §1.5.3)", [0x61, 0x00, 0x62], 1],
    ["a lone continuation byte", [0x61, 0x80], 1],
    ["an overlong 2-byte form", [0xc0, 0x80], 0],
    ["an overlong 2-byte form C1", [0x61, 0xc1, 0xbf], 1],
    ["an overlong 3-byte form", [0xe0, 0x80, 0xaf], 0],
    ["an overlong 4-byte form", [0xf0, 0x80, 0x80, 0xaf], 0],
    ["a UTF-16 surrogate", [0x61, 0x62, 0xed, 0xa0, 0x80], 2],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80], 0],
    ["a byte F5", [0xf5, 0x80, 0x80, 0x80], 0],
    ["a byte FF", [0xff], 0],
    ["a truncated 2-byte sequence", [0x61, 0xc3], 1],
    ["a truncated 3-byte sequence", [0xe2, 0x82], 0],
    ["a truncated 4-byte sequence", [0xf0, 0x9f, 0x98], 0],
    ["a bad continuation in a 3-byte sequence", [0xe2, 0x82, 0x41], 0],
  ];
  for (const [what, bytes, at] of invalid) {
    test(`${what} is invalid, found at offset ${at}`, () => {
      const buf = new Uint8Array(bytes);
      assert.equal(readUtf8(buf, 0, buf.length), null);
      assert.equal(utf8ErrorAt(buf, 0, buf.length), at);
    });
  }

  test("agrees with Node's strict TextDecoder and Buffer on 20,000 random byte runs and strings", () => {
    const r = prng(0x0f8);
    const strict = new TextDecoder("utf-8", { fatal: true });
    const leads = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for (let i = 0; i < 20000; i++) {
      const bytes = new Uint8Array(Math.floor(r() * 8));
      for (let j = 0; j < bytes.length; j++) bytes[j] = r() < 0.5 ? leads[Math.floor(r() * leads.length)] : 0x80 + Math.floor(r() * 64);
      let want: string | null;
      try { want = strict.decode(bytes); } catch { want = null; }
      assert.equal(readUtf8WithNul(bytes, 0, bytes.length), want, Buffer.from(bytes).toString("hex"));
      assert.equal(readUtf8(bytes, 0, bytes.length), want !== null && want.indexOf("\u0000") < 0 ? want : null);
      let s = "";
      for (let j = Math.floor(r() * 6); j > 0; j--) s += String.fromCharCode(pick(r, [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfffd, 0xffff]));
      assertEncodesLikeNode(s);
    }
  });

  test("U+FFFF and U+10FFFF and control characters other than U+0000 are accepted", () => {
    const buf = b(0xef, 0xbf, 0xbf, 0xf4, 0x8f, 0xbf, 0xbf, 0x01, 0x7f);
    assert.equal(readUtf8(buf, 0, buf.length), "\uffff\udbff\udfff\u0001\u007f");
    assert.equal(utf8ErrorAt(buf, 0, buf.length), -1);
  });
});

describe("encoder", () => {
  test("CONNECT carries protocol MQTT level 4 and the §3.1.2.3 flags", () => {
    const bytes = encodeOk({
      type: "connect", clientId: "d", cleanSession: false, keepaliveSec: 240, username: "u", password: "p",
      will: { topic: "w", payload: b(9), qos: 1, retain: true },
    });
    assert.deepEqual(Array.from(bytes), [
      0x10, 25, ...str("MQTT"), 4, 0b11101100, 0, 240, ...str("d"), ...str("w"), 0, 1, 9, ...str("u"), ...str("p"),
    ]);
    const bare = encodeOk({ type: "connect", clientId: "", cleanSession: true, keepaliveSec: 0 });
    assert.deepEqual(Array.from(bare), [0x10, 12, ...str("MQTT"), 4, 0b00000010, 0, 0, 0, 0]);
  });

  test("SUBSCRIBE and UNSUBSCRIBE carry fixed-header flags 0b0010 (§3.8.1, §3.10.1)", () => {
    const sub = encodeOk({ type: "subscribe", packetId: 0x0102, subscriptions: [{ topic: "a/#", qos: 1 }] });
    assert.deepEqual(Array.from(sub), [0x82, 8, 1, 2, ...str("a/#"), 1]);
    const uns = encodeOk({ type: "unsubscribe", packetId: 7, topics: ["a/+"] });
    assert.deepEqual(Array.from(uns), [0xa2, 7, 0, 7, ...str("a/+")]);
  });

  test("PUBLISH QoS 1 writes flags, topic, id and payload", () => {
    const p: Packet = { type: "publish", topic: "t/é", payload: b(1, 2), qos: 1, dup: true, retain: true, packetId: 0xabcd };
    assert.deepEqual(Array.from(encodeOk(p)), [0x3b, 10, 0, 4, 0x74, 0x2f, 0xc3, 0xa9, 0xab, 0xcd, 1, 2]);
  });

  test("hot-path constants and encodePuback are the exact packets", () => {
    assert.deepEqual(Array.from(bytesOf(encodePuback(0x1234))), [0x40, 2, 0x12, 0x34]);
    assert.deepEqual(Array.from(PINGREQ_BYTES), [0xc0, 0]);
    assert.deepEqual(Array.from(PINGRESP_BYTES), [0xd0, 0]);
    assert.deepEqual(Array.from(DISCONNECT_BYTES), [0xe0, 0]);
    assert.deepEqual(encodeOk({ type: "pingreq" }), PINGREQ_BYTES);
  });

  test("remaining length uses 1 to 4 bytes at the §2.2.3 boundaries", () => {
    // topic "t" + QoS 0: remaining = 3 + payload
    for (const [rem, header] of [[127, 2], [128, 3], [16383, 3], [16384, 4], [2097151, 4], [2097152, 5]]) {
      const p: Packet = { type: "publish", topic: "t", payload: new Uint8Array(rem - 3), qos: 0, dup: false, retain: false, packetId: 0 };
      const bytes = encodeOk(p);
      assert.equal(bytes.length, header + rem);
      assert.equal(publishSize(1, rem - 3, 0), bytes.length);
      const r = decodeAll(bytes, 1 << 23);
      assert.ok(r !== null && r.ok && r.next === bytes.length);
    }
  });

  const pub = (over: object): Packet => ({ type: "publish", topic: "t", payload: b(), qos: 1, dup: false, retain: false, packetId: 1, ...over } as Packet);
  // what cannot be encoded is a value: its code and the offset of the field after the first
  // byte (0: the first byte; 1: the start of the variable header)
  const bad: [string, Packet, string, number][] = [
    ["packetId 0 at QoS 1", pub({ packetId: 0 }), "mqtt.packetIdRange", 4],
    ["packetId 65536", pub({ packetId: 65536 }), "mqtt.packetIdRange", 4],
    ["a fractional packetId", pub({ packetId: 1.5 }), "mqtt.packetIdRange", 4],
    ["QoS 3", pub({ qos: 3 }), "mqtt.badQos", 0],
    ["a topic of 65536 bytes", pub({ topic: "a".repeat(65536) }), "mqtt.stringTooLong", 1],
    ["a topic of 21846 three-byte characters", pub({ topic: "€".repeat(21846) }), "mqtt.stringTooLong", 1],
    ["an empty topic", pub({ topic: "" }), "mqtt.badTopic", 1],
    ["dup at QoS 0", pub({ qos: 0, dup: true, packetId: 0 }), "mqtt.reservedFlags", 0],
    ["keepalive 65536", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: 65536 }, "mqtt.fieldRange", 9],
    ["keepalive -1", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: -1 }, "mqtt.fieldRange", 9],
    ["a client id of 65536 bytes", { type: "connect", clientId: "c".repeat(65536), cleanSession: true, keepaliveSec: 1 }, "mqtt.stringTooLong", 11],
    ["a password of 65536 bytes", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: 1, username: "u", password: "p".repeat(65536) }, "mqtt.stringTooLong", 17],
    ["a password without a username", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: 1, password: "p" }, "mqtt.badConnectFlags", 8],
    ["a will with QoS 2", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: 1, will: { topic: "w", payload: b(), qos: 2 as 1, retain: false } }, "mqtt.unsupportedQos", 8],
    ["a will with an empty topic", { type: "connect", clientId: "c", cleanSession: true, keepaliveSec: 1, will: { topic: "", payload: b(), qos: 0, retain: false } }, "mqtt.badTopic", 14],
    ["a SUBSCRIBE without subscriptions", { type: "subscribe", packetId: 1, subscriptions: [] }, "mqtt.emptySubscription", 1],
    ["a SUBSCRIBE with an empty filter second", { type: "subscribe", packetId: 1, subscriptions: [{ topic: "a", qos: 0 }, { topic: "", qos: 0 }] }, "mqtt.badTopic", 7],
    ["a SUBSCRIBE with QoS 3", { type: "subscribe", packetId: 1, subscriptions: [{ topic: "a", qos: 3 as 0 }] }, "mqtt.badQos", 6],
    ["a SUBSCRIBE with packet id 0", { type: "subscribe", packetId: 0, subscriptions: [{ topic: "a", qos: 0 }] }, "mqtt.packetIdRange", 1],
    ["a SUBACK code 3", { type: "suback", packetId: 1, granted: [0, 3] }, "mqtt.badGranted", 4],
    ["an UNSUBSCRIBE without topics", { type: "unsubscribe", packetId: 1, topics: [] }, "mqtt.emptySubscription", 1],
    ["an UNSUBACK with packet id 0", { type: "unsuback", packetId: 0 }, "mqtt.packetIdRange", 1],
    ["a CONNACK return code 256", { type: "connack", sessionPresent: false, returnCode: 256 }, "mqtt.fieldRange", 2],
  ];
  for (const [what, p, code, at] of bad) {
    test(`encoding ${what} is ${code} at ${at}, a value`, () => {
      assert.deepEqual(encode(p), { ok: false, code, at });
      assert.ok(MQTT_ERRORS[code], `${code} has a description`);
    });
  }

  test("no allocation happens before a check fails", () => {
    let asked = 0;
    const alloc = (n: number) => { asked++; return new Uint8Array(n); };
    for (const [, p] of bad) encode(p, alloc);
    assert.equal(asked, 0);
  });

  test("encodePuback(0) is mqtt.packetIdRange", () => {
    assert.deepEqual(encodePuback(0), { ok: false, code: "mqtt.packetIdRange", at: 1 });
  });

  test("encode takes its array from alloc when given one; an allocator of the wrong size is a programmer error", () => {
    const p: Packet = { type: "publish", topic: "t", payload: b(1), qos: 1, dup: false, retain: false, packetId: 1 };
    const pool = new Uint8Array(16).fill(0xee);
    const out = encodeOk(p, (n) => pool.subarray(3, 3 + n));
    assert.equal(out.buffer, pool.buffer);
    assert.deepEqual(Array.from(pool.subarray(2, 12)), [0xee, 0x32, 6, 0, 1, 0x74, 0, 1, 1, 0xee]);
    assert.throws(() => encode(p, (n) => new Uint8Array(n + 1)), RangeError);
    assert.throws(() => encodePublish(p as PublishPacket, (n: number) => new Uint8Array(n - 1)), /alloc\(\d+\) returned/);
  });
});

describe("decoder errors, each at its exact offset", () => {
  test("packet types 0 and 15 are mqtt.reservedType at offset 0", () => {
    expectError(b(0x00, 0x00), "mqtt.reservedType", 0);
    expectError(b(0xf0, 0x00), "mqtt.reservedType", 0);
  });

  test("PUBREC, PUBREL and PUBCOMP are mqtt.unsupportedType at offset 0", () => {
    for (const b0 of [0x50, 0x62, 0x70]) expectError(b(b0, 2, 0, 1), "mqtt.unsupportedType", 0);
  });

  test("the first byte alone is enough to report a bad type or flags", () => {
    assert.deepEqual(decodeAll(b(0xf0)), { ok: false, code: "mqtt.reservedType", at: 0 });
    assert.deepEqual(decodeAll(b(0x41)), { ok: false, code: "mqtt.reservedFlags", at: 0 });
  });

  test("wrong fixed-header flags are mqtt.reservedFlags at offset 0 (§2.2.2)", () => {
    expectError(b(0x41, 2, 0, 1), "mqtt.reservedFlags", 0); // PUBACK 0b0001
    expectError(b(0x80, 6, 0, 1, 0, 1, 0x61, 0), "mqtt.reservedFlags", 0); // SUBSCRIBE 0b0000
    expectError(b(0xa0, 5, 0, 1, 0, 1, 0x61), "mqtt.reservedFlags", 0); // UNSUBSCRIBE 0b0000
    expectError(b(0xc1, 0), "mqtt.reservedFlags", 0);
    expectError(b(0x38, 3, 0, 1, 0x74), "mqtt.reservedFlags", 0); // DUP with QoS 0 (§3.3.1.1)
  });

  test("PUBLISH QoS 3 is mqtt.badQos at offset 0", () => {
    expectError(b(0x36, 5, 0, 1, 0x74, 0, 1), "mqtt.badQos", 0);
  });

  test("a fifth remaining-length byte is mqtt.lengthTooLong at offset 5", () => {
    assert.equal(decodeAll(b(0x30, 0xff, 0xff, 0xff, 0xff)), null);
    expectError(b(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), "mqtt.lengthTooLong", 5);
  });

  test("a packet over maxPacketBytes is mqtt.packetTooLarge at offset 1, before its body arrives", () => {
    // remaining 128 + header 3 = 131 > 130
    assert.deepEqual(decodeAll(b(0x30, 0x80, 0x01), 130), { ok: false, code: "mqtt.packetTooLarge", at: 1 });
    assert.equal(decodeAll(b(0x30, 0x80, 0x01), 131), null);
    const f = feed(EMPTY_DECODER, b(0x30, 0x80), 130);
    assert.equal(f.error, null);
    assert.deepEqual(feed(f.dec, b(0x01), 130).error, { ok: false, code: "mqtt.packetTooLarge", at: 1 });
  });

  test("fixed-size packets with a wrong remaining length are mqtt.badLength at offset 1", () => {
    expectError(b(0x40, 3, 0, 1, 0), "mqtt.badLength", 1);
    expectError(b(0x40, 1, 0), "mqtt.badLength", 1);
    expectError(b(0x20, 1, 0), "mqtt.badLength", 1);
    expectError(b(0xb0, 0), "mqtt.badLength", 1);
    expectError(b(0xd0, 1, 0), "mqtt.badLength", 1);
    expectError(b(0xe0, 0x80, 0x01), "mqtt.badLength", 1);
  });

  const connect = (flags: number, rest: number[]) => b(0x10, 10 + rest.length, ...str("MQTT"), 4, flags, 0, 60, ...rest);

  test("trailing bytes after a CONNECT's last field are mqtt.badLength at the first extra byte", () => {
    expectError(connect(0x02, [...str("c"), 0xaa]), "mqtt.badLength", 15);
  });

  test("a string running past its packet is mqtt.truncated at the string's length field", () => {
    expectError(b(0x30, 5, 0, 10, 0x61, 0x62, 0x63), "mqtt.truncated", 2);
    expectError(b(0x32, 4, 0, 1, 0x74, 0), "mqtt.truncated", 5); // packet id cut: reported inside the packet
    expectError(b(0x30, 0), "mqtt.truncated", 1); // no room for the topic length: the last byte of the packet
    expectError(connect(0x02, [0, 5, 0x61]), "mqtt.truncated", 12);
  });

  test("invalid UTF-8 in a topic is mqtt.badUtf8 at the offending byte", () => {
    expectError(b(0x30, 6, 0, 4, 0x61, 0xc0, 0x80, 0x62), "mqtt.badUtf8", 5);
    expectError(b(0x30, 5, 0, 3, 0x61, 0xed, 0xa0), "mqtt.badUtf8", 5);
  });

  test("U+0000 in a topic is mqtt.badUtf8 at the zero byte (§1.5.3)", () => {
    expectError(b(0x30, 5, 0, 3, 0x61, 0x00, 0x62), "mqtt.badUtf8", 5);
    expectError(connect(0x82, [...str("c"), 0, 1, 0]), "mqtt.badUtf8", 17);
  });

  test("packet id 0 is mqtt.badPacketId at the id", () => {
    expectError(b(0x40, 2, 0, 0), "mqtt.badPacketId", 2);
    expectError(b(0x32, 5, 0, 1, 0x74, 0, 0), "mqtt.badPacketId", 5);
    expectError(b(0x82, 6, 0, 0, ...str("a"), 0), "mqtt.badPacketId", 2);
    expectError(b(0x90, 3, 0, 0, 0), "mqtt.badPacketId", 2);
    expectError(b(0xb0, 2, 0, 0), "mqtt.badPacketId", 2);
  });

  test("CONNECT with another protocol name or level is mqtt.badProtocol", () => {
    expectError(b(0x10, 15, ...str("MQIsdp"), 3, 2, 0, 60, ...str("c")), "mqtt.badProtocol", 2);
    expectError(b(0x10, 13, ...str("MQTT"), 5, 2, 0, 60, ...str("c")), "mqtt.badProtocol", 8);
  });

  test("inconsistent CONNECT flags are mqtt.badConnectFlags at the flags byte", () => {
    expectError(connect(0x03, str("c")), "mqtt.badConnectFlags", 9); // reserved bit 0
    expectError(connect(0x42, str("c")), "mqtt.badConnectFlags", 9); // password without user name
    expectError(connect(0x22, str("c")), "mqtt.badConnectFlags", 9); // will retain without will
    expectError(connect(0x0a, str("c")), "mqtt.badConnectFlags", 9); // will QoS without will
  });

  test("a will with QoS 3 is mqtt.badQos, with QoS 2 mqtt.unsupportedQos", () => {
    expectError(connect(0x1e, [...str("c"), ...str("w"), 0, 0]), "mqtt.badQos", 9);
    expectError(connect(0x16, [...str("c"), ...str("w"), 0, 0]), "mqtt.unsupportedQos", 9);
  });

  test("CONNACK flags other than session present are mqtt.badConnackFlags at offset 2", () => {
    expectError(b(0x20, 2, 0x02, 0), "mqtt.badConnackFlags", 2);
  });

  test("SUBSCRIBE, UNSUBSCRIBE and SUBACK without entries are mqtt.emptySubscription at offset 1", () => {
    expectError(b(0x82, 2, 0, 1), "mqtt.emptySubscription", 1);
    expectError(b(0xa2, 2, 0, 1), "mqtt.emptySubscription", 1);
    expectError(b(0x90, 2, 0, 1), "mqtt.emptySubscription", 1);
  });

  test("subscription options: reserved bits are mqtt.reservedFlags, QoS 3 mqtt.badQos, a missing byte mqtt.truncated", () => {
    expectError(b(0x82, 6, 0, 1, ...str("a"), 0x04), "mqtt.reservedFlags", 7);
    expectError(b(0x82, 6, 0, 1, ...str("a"), 0x03), "mqtt.badQos", 7);
    expectError(b(0x82, 5, 0, 1, ...str("a")), "mqtt.truncated", 6);
  });

  test("a wildcard in a PUBLISH topic is mqtt.badTopic at the wildcard", () => {
    expectError(b(0x30, 5, 0, 3, 0x61, 0x2f, 0x2b), "mqtt.badTopic", 6);
    expectError(b(0x30, 3, 0, 1, 0x23), "mqtt.badTopic", 4);
    expectError(b(0x30, 2, 0, 0), "mqtt.badTopic", 2); // empty topic name (§4.7.3)
  });

  test("misplaced wildcards in a topic filter are mqtt.badTopic at the wildcard", () => {
    expectError(b(0x82, 7, 0, 1, ...str("a#"), 0), "mqtt.badTopic", 7);
    expectError(b(0x82, 8, 0, 1, ...str("#/a"), 0), "mqtt.badTopic", 6);
    expectError(b(0xa2, 6, 0, 1, ...str("a+")), "mqtt.badTopic", 7);
    expectError(b(0xa2, 4, 0, 1, 0, 0), "mqtt.badTopic", 4);
  });

  test("a SUBACK return code outside 0, 1, 2, 0x80 is mqtt.badGranted at the code", () => {
    expectError(b(0x90, 4, 0, 1, 0x80, 3), "mqtt.badGranted", 5);
  });

  test("base is added to every reported offset", () => {
    assert.deepEqual(decodePacket(b(0xaa, 0x40, 2, 0, 0), 1, 5, MAX, 1000), { ok: false, code: "mqtt.badPacketId", at: 1003 });
  });

  test("every error code has a one-line description, and the table is frozen", () => {
    for (const code of Object.keys(MQTT_ERRORS)) {
      assert.match(code, /^mqtt\.[a-zA-Z0-9]+$/);
      assert.ok(MQTT_ERRORS[code].length > 10 && MQTT_ERRORS[code].indexOf("\n") < 0);
    }
    assert.ok(Object.isFrozen(MQTT_ERRORS));
  });
});

describe("streaming decoder", () => {
  const pA = encodeOk({ type: "publish", topic: "a", payload: b(1, 2, 3), qos: 1, dup: false, retain: false, packetId: 5 });
  const pB = encodeOk({ type: "puback", packetId: 9 });
  const both = new Uint8Array([...pA, ...pB]);
  const pending = (d: DecoderState) => Array.from(d.buf.subarray(0, d.filled));

  test("feeding never changes the old state or the chunk, and an old state can be fed again", () => {
    for (const cut of [1, 2, 4, 7]) {
      const s1 = feed(EMPTY_DECODER, both.subarray(0, cut), MAX).dec;
      const pendingBefore = pending(s1);
      const chunk = both.slice(cut);
      const r1 = feed(s1, chunk.subarray(0, 3), MAX);
      const r2 = feed(s1, chunk, MAX);
      const r3 = feed(r1.dec, chunk.subarray(3), MAX);
      const r4 = feed(r1.dec, chunk.subarray(3), MAX);
      assert.deepEqual(pending(s1), pendingBefore);
      assert.equal(s1.offset, 0);
      assert.deepEqual(chunk, both.subarray(cut));
      assert.deepEqual(r2.packets, r1.packets.concat(r3.packets));
      assert.deepEqual(r3.packets, r4.packets);
      assert.equal(r2.packets.length, 2);
      // no state's bytes were written over by another's: every copy decodes the same packet
      assert.deepEqual(r2.packets[0], { type: "publish", topic: "a", payload: b(1, 2, 3), qos: 1, dup: false, retain: false, packetId: 5 });
    }
    assert.deepEqual(EMPTY_DECODER, { buf: new Uint8Array(0), filled: 0, offset: 0, error: null, mark: { n: 0 } });
  });

  test("the incomplete packet is kept across feeds and offsets stay absolute", () => {
    const r1 = feed(EMPTY_DECODER, both.subarray(0, pA.length + 2), MAX);
    assert.deepEqual(r1.packets.map((p) => p.type), ["publish"]);
    assert.equal(r1.dec.offset, pA.length);
    assert.deepEqual(pending(r1.dec), Array.from(pB.subarray(0, 2)));
    // its length is known: the array is the packet's, at its whole size
    assert.equal(r1.dec.buf.length, pB.length);
    const r2 = feed(r1.dec, both.subarray(pA.length + 2), MAX);
    assert.deepEqual(r2.packets, [{ type: "puback", packetId: 9 }]);
    assert.equal(r2.dec.offset, both.length);
    assert.equal(r2.dec.filled, 0);
    // an error two feeds later names its absolute stream offset
    const r3 = feed(feed(r2.dec, b(0x40), MAX).dec, b(2, 0, 0), MAX);
    assert.deepEqual(r3.error, { ok: false, code: "mqtt.badPacketId", at: both.length + 2 });
    assert.equal(r3.dec.offset, both.length, "the dead state starts at the offending packet");
    // the same error in a packet whose length was known before its last byte came (its own array)
    const r4 = feed(feed(r2.dec, b(0x40, 2, 0), MAX).dec, b(0, 0xd0, 0), MAX);
    assert.deepEqual(r4.error, { ok: false, code: "mqtt.badPacketId", at: both.length + 2 });
    assert.equal(r4.dec.offset, both.length, "the dead state starts at the offending packet");
    assert.deepEqual(r4.packets, [], "nothing after the error is decoded");
    assert.equal(feed(r4.dec, b(0xd0, 0), MAX).error, r4.error, "a dead stream reports its error again");
  });

  test("the pending packet is a copy: writing into the chunk later does not change the state", () => {
    const chunk = both.slice(0, pA.length + 3);
    const r = feed(EMPTY_DECODER, chunk, MAX);
    chunk.fill(0);
    assert.deepEqual(pending(r.dec), Array.from(pB.subarray(0, 3)));
    assert.notEqual(r.dec.buf.buffer, chunk.buffer);
  });

  test("a payload is a view of the chunk when the packet arrives whole, not a copy", () => {
    const r = feed(EMPTY_DECODER, pA, MAX);
    const p = r.packets[0];
    assert.ok(p.type === "publish" && p.payload.buffer === pA.buffer);
  });

  test("packets before an error are returned, and the dead state repeats the error", () => {
    const r = feed(EMPTY_DECODER, new Uint8Array([...pB, ...pB, 0xf0, 0]), MAX);
    assert.equal(r.packets.length, 2);
    assert.deepEqual(r.error, { ok: false, code: "mqtt.reservedType", at: 8 });
    assert.equal(r.dec.offset, 8);
    const again = feed(r.dec, b(0), MAX);
    assert.deepEqual(again.error, r.error);
    assert.deepEqual(again.packets, []);
  });

  test("an empty chunk returns the same state and nothing else", () => {
    const r = feed(EMPTY_DECODER, new Uint8Array(0), MAX);
    assert.equal(r.dec, EMPTY_DECODER);
    assert.deepEqual(r.packets, []);
    assert.equal(r.error, null);
  });

  /** Runs f with every `new Uint8Array(n)` counted (the decoder's allocations; views and slices are not made this way). */
  function counted<T>(f: () => T): { result: T; arrays: number; bytes: number } {
    const Real = globalThis.Uint8Array;
    let arrays = 0;
    let bytes = 0;
    class Counting extends Real {
      constructor(...args: unknown[]) {
        super(...(args as [number]));
        if (typeof args[0] === "number") { arrays++; bytes += args[0]; }
      }
    }
    globalThis.Uint8Array = Counting as unknown as Uint8ArrayConstructor;
    try {
      return { result: f(), arrays, bytes };
    } finally {
      globalThis.Uint8Array = Real;
    }
  }

  test("a 262 KB PUBLISH in 1,460-byte chunks allocates one array, at its size (not a re-join per chunk)", () => {
    const payload = new Uint8Array(262144 - 64);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const bytes = encodeOk({ type: "publish", topic: "devices/d/messages/devicebound/x", payload, qos: 1, dup: false, retain: false, packetId: 7 });
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 1460) chunks.push(bytes.slice(at, at + 1460));
    const r = counted(() => {
      let dec = EMPTY_DECODER;
      const got: Packet[] = [];
      for (const c of chunks) {
        const f = feed(dec, c, 1 << 20);
        assert.equal(f.error, null);
        got.push(...f.packets);
        dec = f.dec;
      }
      return got;
    });
    assert.equal(r.result.length, 1);
    assert.ok(Buffer.from((r.result[0] as PublishPacket).payload).equals(Buffer.from(payload)));
    // one array of the packet's size (the decoder before #11 joined the tail with each chunk: 180 arrays, ~23.8 MB)
    assert.equal(r.arrays, 1, `${r.arrays} arrays, ${r.bytes} bytes`);
    assert.equal(r.bytes, bytes.length);
  });

  test("a packet whose fixed header arrives a byte at a time: its header bytes joined with each chunk, then one array at its size", () => {
    const bytes = encodeOk({ type: "publish", topic: "t", payload: new Uint8Array(20000), qos: 0, dup: false, retain: false, packetId: 0 });
    const r = counted(() => {
      let dec = EMPTY_DECODER;
      let n = 0;
      for (let at = 0; at < bytes.length; at += at < 8 ? 1 : 999) {
        const f = feed(dec, bytes.subarray(at, at < 8 ? at + 1 : at + 999), MAX);
        assert.equal(f.error, null);
        n += f.packets.length;
        dec = f.dec;
      }
      return n;
    });
    assert.equal(r.result, 1);
    // the header bytes so far (1..3), each joined with the next 1-byte chunk (2..4), then the packet's array
    assert.equal(r.bytes, (1 + 2 + 3) + (2 + 3 + 4) + bytes.length, `${r.arrays} arrays, ${r.bytes} bytes`);
  });

  test("a packet over maxPacketBytes is refused from its fixed header, before an array is allocated at its size", () => {
    const r = counted(() => feed(feed(EMPTY_DECODER, b(0x30, 0xff), 65536).dec, b(0xff, 0x03, 0, 1, 0x61), 65536));
    assert.deepEqual(r.result.error, { ok: false, code: "mqtt.packetTooLarge", at: 1 });
    assert.equal(r.bytes, 2 + 7); // the header's first two bytes, then those joined with the chunk
  });
});


describe("random garbage", () => {
  test("20k random buffers: no exception; packets or an error with an integer offset inside the input; any split gives the same", () => {
    const rnd = prng(0x5eed);
    const valid = [0x10, 0x20, 0x30, 0x32, 0x34, 0x3b, 0x40, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0];
    let errors = 0;
    let packets = 0;
    for (let n = 0; n < 20000; n++) {
      const len = Math.floor(rnd() * 48);
      const buf = new Uint8Array(len);
      for (let i = 0; i < len; i++) buf[i] = Math.floor(rnd() * 256);
      // bias toward plausible headers so that the body decoders get exercised
      if (len > 1 && rnd() < 0.7) {
        buf[0] = valid[Math.floor(rnd() * valid.length)];
        buf[1] = Math.floor(rnd() * len);
        if (rnd() < 0.5 && len > 3) {
          buf[2] = 0;
          buf[3] = Math.floor(rnd() * 8);
        }
      }
      const max = 8 + Math.floor(rnd() * 64);
      const whole = feed(EMPTY_DECODER, buf, max);
      if (whole.error !== null) {
        errors++;
        assert.ok(Number.isInteger(whole.error.at) && whole.error.at >= 0 && whole.error.at < len, JSON.stringify([Array.from(buf), whole.error]));
        assert.ok(MQTT_ERRORS[whole.error.code], whole.error.code);
      }
      packets += whole.packets.length;
      const cut = Math.floor(rnd() * (len + 1));
      const a = feed(EMPTY_DECODER, buf.subarray(0, cut), max);
      const rest: { packets: Packet[]; error: ProtocolError | null; dec: DecoderState } = a.error === null ? feed(a.dec, buf.subarray(cut), max) : { packets: [], error: a.error, dec: a.dec };
      assert.deepEqual(a.packets.concat(rest.packets), whole.packets);
      assert.deepEqual(rest.error, whole.error);
      const one = decodePacket(buf, 0, len, max, 77);
      if (one !== null && !one.ok) assert.ok(Number.isInteger(one.at) && one.at >= 77 && one.at < 77 + len);
      if (one !== null && one.ok) assert.ok(one.next <= len);
    }
    // the generator reaches both outcomes often
    assert.ok(errors > 5000 && packets > 200, `errors ${errors}, packets ${packets}`);
  });
});

describe("the client's decoder (decodeFromServer, feedFromServer: what the link uses)", () => {
  const CLIENT_TYPES = ["connect", "subscribe", "unsubscribe", "pingreq", "disconnect"];
  const CLIENT_CODES = [1, 8, 10, 12, 14];
  /**
   * What the client's decoder must return for `buf`, which the full decoder read as `full`:
   * the same packets up to the first client-to-server one, which comes back named
   * (stopAt: how many packets to compare); a framing error of the packet where the full
   * decoder stopped is the same error, a body error of a client-to-server one is its name.
   */
  function expected(buf: Uint8Array, full: { packets: Packet[]; error: ProtocolError | null; dec: DecoderState }) {
    const packets: ServerPacket[] = [];
    for (let i = 0; i < full.packets.length; i++) {
      const p = full.packets[i];
      if (CLIENT_TYPES.indexOf(p.type) >= 0) { packets.push({ type: p.type } as ServerPacket); return { packets, error: null as ProtocolError | null, stopAt: i + 1, named: CLIENT_TYPES.indexOf(p.type) }; }
      packets.push(p as ServerPacket);
    }
    const named = full.error !== null ? CLIENT_CODES.indexOf(buf[full.dec.offset] >> 4) : -1;
    return { packets, error: full.error, stopAt: -1, named };
  }

  test("server-to-client packets decode exactly as decodePacket decodes them, errors and offsets included", () => {
    const cases = [
      b(0x20, 2, 0, 0), b(0x20, 2, 1, 5), b(0x20, 2, 2, 0), b(0x20, 3, 0, 0, 0), b(0x30, 5, ...str("a/b")), b(0x32, 7, ...str("a/b"), 0, 9, 1),
      b(0x32, 5, ...str("a/b")), b(0x30, 4, ...str("a+")), b(0x30, 2, 0, 0), b(0x38, 0), b(0x36, 0), b(0x40, 2, 0, 7), b(0x40, 2, 0, 0),
      b(0x90, 3, 0, 1, 0x80), b(0x90, 2, 0, 1), b(0x90, 3, 0, 1, 3), b(0xb0, 2, 0, 1), b(0xd0, 0), b(0xd0, 1, 0), b(0x30, 0xff, 0xff, 0xff, 0xff, 1),
      b(0x00), b(0x50, 0), b(0x21, 2, 0, 0), b(0x30, 5, 0, 3, 0x61, 0xc0, 0x62),
    ];
    for (const c of cases) {
      for (const max of [MAX, 4]) {
        const want = decodePacket(c, 0, c.length, max, 9);
        assert.deepEqual(decodeFromServer(c, 0, c.length, max, 9), want, Array.from(c).join(","));
      }
    }
  });

  test("client-to-server packets are framed and named, their body unread", () => {
    const bad = [b(0x10, 3, 1, 2, 3), b(0x82, 2, 0, 0), b(0xa2, 1, 9), b(0xc0, 0), b(0xe0, 0)];
    assert.deepEqual(bad.map((c) => decodeFromServer(c, 0, c.length, MAX, 0)), [
      { ok: true, packet: { type: "connect" }, next: 5 }, { ok: true, packet: { type: "subscribe" }, next: 4 },
      { ok: true, packet: { type: "unsubscribe" }, next: 3 }, { ok: true, packet: { type: "pingreq" }, next: 2 },
      { ok: true, packet: { type: "disconnect" }, next: 2 },
    ]);
    // the framing checks still apply: flags, length, size limit
    assert.deepEqual(decodeFromServer(b(0x80, 0), 0, 2, MAX, 0), { ok: false, code: "mqtt.reservedFlags", at: 0 });
    assert.deepEqual(decodeFromServer(b(0xc0, 1, 0), 0, 3, MAX, 0), { ok: false, code: "mqtt.badLength", at: 1 });
    assert.deepEqual(decodeFromServer(b(0x10, 9), 0, 2, 4, 0), { ok: false, code: "mqtt.packetTooLarge", at: 1 });
    assert.equal(decodeFromServer(b(0x10, 9, 0), 0, 3, MAX, 0), null);
  });

  test("20k random streams: feedFromServer agrees with feed up to the first client-to-server packet, which it names", () => {
    const rnd = prng(0xc11e);
    const valid = [0x10, 0x20, 0x30, 0x32, 0x34, 0x3b, 0x40, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0];
    let named = 0;
    for (let n = 0; n < 20000; n++) {
      const len = Math.floor(rnd() * 48);
      const buf = new Uint8Array(len);
      for (let i = 0; i < len; i++) buf[i] = Math.floor(rnd() * 256);
      if (len > 1 && rnd() < 0.7) {
        buf[0] = valid[Math.floor(rnd() * valid.length)];
        buf[1] = Math.floor(rnd() * len);
      }
      const max = 8 + Math.floor(rnd() * 64);
      const want = expected(buf, feed(EMPTY_DECODER, buf, max));
      const cut = Math.floor(rnd() * (len + 1));
      const a = feedFromServer(EMPTY_DECODER, buf.subarray(0, cut), max);
      const rest = a.error === null ? feedFromServer(a.dec, buf.subarray(cut), max) : { packets: [], error: a.error };
      const got = a.packets.concat(rest.packets);
      const why = Array.from(buf).join(",");
      if (want.stopAt >= 0) {
        named++;
        assert.deepEqual(got.slice(0, want.stopAt), want.packets, why);
      } else if (want.named >= 0 && !(rest.error !== null && want.error !== null && rest.error.code === want.error.code && rest.error.at === want.error.at)) {
        // the full decoder rejected the body of a client-to-server packet: the client names it
        named++;
        assert.deepEqual(got.slice(0, want.packets.length + 1), want.packets.concat([{ type: CLIENT_TYPES[want.named] } as ServerPacket]), why);
      } else {
        assert.deepEqual(got, want.packets, why);
        assert.deepEqual(rest.error, want.error, why);
      }
    }
    assert.ok(named > 500, `named ${named}`);
  });
});

describe("the encoders the link calls", () => {
  const pool = (n: number) => { const u = new Uint8Array(n + 3).subarray(3); u.fill(0xee); return u; };
  const r = prng(2024);
  const text = (max: number): string => {
    let s = "";
    const n = Math.floor(r() * max);
    for (let i = 0; i < n; i++) s += pick(r, ["a", "Z", "/", "%", "=", "-", "ü", "€", "😀", "\u07ff", "\u0800"]);
    return s;
  };
  // payload sizes around the remaining-length boundaries (1, 2, 3 length bytes)
  const sizes = [0, 1, 100, 120, 125, 127, 128, 16370, 16383, 16384, 70000];

  test("400 random packets of the shapes the link makes encode and decode back; publishSize is the PUBLISH's length", () => {
    const roundTrip = (p: Packet, bytes: Uint8Array) => {
      const f = feed(EMPTY_DECODER, bytes, 1 << 20);
      assert.equal(f.error, null);
      assert.deepEqual(f.packets, [p]);
    };
    for (let i = 0; i < 400; i++) {
      const alloc = i % 2 === 0 ? undefined : pool;
      const c: ConnectPacket = { type: "connect", clientId: "d" + text(40), cleanSession: false, keepaliveSec: Math.floor(r() * 65536), username: text(300), password: text(400) };
      roundTrip(c, bytesOf(encodeConnect(c, alloc)));
      const qos = r() < 0.5 ? 0 : 1;
      const topic = "devices/d" + text(60) + "/messages/events/" + text(200);
      const pl = new Uint8Array(pick(r, sizes));
      for (let j = 0; j < pl.length; j += 97) pl[j] = j & 0xff;
      const p: PublishPacket = { type: "publish", topic, payload: pl, qos, dup: qos === 1 && r() < 0.5, retain: false, packetId: qos === 1 ? 1 + Math.floor(r() * 65535) : 0 };
      const pb = bytesOf(encodePublish(p, alloc));
      roundTrip(p, pb);
      assert.equal(publishSize(utf8Length(topic), pl.length, qos), pb.length);
      const sub: SubscribePacket = { type: "subscribe", packetId: 1 + Math.floor(r() * 65535), subscriptions: [{ topic: "devices/" + text(60) + "/messages/devicebound/#", qos: 1 }] };
      roundTrip(sub, bytesOf(encodeSubscribe(sub, alloc)));
      const id = 1 + Math.floor(r() * 65535);
      roundTrip({ type: "puback", packetId: id }, bytesOf(encodePuback(id)));
    }
  });

  test("encodeSubscribe sizes and writes every filter, not only the first (up to the hub's 5)", () => {
    for (let n = 1; n <= 5; n++) {
      const subs = [];
      for (let i = 0; i < n; i++) subs.push({ topic: "$iothub/f" + i + "/" + text(40) + "/#", qos: (i % 2) as 0 | 1 });
      const sub: SubscribePacket = { type: "subscribe", packetId: 7, subscriptions: subs };
      const f = feed(EMPTY_DECODER, bytesOf(encodeSubscribe(sub)), 1 << 20);
      assert.equal(f.error, null);
      assert.equal((f.packets[0] as SubscribePacket).subscriptions.length, n);
      assert.deepEqual(f.packets[0], sub);
    }
  });
});
