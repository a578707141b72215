// MQTT 3.1.1 encoder: size first, allocate once, write with a cursor (STYLE.md).
// Invalid field values are programmer errors (the link validates its inputs first):
// they throw a RangeError before a byte is written.

import {
  CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
  PINGREQ, PINGRESP, DISCONNECT, Packet, ConnectPacket, PublishPacket, SubscribePacket,
} from "./packet.js";
import { utf8Length, writeUtf8 } from "./utf8.js";

/** MQTT 3.1.1 §2.2.3: four length bytes encode at most 268,435,455. */
export const MAX_REMAINING_LENGTH = 268435455;
/** MQTT 3.1.1 §1.5.3: a string carries a 16-bit byte count. */
export const MAX_STRING_BYTES = 65535;

function fixed2(b0: number): Uint8Array {
  const b = new Uint8Array(2);
  b[0] = b0;
  return b;
}

/**
 * Shared constant packets for the hot paths. Typed arrays with elements cannot be frozen
 * (engines throw), so these are typed read-only: never write into them.
 */
export const PINGREQ_BYTES: Readonly<Uint8Array> = fixed2(PINGREQ << 4);
export const PINGRESP_BYTES: Readonly<Uint8Array> = fixed2(PINGRESP << 4);
export const DISCONNECT_BYTES: Readonly<Uint8Array> = fixed2(DISCONNECT << 4);

/** A PUBACK for packetId (§3.4), four bytes, without building a packet object. */
export function encodePuback(packetId: number): Uint8Array {
  checkPacketId(packetId);
  return pubackUnchecked(packetId);
}

/** encodePuback for an id the decoder already checked (1..65535): the link's. */
export function pubackUnchecked(packetId: number): Uint8Array {
  const b = new Uint8Array(4);
  b[0] = PUBACK << 4;
  b[1] = 2;
  b[2] = packetId >> 8;
  b[3] = packetId & 0xff;
  return b;
}

function fail(msg: string): never {
  throw new RangeError("mqtt encode: " + msg);
}

function checkPacketId(id: number): void {
  // an integer in 1..65535 (no Number.isInteger on Espruino)
  if (!(id >= 1 && (id & 0xffff) === id)) fail("packetId must be an integer in 1..65535, got " + id);
}

/** UTF-8 byte length of a string field, checked against the 16-bit count. */
function strBytes(s: string, what: string): number {
  const n = utf8Length(s);
  if (n > MAX_STRING_BYTES) fail(what + " is " + n + " bytes, more than 65535");
  return n;
}

function binBytes(b: Uint8Array, what: string): number {
  const n = b.length;
  if (n > MAX_STRING_BYTES) fail(what + " is " + n + " bytes, more than 65535");
  return n;
}

/** MQTT 3.1.1 §4.7: a topic name is non-empty and has no wildcards. */
function checkTopicName(t: string, what: string): void {
  if (t.length === 0) fail(what + " is empty");
  if (t.indexOf("+") >= 0 || t.indexOf("#") >= 0) fail(what + " contains a wildcard: " + t);
}

/** MQTT 3.1.1 §4.7.1: "#" only last and alone in its level, "+" alone in its level. */
function checkTopicFilter(t: string): void {
  const n = t.length;
  if (n === 0) fail("topic filter is empty");
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x23 && c !== 0x2b) continue;
    const levelStart = i === 0 || t.charCodeAt(i - 1) === 0x2f;
    const levelEnd = i === n - 1 || t.charCodeAt(i + 1) === 0x2f;
    if (!levelStart || !levelEnd || (c === 0x23 && i !== n - 1)) fail("misplaced wildcard in topic filter: " + t);
  }
}

function checkQos(q: number, max: number): void {
  if (!(q >= 0 && q <= max && (q & 3) === q)) fail("qos must be 0.." + max + ", got " + q);
}

function connectRemaining(p: ConnectPacket): number {
  // protocol name (2 + 4), level, flags, keepalive, client id
  let n = 10 + 2 + strBytes(p.clientId, "clientId");
  const k = p.keepaliveSec;
  if (!((k & 0xffff) === k)) fail("keepaliveSec must be an integer in 0..65535, got " + k);
  const w = p.will;
  if (w !== undefined) {
    checkQos(w.qos, 1);
    checkTopicName(w.topic, "will topic");
    n += 4 + strBytes(w.topic, "will topic") + binBytes(w.payload, "will payload");
  }
  if (p.username !== undefined) n += 2 + strBytes(p.username, "username");
  if (p.password !== undefined) {
    // §3.1.2.9: no password without a user name
    if (p.username === undefined) fail("a password needs a username (§3.1.2.9)");
    n += 2 + strBytes(p.password, "password");
  }
  return limited(n);
}

function publishRemaining(p: PublishPacket): number {
  checkQos(p.qos, 2);
  checkTopicName(p.topic, "topic");
  let n = 2 + strBytes(p.topic, "topic") + p.payload.length;
  if (p.qos > 0) {
    checkPacketId(p.packetId);
    n += 2;
  } else if (p.dup) {
    fail("dup must be false for QoS 0 (§3.3.1.1)");
  }
  return limited(n);
}

function subscribeRemaining(p: SubscribePacket): number {
  checkPacketId(p.packetId);
  const subs = p.subscriptions;
  if (subs.length === 0) fail("SUBSCRIBE needs at least one subscription (§3.8.3)");
  let n = 2;
  for (let i = 0; i < subs.length; i++) {
    checkTopicFilter(subs[i].topic);
    checkQos(subs[i].qos, 2);
    n += 3 + strBytes(subs[i].topic, "topic filter");
  }
  return limited(n);
}

/** MQTT 3.1.1 §2.2.3: the remaining length fits four length bytes. */
function limited(n: number): number {
  if (n > MAX_REMAINING_LENGTH) fail("packet needs " + n + " bytes, more than 268435455");
  return n;
}

/** The remaining length (§2.2.3) of p, validating every field on the way. */
function remainingLength(p: Packet): number {
  switch (p.type) {
    case "connect":
      return connectRemaining(p);
    case "connack":
      if (!((p.returnCode & 0xff) === p.returnCode)) fail("returnCode must be an integer in 0..255, got " + p.returnCode);
      return 2;
    case "publish":
      return publishRemaining(p);
    case "puback":
    case "unsuback":
      checkPacketId(p.packetId);
      return 2;
    case "subscribe":
      return subscribeRemaining(p);
    case "suback": {
      checkPacketId(p.packetId);
      const g = p.granted;
      if (g.length === 0) fail("SUBACK needs at least one return code (§3.9.3)");
      for (let i = 0; i < g.length; i++) {
        const c = g[i];
        if (c !== 0 && c !== 1 && c !== 2 && c !== 0x80) fail("SUBACK return code must be 0, 1, 2 or 0x80, got " + c);
      }
      return limited(2 + g.length);
    }
    case "unsubscribe": {
      checkPacketId(p.packetId);
      const t = p.topics;
      if (t.length === 0) fail("UNSUBSCRIBE needs at least one topic filter (§3.10.3)");
      let n = 2;
      for (let i = 0; i < t.length; i++) {
        checkTopicFilter(t[i]);
        n += 2 + strBytes(t[i], "topic filter");
      }
      return limited(n);
    }
    case "pingreq":
    case "pingresp":
    case "disconnect":
      return 0;
    default:
      return fail("unknown packet type " + (p as { type: string }).type);
  }
}

function varLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Total bytes of the encoded packet, fixed header included. Throws RangeError on invalid fields. */
export function packetLength(p: Packet): number {
  const n = remainingLength(p);
  return 1 + varLength(n) + n;
}

/** Writes a string field: the UTF-8 bytes first, then its 16-bit count in front. */
function writeStr(s: string, buf: Uint8Array, pos: number): number {
  const end = writeUtf8(s, buf, pos + 2);
  writeU16(end - pos - 2, buf, pos);
  return end;
}

/** A 16-bit big-endian number (§1.5.2): a length or a packet id. */
function writeU16(n: number, buf: Uint8Array, pos: number): number {
  buf[pos] = n >> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2;
}

function writeBin(b: Uint8Array, buf: Uint8Array, pos: number): number {
  buf.set(b, writeU16(b.length, buf, pos));
  return pos + 2 + b.length;
}

function writeConnect(p: ConnectPacket, buf: Uint8Array, pos: number): number {
  // §3.1.2.1-2: protocol name "MQTT", level 4
  buf[pos] = 0;
  buf[pos + 1] = 4;
  buf[pos + 2] = 0x4d;
  buf[pos + 3] = 0x51;
  buf[pos + 4] = 0x54;
  buf[pos + 5] = 0x54;
  buf[pos + 6] = 4;
  // §3.1.2.3 connect flags: user name 7, password 6, will retain 5, will QoS 4-3, will 2, clean session 1
  const w = p.will;
  let flags = p.cleanSession ? 0x02 : 0;
  if (w !== undefined) flags |= 0x04 | (w.qos << 3) | (w.retain ? 0x20 : 0);
  if (p.username !== undefined) flags |= 0x80;
  if (p.password !== undefined) flags |= 0x40;
  buf[pos + 7] = flags;
  pos = writeStr(p.clientId, buf, writeU16(p.keepaliveSec, buf, pos + 8));
  if (w !== undefined) {
    pos = writeStr(w.topic, buf, pos);
    pos = writeBin(w.payload, buf, pos);
  }
  if (p.username !== undefined) pos = writeStr(p.username, buf, pos);
  // §3.1.3.5: the password is binary data; ours is text, sent as its UTF-8 bytes
  if (p.password !== undefined) pos = writeStr(p.password, buf, pos);
  return pos;
}

function writePublish(p: PublishPacket, buf: Uint8Array, pos: number): number {
  pos = writeStr(p.topic, buf, pos);
  if (p.qos > 0) pos = writeU16(p.packetId, buf, pos);
  buf.set(p.payload, pos);
  return pos + p.payload.length;
}

function writeSubscribe(p: SubscribePacket, buf: Uint8Array, pos: number): number {
  pos = writeU16(p.packetId, buf, pos);
  const subs = p.subscriptions;
  for (let i = 0; i < subs.length; i++) {
    pos = writeStr(subs[i].topic, buf, pos);
    buf[pos++] = subs[i].qos;
  }
  return pos;
}

function publishByte(p: PublishPacket): number {
  return (PUBLISH << 4) | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0);
}

/** The first byte (§2.2): type and flags. */
function firstByte(p: Packet): number {
  switch (p.type) {
    case "connect": return CONNECT << 4;
    case "connack": return CONNACK << 4;
    case "publish": return publishByte(p);
    case "puback": return PUBACK << 4;
    // §3.8.1, §3.10.1: SUBSCRIBE and UNSUBSCRIBE carry fixed flags 0b0010
    case "subscribe": return (SUBSCRIBE << 4) | 2;
    case "suback": return SUBACK << 4;
    case "unsubscribe": return (UNSUBSCRIBE << 4) | 2;
    case "unsuback": return UNSUBACK << 4;
    case "pingreq": return PINGREQ << 4;
    case "pingresp": return PINGRESP << 4;
    default: return DISCONNECT << 4;
  }
}

/** Writes the fixed header at pos and returns the position after it. */
function writeHeader(b0: number, rem: number, buf: Uint8Array, pos: number): number {
  buf[pos++] = b0;
  // §2.2.3: 7 bits per byte, least significant first, high bit = more follows
  let n = rem;
  do {
    let d = n & 0x7f;
    n = n >>> 7;
    if (n > 0) d |= 0x80;
    buf[pos++] = d;
  } while (n > 0);
  return pos;
}

/** Writes the variable header and payload of p at pos; returns the position after it. */
function writeBody(p: Packet, buf: Uint8Array, pos: number): number {
  switch (p.type) {
    case "connect":
      return writeConnect(p, buf, pos);
    case "connack":
      buf[pos] = p.sessionPresent ? 1 : 0;
      buf[pos + 1] = p.returnCode;
      return pos + 2;
    case "publish":
      return writePublish(p, buf, pos);
    case "puback":
    case "unsuback":
      return writeU16(p.packetId, buf, pos);
    case "subscribe":
      return writeSubscribe(p, buf, pos);
    case "suback": {
      pos = writeU16(p.packetId, buf, pos);
      const g = p.granted;
      for (let i = 0; i < g.length; i++) buf[pos++] = g[i];
      return pos;
    }
    case "unsubscribe": {
      pos = writeU16(p.packetId, buf, pos);
      const t = p.topics;
      for (let i = 0; i < t.length; i++) pos = writeStr(t[i], buf, pos);
      return pos;
    }
    default:
      return pos;
  }
}

/**
 * Encodes p into buf at pos and returns the position after it. Throws RangeError on
 * invalid fields or when buf has no room, before writing anything.
 */
export function encodeInto(p: Packet, buf: Uint8Array, pos: number): number {
  const rem = remainingLength(p);
  const total = 1 + varLength(rem) + rem;
  if (!(pos >= 0 && pos + total <= buf.length)) fail("no room for " + total + " bytes at " + pos + " in a buffer of " + buf.length);
  return writeBody(p, buf, writeHeader(firstByte(p), rem, buf, pos));
}

/**
 * A packet's array: exactly its size, from `alloc` or new, with the fixed header written.
 * The body starts at buf.length - rem.
 */
function packetBuffer(b0: number, rem: number, alloc: ((n: number) => Uint8Array) | undefined): Uint8Array {
  const n = 1 + varLength(rem) + rem;
  const buf = alloc === undefined ? new Uint8Array(n) : alloc(n);
  if (buf.length !== n) fail("alloc(" + n + ") returned " + buf.length + " bytes");
  writeHeader(b0, rem, buf, 0);
  return buf;
}

/**
 * Encodes p into a new Uint8Array of exactly packetLength(p) bytes, every byte written.
 * `alloc`, when given, supplies that array instead of `new Uint8Array(n)`: a platform
 * may pass a pooled allocator (on Node, Buffer.allocUnsafe: V8 makes every fresh typed
 * array over 64 bytes an off-heap allocation, which costs more than encoding a PUBLISH).
 * The core never depends on such memory being fresh or zeroed.
 */
export function encode(p: Packet, alloc?: (n: number) => Uint8Array): Uint8Array {
  const rem = remainingLength(p);
  const buf = packetBuffer(firstByte(p), rem, alloc);
  writeBody(p, buf, buf.length - rem);
  return buf;
}

// The link's encoders: one per packet it sends, without encode()'s checks. The link only
// builds valid packets (a validated configuration, packet ids it allocates, topics it
// percent-encodes, and a size it checks with publishSize first), so a device build need not
// carry the checks. test/unit/mqtt.test.ts shows they equal encode() for every packet of
// the shapes the link makes.

/** A CONNECT the way the link sends it: no will, a user name and a password (a SAS token). */
export function connectUnchecked(p: ConnectPacket, alloc?: (n: number) => Uint8Array): Uint8Array {
  const rem = 14 + utf8Length(p.clientId) + utf8Length(p.username as string) + 2 + utf8Length(p.password as string);
  const buf = packetBuffer(CONNECT << 4, rem, alloc);
  writeConnect(p, buf, buf.length - rem);
  return buf;
}

/** Total bytes of a PUBLISH whose topic is `topicBytes` long in UTF-8. */
export function publishSize(topicBytes: number, payloadBytes: number, qos: number): number {
  const rem = 2 + topicBytes + payloadBytes + (qos > 0 ? 2 : 0);
  return 1 + varLength(rem) + rem;
}

/** A PUBLISH of QoS 0 or 1 (dup only with QoS 1), its topic at most 65535 bytes. */
export function publishUnchecked(p: PublishPacket, alloc?: (n: number) => Uint8Array): Uint8Array {
  const rem = 2 + utf8Length(p.topic) + p.payload.length + (p.qos > 0 ? 2 : 0);
  const buf = packetBuffer(publishByte(p), rem, alloc);
  writePublish(p, buf, buf.length - rem);
  return buf;
}

/** A SUBSCRIBE to one valid topic filter. */
export function subscribeUnchecked(p: SubscribePacket, alloc?: (n: number) => Uint8Array): Uint8Array {
  // §3.8.2-3.8.3: packet id, then each filter as a length-prefixed string and its QoS byte
  let rem = 2;
  for (let i = 0; i < p.subscriptions.length; i++) rem += 3 + utf8Length(p.subscriptions[i].topic);
  const buf = packetBuffer((SUBSCRIBE << 4) | 2, rem, alloc);
  writeSubscribe(p, buf, buf.length - rem);
  return buf;
}
