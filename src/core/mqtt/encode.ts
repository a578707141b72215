// MQTT 3.1.1 encoder: one function per packet kind, each used by the host (tests, tools, the
// bench) and the device (the link) alike. Size first, allocate once, write with a cursor
// (STYLE.md). Each checks what it can in O(1) before a byte is written: numbers in range,
// string byte counts (which sizing computes anyway), required fields present. What cannot
// be encoded is a value, { ok: false, code, at }, never an exception; `at` is the offset of the
// field after the packet's first byte, its remaining-length bytes not counted (the encoder
// fails before it knows how many there are): 0 is the first byte (QoS, DUP), 1 the start of
// the variable header.
//
// Not checked here, because it would take a scan of every character: the wildcard syntax of
// topic names and filters (§4.7). The link's topics come from a device id the configuration
// validator refuses with "+" or "#" in it, and percent-encoded properties; a peer's decoder
// checks them on receipt (decode.ts reports mqtt.badTopic).

import {
  CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
  PINGREQ, PINGRESP, DISCONNECT, Packet, ConnectPacket, ConnackPacket, PublishPacket, SubscribePacket,
  SubackPacket, UnsubscribePacket, ProtocolError, protocolError,
} from "./packet.js";
import { utf8Length, writeUtf8 } from "./utf8.js";

/** MQTT 3.1.1 §2.2.3: four length bytes encode at most 268,435,455. */
export const MAX_REMAINING_LENGTH = 268435455;
/** MQTT 3.1.1 §1.5.3: a string carries a 16-bit byte count. */
export const MAX_STRING_BYTES = 65535;

/**
 * Where an encoder takes its array: `new Uint8Array(n)` when absent. A platform may pass a
 * pooled allocator (on Node, Buffer.allocUnsafe: V8 makes every fresh typed array over 64
 * bytes an off-heap allocation, which costs more than encoding a PUBLISH). It must return
 * exactly n bytes; the encoder never depends on them being fresh or zeroed.
 */
export type Alloc = (n: number) => Uint8Array;

/** An encoded packet, or why it cannot be encoded. */
export type Encoded = Uint8Array | ProtocolError;

/**
 * Shared constant packets for the hot paths. Typed arrays with elements cannot be frozen
 * (engines throw), so these are typed read-only: never write into them.
 */
export const PINGREQ_BYTES: Readonly<Uint8Array> = new Uint8Array([PINGREQ << 4, 0]);
export const PINGRESP_BYTES: Readonly<Uint8Array> = new Uint8Array([PINGRESP << 4, 0]);
export const DISCONNECT_BYTES: Readonly<Uint8Array> = new Uint8Array([DISCONNECT << 4, 0]);

/** A packet identifier is an integer in 1..65535 (§2.3.1; no Number.isInteger on Espruino). */
function badId(id: number): boolean {
  return !(id >= 1 && (id & 0xffff) === id);
}

function varLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Total bytes of a PUBLISH whose topic is `topicBytes` long in UTF-8 (what the link checks before it queues). */
export function publishSize(topicBytes: number, payloadBytes: number, qos: number): number {
  const rem = 2 + topicBytes + payloadBytes + (qos > 0 ? 2 : 0);
  return 1 + varLength(rem) + rem;
}

/**
 * A packet's array: exactly its size, from `alloc` or new, with the fixed header written
 * (§2.2.3: 7 bits a byte, least significant first, high bit = more follows). The body starts
 * at buf.length - rem. An allocator that returns another size is a programmer error: it throws.
 */
function packetBuffer(b0: number, rem: number, alloc: Alloc | undefined): Uint8Array {
  const n = 1 + varLength(rem) + rem;
  const buf = alloc === undefined ? new Uint8Array(n) : alloc(n);
  if (buf.length !== n) throw new RangeError("mqtt encode: alloc(" + n + ") returned " + buf.length + " bytes");
  buf[0] = b0;
  let pos = 1;
  let r = rem;
  do {
    let d = r & 0x7f;
    r = r >>> 7;
    if (r > 0) d |= 0x80;
    buf[pos++] = d;
  } while (r > 0);
  return buf;
}

/** A 16-bit big-endian number (§1.5.2): a length or a packet id. */
function writeU16(n: number, buf: Uint8Array, pos: number): number {
  buf[pos] = n >> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2;
}

/** Writes a string field: the UTF-8 bytes first, then its 16-bit count in front. */
function writeStr(s: string, buf: Uint8Array, pos: number): number {
  const end = writeUtf8(s, buf, pos + 2);
  writeU16(end - pos - 2, buf, pos);
  return end;
}

/** A string field's UTF-8 byte count, or -1 when it is past §1.5.3's 16-bit count. */
function strBytes(s: string): number {
  const n = utf8Length(s);
  return n > MAX_STRING_BYTES ? -1 : n;
}

// Error codes (errors.ts describes every one) are written out where they are returned: a
// module-level constant would be a variable at rest on Espruino (JsVars); a literal stays in
// the code (flash).

/** The error for a topic or filter whose strBytes is n (0: empty, §4.7.3; -1: too long). */
function topicError(n: number, at: number): ProtocolError {
  return protocolError(n === 0 ? "mqtt.badTopic" : "mqtt.stringTooLong", at);
}

/**
 * CONNECT (§3.1). Checks: keepalive 0..65535, a will of QoS 0 or 1 with a non-empty topic,
 * no password without a user name (§3.1.2.9), every string and the will payload at most
 * 65,535 bytes.
 */
export function encodeConnect(p: ConnectPacket, alloc?: Alloc): Encoded {
  const k = p.keepaliveSec;
  if ((k & 0xffff) !== k) return protocolError("mqtt.fieldRange", 9);
  // protocol name (2 + 4), level, flags, keepalive, then the client id
  let rem = 10;
  let n = strBytes(p.clientId);
  if (n < 0) return protocolError("mqtt.stringTooLong", 1 + rem);
  rem += 2 + n;
  const w = p.will;
  if (w !== undefined) {
    if (w.qos !== 0 && w.qos !== 1) return protocolError(w.qos === 2 ? "mqtt.unsupportedQos" : "mqtt.badQos", 8);
    n = strBytes(w.topic);
    if (n <= 0) return topicError(n, 1 + rem);
    rem += 2 + n;
    n = w.payload.length;
    if (n > MAX_STRING_BYTES) return protocolError("mqtt.stringTooLong", 1 + rem);
    rem += 2 + n;
  }
  if (p.username !== undefined) {
    n = strBytes(p.username);
    if (n < 0) return protocolError("mqtt.stringTooLong", 1 + rem);
    rem += 2 + n;
  }
  if (p.password !== undefined) {
    if (p.username === undefined) return protocolError("mqtt.badConnectFlags", 8);
    n = strBytes(p.password);
    if (n < 0) return protocolError("mqtt.stringTooLong", 1 + rem);
    rem += 2 + n;
  }
  // at most 10 + 5 x 65,537 bytes: far inside §2.2.3's limit
  const buf = packetBuffer(CONNECT << 4, rem, alloc);
  let pos = buf.length - rem;
  // §3.1.2.1-2: protocol name "MQTT", level 4
  buf[pos] = 0;
  buf[pos + 1] = 4;
  buf[pos + 2] = 0x4d;
  buf[pos + 3] = 0x51;
  buf[pos + 4] = 0x54;
  buf[pos + 5] = 0x54;
  buf[pos + 6] = 4;
  // §3.1.2.3 connect flags: user name 7, password 6, will retain 5, will QoS 4-3, will 2, clean session 1
  let flags = p.cleanSession ? 0x02 : 0;
  if (w !== undefined) flags |= 0x04 | (w.qos << 3) | (w.retain ? 0x20 : 0);
  if (p.username !== undefined) flags |= 0x80;
  if (p.password !== undefined) flags |= 0x40;
  buf[pos + 7] = flags;
  pos = writeStr(p.clientId, buf, writeU16(k, buf, pos + 8));
  if (w !== undefined) {
    pos = writeStr(w.topic, buf, pos);
    buf.set(w.payload, writeU16(w.payload.length, buf, pos));
    pos += 2 + w.payload.length;
  }
  if (p.username !== undefined) pos = writeStr(p.username, buf, pos);
  // §3.1.3.5: the password is binary data; ours is text, sent as its UTF-8 bytes
  if (p.password !== undefined) writeStr(p.password, buf, pos);
  return buf;
}

/** CONNACK (§3.2): a return code 0..255. */
export function encodeConnack(p: ConnackPacket): Encoded {
  const rc = p.returnCode;
  if ((rc & 0xff) !== rc) return protocolError("mqtt.fieldRange", 2);
  const buf = packetBuffer(CONNACK << 4, 2, undefined);
  buf[2] = p.sessionPresent ? 1 : 0;
  buf[3] = rc;
  return buf;
}

/**
 * PUBLISH (§3.3). Checks: QoS 0..2, no DUP at QoS 0 (§3.3.1.1), a non-empty topic of at most
 * 65,535 bytes, a packet id at QoS 1 and 2, and the remaining length (§2.2.3).
 */
export function encodePublish(p: PublishPacket, alloc?: Alloc): Encoded {
  const q = p.qos;
  if (q !== 0 && q !== 1 && q !== 2) return protocolError("mqtt.badQos", 0);
  if (q === 0 && p.dup) return protocolError("mqtt.reservedFlags", 0);
  const n = strBytes(p.topic);
  if (n <= 0) return topicError(n, 1);
  if (q > 0 && badId(p.packetId)) return protocolError("mqtt.packetIdRange", 3 + n);
  const rem = 2 + n + (q > 0 ? 2 : 0) + p.payload.length;
  if (rem > MAX_REMAINING_LENGTH) return protocolError("mqtt.lengthTooLong", 1);
  const buf = packetBuffer((PUBLISH << 4) | (p.dup ? 8 : 0) | (q << 1) | (p.retain ? 1 : 0), rem, alloc);
  let pos = writeStr(p.topic, buf, buf.length - rem);
  if (q > 0) pos = writeU16(p.packetId, buf, pos);
  buf.set(p.payload, pos);
  return buf;
}

/** A packet of a packet id alone: PUBACK (§3.4) and UNSUBACK (§3.11). */
function idOnly(b0: number, packetId: number): Encoded {
  if (badId(packetId)) return protocolError("mqtt.packetIdRange", 1);
  const buf = packetBuffer(b0, 2, undefined);
  writeU16(packetId, buf, 2);
  return buf;
}

/** PUBACK (§3.4) for packetId, four bytes. */
export function encodePuback(packetId: number): Encoded {
  return idOnly(PUBACK << 4, packetId);
}

/** UNSUBACK (§3.11) for packetId, four bytes. */
export function encodeUnsuback(packetId: number): Encoded {
  return idOnly(UNSUBACK << 4, packetId);
}

/**
 * SUBSCRIBE (§3.8). Checks: a packet id, at least one filter, each non-empty and at most
 * 65,535 bytes, with QoS 0..2.
 */
export function encodeSubscribe(p: SubscribePacket, alloc?: Alloc): Encoded {
  if (badId(p.packetId)) return protocolError("mqtt.packetIdRange", 1);
  const subs = p.subscriptions;
  if (subs.length === 0) return protocolError("mqtt.emptySubscription", 1);
  // §3.8.2-3.8.3: packet id, then each filter as a length-prefixed string and its QoS byte
  let rem = 2;
  for (let i = 0; i < subs.length; i++) {
    const n = strBytes(subs[i].topic);
    if (n <= 0) return topicError(n, 1 + rem);
    const q = subs[i].qos;
    if (q !== 0 && q !== 1 && q !== 2) return protocolError("mqtt.badQos", 3 + rem + n);
    rem += 3 + n;
  }
  // at most 2 + 65,538 bytes a filter
  if (rem > MAX_REMAINING_LENGTH) return protocolError("mqtt.lengthTooLong", 1);
  // §3.8.1: SUBSCRIBE carries fixed flags 0b0010
  const buf = packetBuffer((SUBSCRIBE << 4) | 2, rem, alloc);
  let pos = writeU16(p.packetId, buf, buf.length - rem);
  for (let i = 0; i < subs.length; i++) {
    pos = writeStr(subs[i].topic, buf, pos);
    buf[pos++] = subs[i].qos;
  }
  return buf;
}

/** SUBACK (§3.9). Checks: a packet id, at least one return code, each 0, 1, 2 or 0x80. */
export function encodeSuback(p: SubackPacket, alloc?: Alloc): Encoded {
  if (badId(p.packetId)) return protocolError("mqtt.packetIdRange", 1);
  const g = p.granted;
  if (g.length === 0) return protocolError("mqtt.emptySubscription", 1);
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c !== 0 && c !== 1 && c !== 2 && c !== 0x80) return protocolError("mqtt.badGranted", 3 + i);
  }
  if (2 + g.length > MAX_REMAINING_LENGTH) return protocolError("mqtt.lengthTooLong", 1);
  const buf = packetBuffer(SUBACK << 4, 2 + g.length, alloc);
  let pos = writeU16(p.packetId, buf, buf.length - 2 - g.length);
  for (let i = 0; i < g.length; i++) buf[pos++] = g[i];
  return buf;
}

/** UNSUBSCRIBE (§3.10). Checks: a packet id, at least one filter, each non-empty and at most 65,535 bytes. */
export function encodeUnsubscribe(p: UnsubscribePacket, alloc?: Alloc): Encoded {
  if (badId(p.packetId)) return protocolError("mqtt.packetIdRange", 1);
  const t = p.topics;
  if (t.length === 0) return protocolError("mqtt.emptySubscription", 1);
  let rem = 2;
  for (let i = 0; i < t.length; i++) {
    const n = strBytes(t[i]);
    if (n <= 0) return topicError(n, 1 + rem);
    rem += 2 + n;
  }
  if (rem > MAX_REMAINING_LENGTH) return protocolError("mqtt.lengthTooLong", 1);
  // §3.10.1: UNSUBSCRIBE carries fixed flags 0b0010
  const buf = packetBuffer((UNSUBSCRIBE << 4) | 2, rem, alloc);
  let pos = writeU16(p.packetId, buf, buf.length - rem);
  for (let i = 0; i < t.length; i++) pos = writeStr(t[i], buf, pos);
  return buf;
}

/**
 * Any packet, by its kind: the host's entry point (the emulator, tests, tools). A fresh copy
 * for PINGREQ, PINGRESP and DISCONNECT. The link calls the encoder of each kind it sends.
 */
export function encode(p: Packet, alloc?: Alloc): Encoded {
  switch (p.type) {
    case "connect": return encodeConnect(p, alloc);
    case "connack": return encodeConnack(p);
    case "publish": return encodePublish(p, alloc);
    case "puback": return encodePuback(p.packetId);
    case "subscribe": return encodeSubscribe(p, alloc);
    case "suback": return encodeSuback(p, alloc);
    case "unsubscribe": return encodeUnsubscribe(p, alloc);
    case "unsuback": return encodeUnsuback(p.packetId);
    case "pingreq": return PINGREQ_BYTES.slice();
    case "pingresp": return PINGRESP_BYTES.slice();
    case "disconnect": return DISCONNECT_BYTES.slice();
    default: return protocolError("mqtt.reservedType", 0);
  }
}
