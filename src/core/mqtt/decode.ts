// MQTT 3.1.1 decoder: one packet at a time (decodePacket), or incrementally over a
// byte stream split anywhere (feed). Malformed input is a value, never an exception:
// every read is bounds-checked against the packet's end before it happens.
//
// Payloads (PUBLISH payload, will payload) are subarray views, never copies: of the
// caller's buffer for decodePacket; for feed, of the chunk passed in, or of a buffer
// feed allocated to join a pending tail with the chunk. Copy a payload before
// writing into the buffer it came from.
//
// Two decoders share the framing (first byte, remaining length, size limit): decodePacket
// and feed parse every packet type (the host: emulator, tests, tools); decodeFromServer and
// feedFromServer parse only what a server sends a client (CONNACK, PUBLISH, PUBACK, SUBACK,
// UNSUBACK, PINGRESP) and name a client-to-server packet without reading its body. The link
// uses the second pair, so a device build carries no CONNECT or SUBSCRIBE parser.

import {
  Packet, ProtocolError, ConnectPacket, ServerPacket, MisdirectedPacket,
  CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP,
} from "./packet.js";
import { decodeUtf8 } from "./utf8.js";
import { freeze } from "./freeze.js";

export { MQTT_ERRORS } from "./errors.js";

export interface DecodeOk<P = Packet> { ok: true; packet: P; next: number }

/** Bytes not yet consumed, and the absolute stream offset of pending[0]. Never mutated. */
export interface DecoderState { readonly pending: Uint8Array; readonly offset: number }

export interface FeedResult<P = Packet> { dec: DecoderState; packets: P[]; error: ProtocolError | null }

const EMPTY_BYTES = new Uint8Array(0);

/** The state before the first byte of a stream. */
export const EMPTY_DECODER: DecoderState = freeze({ pending: EMPTY_BYTES, offset: 0 });

function err(code: string, at: number): ProtocolError {
  return { ok: false, code: code, at: at };
}

/** Topic filter wildcard placement (§4.7.1); returns the offset of a bad byte or -1. */
function filterErrorAt(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 0x23 && c !== 0x2b) continue; // "#", "+"
    const levelStart = i === start || buf[i - 1] === 0x2f;
    const levelEnd = i === end - 1 || buf[i + 1] === 0x2f;
    if (!levelStart || !levelEnd || (c === 0x23 && i !== end - 1)) return i;
  }
  return -1;
}

/** A topic name has no wildcards (§4.7.1, §3.3.2.1); returns the offset of one or -1. */
function wildcardAt(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === 0x23 || c === 0x2b) return i;
  }
  return -1;
}

/** The error for a field starting at p that does not fit before pEnd: reported inside the packet. */
function truncated(p: number, pEnd: number, base: number): ProtocolError {
  return err("mqtt.truncated", base + (p < pEnd ? p : pEnd - 1));
}

/**
 * A length-prefixed UTF-8 string at p (§1.5.3), or an error. The caller advances with
 * p += 2 + ((buf[p] << 8) | buf[p + 1]).
 */
function readStr(buf: Uint8Array, p: number, pEnd: number, base: number): string | ProtocolError {
  if (pEnd - p < 2) return truncated(p, pEnd, base);
  const n = (buf[p] << 8) | buf[p + 1];
  if (pEnd - p - 2 < n) return truncated(p, pEnd, base);
  const s = decodeUtf8(buf, p + 2, p + 2 + n, false);
  return typeof s === "string" ? s : err("mqtt.badUtf8", base + s);
}

/** A non-empty topic name without wildcards, or an error. */
function readTopic(buf: Uint8Array, p: number, pEnd: number, base: number): string | ProtocolError {
  const s = readStr(buf, p, pEnd, base);
  if (typeof s !== "string") return s;
  if (s.length === 0) return err("mqtt.badTopic", base + p);
  const w = wildcardAt(buf, p + 2, strEnd(buf, p));
  if (w >= 0) return err("mqtt.badTopic", base + w);
  return s;
}

/** A non-empty topic filter with wildcards in place, or an error. */
function readFilter(buf: Uint8Array, p: number, pEnd: number, base: number): string | ProtocolError {
  const s = readStr(buf, p, pEnd, base);
  if (typeof s !== "string") return s;
  if (s.length === 0) return err("mqtt.badTopic", base + p);
  const w = filterErrorAt(buf, p + 2, strEnd(buf, p));
  if (w >= 0) return err("mqtt.badTopic", base + w);
  return s;
}

function strEnd(buf: Uint8Array, p: number): number {
  return p + 2 + ((buf[p] << 8) | buf[p + 1]);
}

function ok<P>(packet: P, next: number): DecodeOk<P> {
  return { ok: true, packet: packet, next: next };
}

/** The 16-bit big-endian number at p (§1.5.2); the caller checked the bounds. */
function u16At(buf: Uint8Array, p: number): number {
  return (buf[p] << 8) | buf[p + 1];
}

function decodeConnect(buf: Uint8Array, p: number, pEnd: number, base: number): DecodeOk | ProtocolError {
  // §3.1.2.1: protocol name "MQTT"
  if (pEnd - p < 2) return truncated(p, pEnd, base);
  const nameLen = u16At(buf, p);
  if (pEnd - p - 2 < nameLen) return truncated(p, pEnd, base);
  if (nameLen !== 4 || buf[p + 2] !== 0x4d || buf[p + 3] !== 0x51 || buf[p + 4] !== 0x54 || buf[p + 5] !== 0x54) {
    return err("mqtt.badProtocol", base + p);
  }
  p += 6;
  // §3.1.2.2: level 4; then flags (1) and keepalive (2)
  if (p >= pEnd) return truncated(p, pEnd, base);
  if (buf[p] !== 4) return err("mqtt.badProtocol", base + p);
  p++;
  if (p >= pEnd) return truncated(p, pEnd, base);
  const flags = buf[p];
  const willQos = (flags >> 3) & 3;
  const hasWill = (flags & 0x04) !== 0;
  // §3.1.2.3: reserved bit 0; §3.1.2.6-7: will QoS/retain only with the will flag; §3.1.2.9
  if ((flags & 0x01) !== 0 || (!hasWill && (flags & 0x38) !== 0) || ((flags & 0x40) !== 0 && (flags & 0x80) === 0)) {
    return err("mqtt.badConnectFlags", base + p);
  }
  if (willQos === 3) return err("mqtt.badQos", base + p);
  if (willQos === 2) return err("mqtt.unsupportedQos", base + p);
  p++;
  if (pEnd - p < 2) return truncated(p, pEnd, base);
  const keepaliveSec = u16At(buf, p);
  p += 2;
  const clientId = readStr(buf, p, pEnd, base);
  if (typeof clientId !== "string") return clientId;
  p = strEnd(buf, p);
  const pkt: ConnectPacket = { type: "connect", clientId: clientId, cleanSession: (flags & 0x02) !== 0, keepaliveSec: keepaliveSec };
  if (hasWill) {
    const topic = readTopic(buf, p, pEnd, base);
    if (typeof topic !== "string") return topic;
    p = strEnd(buf, p);
    if (pEnd - p < 2) return truncated(p, pEnd, base);
    const n = u16At(buf, p);
    if (pEnd - p - 2 < n) return truncated(p, pEnd, base);
    pkt.will = { topic: topic, payload: buf.subarray(p + 2, p + 2 + n), qos: willQos === 1 ? 1 : 0, retain: (flags & 0x20) !== 0 };
    p += 2 + n;
  }
  if ((flags & 0x80) !== 0) {
    const username = readStr(buf, p, pEnd, base);
    if (typeof username !== "string") return username;
    pkt.username = username;
    p = strEnd(buf, p);
  }
  if ((flags & 0x40) !== 0) {
    // §3.1.3.5: binary data; ours is a SAS token, so it must be UTF-8 text
    const password = readStr(buf, p, pEnd, base);
    if (typeof password !== "string") return password;
    pkt.password = password;
    p = strEnd(buf, p);
  }
  if (p !== pEnd) return err("mqtt.badLength", base + p);
  return ok<Packet>(pkt, pEnd);
}

function decodePublish(buf: Uint8Array, b0: number, p: number, pEnd: number, base: number): DecodeOk<ServerPacket> | ProtocolError {
  const topic = readTopic(buf, p, pEnd, base);
  if (typeof topic !== "string") return topic;
  p = strEnd(buf, p);
  const qos = (b0 >> 1) & 3;
  let packetId = 0;
  if (qos > 0) {
    if (pEnd - p < 2) return truncated(p, pEnd, base);
    packetId = u16At(buf, p);
    if (packetId === 0) return err("mqtt.badPacketId", base + p);
    p += 2;
  }
  return ok<ServerPacket>({
    type: "publish",
    topic: topic,
    payload: buf.subarray(p, pEnd),
    qos: qos === 0 ? 0 : qos === 1 ? 1 : 2,
    dup: (b0 & 8) !== 0,
    retain: (b0 & 1) !== 0,
    packetId: packetId,
  }, pEnd);
}

/**
 * The packet id that opens SUBSCRIBE, UNSUBSCRIBE and SUBACK, which at least one entry must
 * follow; or an error.
 */
function listId(buf: Uint8Array, p: number, pEnd: number, lenAt: number, base: number): number | ProtocolError {
  if (pEnd - p < 2) return truncated(p, pEnd, base);
  const packetId = u16At(buf, p);
  if (packetId === 0) return err("mqtt.badPacketId", base + p);
  if (p + 2 === pEnd) return err("mqtt.emptySubscription", base + lenAt);
  return packetId;
}

function decodeSubscribe(buf: Uint8Array, p: number, pEnd: number, lenAt: number, base: number): DecodeOk | ProtocolError {
  const packetId = listId(buf, p, pEnd, lenAt, base);
  if (typeof packetId !== "number") return packetId;
  p += 2;
  const subs: { topic: string; qos: 0 | 1 | 2 }[] = [];
  while (p < pEnd) {
    const topic = readFilter(buf, p, pEnd, base);
    if (typeof topic !== "string") return topic;
    p = strEnd(buf, p);
    if (p >= pEnd) return truncated(p, pEnd, base);
    const o = buf[p];
    // §3.8.3.1: bits 7-2 of the requested QoS byte are reserved
    if ((o & 0xfc) !== 0) return err("mqtt.reservedFlags", base + p);
    if (o === 3) return err("mqtt.badQos", base + p);
    subs.push({ topic: topic, qos: o === 0 ? 0 : o === 1 ? 1 : 2 });
    p++;
  }
  return ok<Packet>({ type: "subscribe", packetId: packetId, subscriptions: subs }, pEnd);
}

function decodeUnsubscribe(buf: Uint8Array, p: number, pEnd: number, lenAt: number, base: number): DecodeOk | ProtocolError {
  const packetId = listId(buf, p, pEnd, lenAt, base);
  if (typeof packetId !== "number") return packetId;
  p += 2;
  const topics: string[] = [];
  while (p < pEnd) {
    const topic = readFilter(buf, p, pEnd, base);
    if (typeof topic !== "string") return topic;
    topics.push(topic);
    p = strEnd(buf, p);
  }
  return ok<Packet>({ type: "unsubscribe", packetId: packetId, topics: topics }, pEnd);
}

function decodeSuback(buf: Uint8Array, p: number, pEnd: number, lenAt: number, base: number): DecodeOk<ServerPacket> | ProtocolError {
  const packetId = listId(buf, p, pEnd, lenAt, base);
  if (typeof packetId !== "number") return packetId;
  const granted: number[] = [];
  for (p += 2; p < pEnd; p++) {
    const c = buf[p];
    if (c !== 0 && c !== 1 && c !== 2 && c !== 0x80) return err("mqtt.badGranted", base + p);
    granted.push(c);
  }
  return ok<ServerPacket>({ type: "suback", packetId: packetId, granted: granted }, pEnd);
}

/** A body parser: buf[p..pEnd) is the whole body of the packet whose first byte is b0. */
type BodyDecoder<P> = (buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number) => DecodeOk<P> | ProtocolError;

/** The name of a client-to-server packet type. */
function misdirected(type: number): MisdirectedPacket {
  return { type: type === CONNECT ? "connect" : type === SUBSCRIBE ? "subscribe" : type === UNSUBSCRIBE ? "unsubscribe" : type === PINGREQ ? "pingreq" : "disconnect" };
}

/** The body of what a server sends a client; a client-to-server type is only named. */
function serverBody(buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number): DecodeOk<ServerPacket> | ProtocolError {
  const type = b0 >> 4;
  switch (type) {
    case CONNACK: {
      // §3.2.2.1: bits 7-1 of the acknowledge flags are reserved
      const f = buf[p];
      if ((f & 0xfe) !== 0) return err("mqtt.badConnackFlags", base + p);
      return ok<ServerPacket>({ type: "connack", sessionPresent: f === 1, returnCode: buf[p + 1] }, pEnd);
    }
    case PUBLISH:
      return decodePublish(buf, b0, p, pEnd, base);
    case PUBACK:
    case UNSUBACK: {
      const packetId = u16At(buf, p);
      if (packetId === 0) return err("mqtt.badPacketId", base + p);
      return ok<ServerPacket>(type === PUBACK ? { type: "puback", packetId: packetId } : { type: "unsuback", packetId: packetId }, pEnd);
    }
    case SUBACK:
      return decodeSuback(buf, p, pEnd, lenAt, base);
    case PINGRESP:
      return ok<ServerPacket>({ type: "pingresp" }, pEnd);
    default:
      return ok<ServerPacket>(misdirected(type), pEnd);
  }
}

/** The body of any packet type. */
function anyBody(buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number): DecodeOk | ProtocolError {
  switch (b0 >> 4) {
    case CONNECT:
      return decodeConnect(buf, p, pEnd, base);
    case SUBSCRIBE:
      return decodeSubscribe(buf, p, pEnd, lenAt, base);
    case UNSUBSCRIBE:
      return decodeUnsubscribe(buf, p, pEnd, lenAt, base);
    case PINGREQ:
      return ok<Packet>({ type: "pingreq" }, pEnd);
    default:
      // DISCONNECT's name, and the server-to-client types, are whole Packets
      return serverBody(buf, b0, p, pEnd, lenAt, base) as DecodeOk | ProtocolError;
  }
}

/** The framing both decoders share; see decodePacket. */
function decodeWith<P>(body: BodyDecoder<P>, buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number): DecodeOk<P> | ProtocolError | null {
  if (end > buf.length) end = buf.length;
  if (pos >= end) return null;
  const b0 = buf[pos];
  const type = b0 >> 4;
  const flags = b0 & 0x0f;
  if (type === 0 || type === 15) return err("mqtt.reservedType", base + pos);
  if (type >= 5 && type <= 7) return err("mqtt.unsupportedType", base + pos);
  if (type === PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) return err("mqtt.badQos", base + pos);
    // §3.3.1.1: DUP must be 0 for QoS 0
    if (qos === 0 && (flags & 8) !== 0) return err("mqtt.reservedFlags", base + pos);
  } else if (flags !== (type === SUBSCRIBE || type === UNSUBSCRIBE ? 2 : 0)) {
    // §2.2.2 table 2.2: SUBSCRIBE, UNSUBSCRIBE 0b0010 (PUBREL too, unsupported); all others 0
    return err("mqtt.reservedFlags", base + pos);
  }

  // §2.2.3: remaining length, 7 bits a byte, at most 4 bytes
  let len = 0;
  let mul = 1;
  let i = pos + 1;
  for (;;) {
    if (i >= end) return null;
    if (i - pos > 4) return err("mqtt.lengthTooLong", base + i);
    const b = buf[i++];
    len += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) break;
  }
  const lenAt = pos + 1;

  // fixed-size packets: CONNACK, PUBACK, UNSUBACK carry 2 bytes; PINGREQ, PINGRESP, DISCONNECT none
  if (type === CONNACK || type === PUBACK || type === UNSUBACK) {
    if (len !== 2) return err("mqtt.badLength", base + lenAt);
  } else if (type >= PINGREQ) {
    if (len !== 0) return err("mqtt.badLength", base + lenAt);
  }
  if (i - pos + len > maxPacketBytes) return err("mqtt.packetTooLarge", base + lenAt);
  if (end - i < len) return null;
  return body(buf, b0, i, i + len, lenAt, base);
}

/**
 * Decodes one packet from buf[pos..end). Returns null when more bytes are needed,
 * the packet and the index after it (`next`, in buf), or a ProtocolError whose `at` is
 * base + the index of the offending byte. Checks the first byte as soon as it is there,
 * and the packet size (fixed header + remaining length > maxPacketBytes:
 * mqtt.packetTooLarge, at the first length byte) as soon as the length is complete,
 * before any of the body arrives. Never throws.
 */
export function decodePacket(buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number): DecodeOk | ProtocolError | null {
  return decodeWith(anyBody, buf, pos, end, maxPacketBytes, base);
}

/**
 * decodePacket for a client: the same framing, the same packets and errors for what a
 * server sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP); a client-to-server
 * type (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT) is checked up to its length
 * and returned as { type } alone, its body unread, for the client to reject.
 */
export function decodeFromServer(buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number): DecodeOk<ServerPacket> | ProtocolError | null {
  return decodeWith(serverBody, buf, pos, end, maxPacketBytes, base);
}

type Decoder<P> = (buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number) => DecodeOk<P> | ProtocolError | null;

function feedWith<P>(decode: Decoder<P>, dec: DecoderState, chunk: Uint8Array, maxPacketBytes: number): FeedResult<P> {
  const packets: P[] = [];
  if (chunk.length === 0) return { dec: dec, packets: packets, error: null };
  const pl = dec.pending.length;
  let buf = chunk;
  if (pl > 0) {
    // join the tail with the chunk; the no-pending case decodes the chunk in place
    buf = new Uint8Array(pl + chunk.length);
    buf.set(dec.pending, 0);
    buf.set(chunk, pl);
  }
  const base = dec.offset;
  const end = buf.length;
  let pos = 0;
  let error: ProtocolError | null = null;
  while (pos < end) {
    const r = decode(buf, pos, end, maxPacketBytes, base);
    if (r === null) break;
    if (r.ok === false) {
      error = r;
      break;
    }
    packets.push(r.packet);
    pos = r.next;
  }
  // the tail is copied so that the state owns its bytes and pins no large buffer
  const next: DecoderState = pos === end
    ? { pending: EMPTY_BYTES, offset: base + end }
    : { pending: buf.slice(pos), offset: base + pos };
  return { dec: next, packets: packets, error: error };
}

/**
 * Feeds the next chunk of a byte stream. Pure: `dec` and `chunk` are never written, and
 * an old state can be fed again. Returns every complete packet, the state holding the
 * incomplete tail (a copy; `offset` stays absolute across feeds), and the first error.
 * Packets before an error are returned; after an error the stream is dead (close the
 * link): the returned state then starts at the offending packet, and feeding it again
 * reports the same error. See the top of this file for payload views.
 */
export function feed(dec: DecoderState, chunk: Uint8Array, maxPacketBytes: number): FeedResult {
  return feedWith(decodePacket, dec, chunk, maxPacketBytes);
}

/** feed for a client: decodes with decodeFromServer (what the link uses). */
export function feedFromServer(dec: DecoderState, chunk: Uint8Array, maxPacketBytes: number): FeedResult<ServerPacket> {
  return feedWith(decodeFromServer, dec, chunk, maxPacketBytes);
}
