// Shared by the codec tests (Node and XS): a seeded PRNG and the translation of our packets
// into mqtt-packet's objects, so every suite feeds the reference codec the same way.
import { Packet, ProtocolError } from "../../src/core/mqtt/packet.js";
import { encode, Alloc, Encoded } from "../../src/core/mqtt/encode.js";
import { feed, decodePacket, anyPacket, DecoderState, FeedResult, DecodeOk } from "../../src/core/mqtt/decode.js";

/** The bytes of an encoding the test expects to succeed (an error value fails the test, naming it). */
export function bytesOf(e: Encoded): Uint8Array {
  if (!(e instanceof Uint8Array)) throw new Error("expected bytes, got " + JSON.stringify(e));
  return e;
}

/** encode(p) that must succeed. */
export function encodeOk(p: Packet, alloc?: Alloc): Uint8Array {
  return bytesOf(encode(p, alloc));
}

/** The host's decoder: every packet type. */
export function feedAny(dec: DecoderState, chunk: Uint8Array, maxPacketBytes: number): FeedResult<Packet> {
  return feed(dec, chunk, maxPacketBytes, anyPacket);
}

/** decodePacket with the host's parser: every packet type. */
export function decodeAny(buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number): DecodeOk<Packet> | ProtocolError | null {
  return decodePacket(buf, pos, end, maxPacketBytes, base, anyPacket);
}

/** mulberry32: a small seeded PRNG so every random run replays. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type MpPacket = any;

/** Our packet as mqtt-packet's `generate` wants it. */
export function toMp(p: Packet): MpPacket {
  switch (p.type) {
    case "connect": {
      const o: MpPacket = { cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: p.clientId, clean: p.cleanSession, keepalive: p.keepaliveSec };
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = Buffer.from(p.password, "utf8");
      if (p.will !== undefined) o.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos, retain: p.will.retain };
      return o;
    }
    case "connack": return { cmd: "connack", sessionPresent: p.sessionPresent, returnCode: p.returnCode };
    case "publish": {
      const o: MpPacket = { cmd: "publish", topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, dup: p.dup, retain: p.retain };
      if (p.qos > 0) o.messageId = p.packetId;
      return o;
    }
    case "puback": return { cmd: "puback", messageId: p.packetId };
    case "subscribe": return { cmd: "subscribe", messageId: p.packetId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case "suback": return { cmd: "suback", messageId: p.packetId, granted: p.granted.slice() };
    case "unsubscribe": return { cmd: "unsubscribe", messageId: p.packetId, unsubscriptions: p.topics.slice() };
    case "unsuback": return { cmd: "unsuback", messageId: p.packetId };
    default: return { cmd: p.type };
  }
}
