// MQTT 3.1.1 decoder: one packet at a time (decodePacket), or incrementally over a byte
// stream split anywhere (feed). Malformed input is a value, never an exception: every read is
// bounds-checked against the packet's end before it happens.
//
// One framing (first byte, remaining length, size limit) and one incremental decoder serve
// both sides; what a side accepts is its body parser: `fromServer` (what a client receives:
// CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP; a client-to-server type is named, its
// body unread), used by the link, so a device build carries no CONNECT or SUBSCRIBE parser;
// `anyPacket` (every modelled type), used on the host: tests, tools, the fuzzer.
//
// Memory: a packet that arrives whole inside one chunk is decoded in place, and its payload
// (PUBLISH, will) is a subarray view of that chunk: copy a payload before writing into the
// chunk it came from. A packet split across chunks gets one array of exactly its size as soon
// as its fixed header is complete, and each later chunk is copied into it once: a 64 KB
// PUBLISH in 1,460-byte chunks is copied once, not re-joined on every chunk (a fixed header
// cut in two, at most 5 bytes, is joined with the next chunk). The state never holds a view of
// a chunk: its array is its own.

import {
  Packet, ProtocolError, ConnectPacket, ServerPacket, protocolError,
  CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP,
} from "./packet.js";
import { decodeUtf8 } from "./utf8.js";
import { freeze } from "./freeze.js";

export { MQTT_ERRORS } from "./errors.js";

export interface DecodeOk<P = Packet> { ok: true; packet: P; next: number }

/**
 * Between chunks: the packet being received, if any. What a state shows never changes: feed
 * returns a new state, and an old state can be fed again (see `mark`).
 */
export interface DecoderState {
  /**
   * the packet's bytes so far, in an array of its own: at the packet's whole size once its fixed
   * header is complete (filled < buf.length); before that, the header's bytes (filled === buf.length, at most 5)
   */
  readonly buf: Uint8Array;
  /** bytes of buf received; 0 between packets */
  readonly filled: number;
  /** the absolute stream offset of buf[0] (of the next packet when filled is 0) */
  readonly offset: number;
  /** the error that ended the stream, or null; feeding a dead state returns it again */
  readonly error: ProtocolError | null;
  /**
   * how far the newest state of this packet has filled buf, shared by its states: only the state
   * at the mark appends in place; an older one fed again copies first, so no state's bytes change
   */
  readonly mark: { n: number };
}

export interface FeedResult<P = Packet> { dec: DecoderState; packets: P[]; error: ProtocolError | null }

const EMPTY_BYTES = new Uint8Array(0);
/** the mark of states without a packet in progress: never written (fill 0 never appends) */
const NO_MARK = freeze({ n: 0 });

/** The state before the first byte of a stream. */
export const EMPTY_DECODER: DecoderState = freeze({ buf: EMPTY_BYTES, filled: 0, offset: 0, error: null, mark: NO_MARK });

const err = protocolError;

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
  // two native searches on the happy path; the bytes are scanned for the offset only when one is there
  if (s.indexOf("#") >= 0 || s.indexOf("+") >= 0) return err("mqtt.badTopic", base + wildcardAt(buf, p + 2, p + 2 + ((buf[p] << 8) | buf[p + 1])));
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

// strEnd, ok and u16At serve the host's parsers (CONNECT, SUBSCRIBE, UNSUBSCRIBE). The device's
// (fromServer and what it calls) write the same expressions in place: there each helper would be
// a function object at rest on Espruino and a call per received packet on XS.

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
  p = p + 2 + ((buf[p] << 8) | buf[p + 1]);
  const qos = (b0 >> 1) & 3;
  let packetId = 0;
  if (qos > 0) {
    if (pEnd - p < 2) return truncated(p, pEnd, base);
    packetId = (buf[p] << 8) | buf[p + 1];
    if (packetId === 0) return err("mqtt.badPacketId", base + p);
    p += 2;
  }
  return { ok: true, packet: {
    type: "publish",
    topic: topic,
    payload: buf.subarray(p, pEnd),
    qos: qos === 0 ? 0 : qos === 1 ? 1 : 2,
    dup: (b0 & 8) !== 0,
    retain: (b0 & 1) !== 0,
    packetId: packetId,
  }, next: pEnd };
}

/**
 * The packet id that opens SUBSCRIBE, UNSUBSCRIBE and SUBACK, which at least one entry must
 * follow; or an error.
 */
function listId(buf: Uint8Array, p: number, pEnd: number, lenAt: number, base: number): number | ProtocolError {
  if (pEnd - p < 2) return truncated(p, pEnd, base);
  const packetId = (buf[p] << 8) | buf[p + 1];
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
  return { ok: true, packet: { type: "suback", packetId: packetId, granted: granted }, next: pEnd };
}

/**
 * A body parser, which says what one side accepts: buf[p..pEnd) is the whole body of the packet
 * whose first byte is b0 (already checked, as is its length), lenAt the index of its first length byte.
 */
export type BodyParser<P> = (buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number) => DecodeOk<P> | ProtocolError;

/** What a client accepts: the body of what a server sends; a client-to-server type is only named. */
export function fromServer(buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number): DecodeOk<ServerPacket> | ProtocolError {
  const type = b0 >> 4;
  // most frequent first: a PUBACK for every telemetry message, then PUBLISH (cloud-to-device)
  switch (type) {
    case PUBACK:
    case UNSUBACK: {
      const packetId = (buf[p] << 8) | buf[p + 1];
      if (packetId === 0) return err("mqtt.badPacketId", base + p);
      return { ok: true, packet: type === PUBACK ? { type: "puback", packetId: packetId } : { type: "unsuback", packetId: packetId }, next: pEnd };
    }
    case PUBLISH:
      return decodePublish(buf, b0, p, pEnd, base);
    case CONNACK: {
      // §3.2.2.1: bits 7-1 of the acknowledge flags are reserved
      const f = buf[p];
      if ((f & 0xfe) !== 0) return err("mqtt.badConnackFlags", base + p);
      return { ok: true, packet: { type: "connack", sessionPresent: f === 1, returnCode: buf[p + 1] }, next: pEnd };
    }
    case SUBACK:
      return decodeSuback(buf, p, pEnd, lenAt, base);
    case PINGRESP:
      return { ok: true, packet: { type: "pingresp" }, next: pEnd };
    default:
      // a client-to-server type, named, its body unread
      return { ok: true, packet: { type: type === CONNECT ? "connect" : type === SUBSCRIBE ? "subscribe" : type === UNSUBSCRIBE ? "unsubscribe" : type === PINGREQ ? "pingreq" : "disconnect" }, next: pEnd };
  }
}

/** Every modelled packet type (the host's parser). */
export function anyPacket(buf: Uint8Array, b0: number, p: number, pEnd: number, lenAt: number, base: number): DecodeOk | ProtocolError {
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
      return fromServer(buf, b0, p, pEnd, lenAt, base) as DecodeOk | ProtocolError;
  }
}

/**
 * Checks the fixed header at buf[pos..end) (§2.2) as far as it has arrived: the first byte as
 * soon as it is there, the length and the size limit (fixed header + remaining length >
 * maxPacketBytes: mqtt.packetTooLarge, at the first length byte) as soon as the length is
 * complete. Returns the packet's whole size, 0 while more bytes are needed, or an error.
 */
function frame(buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number): number | ProtocolError {
  if (pos >= end) return 0;
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
    if (i >= end) return 0;
    if (i - pos > 4) return err("mqtt.lengthTooLong", base + i);
    const b = buf[i++];
    len += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) break;
  }

  // fixed-size packets: CONNACK, PUBACK, UNSUBACK carry 2 bytes; PINGREQ, PINGRESP, DISCONNECT none
  if (type === CONNACK || type === PUBACK || type === UNSUBACK) {
    if (len !== 2) return err("mqtt.badLength", base + pos + 1);
  } else if (type >= PINGREQ) {
    if (len !== 0) return err("mqtt.badLength", base + pos + 1);
  }
  if (i - pos + len > maxPacketBytes) return err("mqtt.packetTooLarge", base + pos + 1);
  return i - pos + len;
}

/**
 * Decodes one packet from buf[pos..end) with `parse`. Returns null when more bytes are needed,
 * the packet and the index after it (`next`, in buf), or a ProtocolError whose `at` is base +
 * the index of the offending byte. The fixed header is checked as it arrives (see frame),
 * before any of the body. Never throws.
 */
export function decodePacket<P>(buf: Uint8Array, pos: number, end: number, maxPacketBytes: number, base: number, parse: BodyParser<P>): DecodeOk<P> | ProtocolError | null {
  if (end > buf.length) end = buf.length;
  const size = frame(buf, pos, end, maxPacketBytes, base);
  if (typeof size !== "number") return size;
  if (size === 0 || end - pos < size) return null;
  // the body starts after the last length byte (the one below 0x80)
  let i = pos + 1;
  while (buf[i] >= 0x80) i++;
  return parse(buf, buf[pos], i + 1, pos + size, pos + 1, base);
}

/**
 * Feeds the next chunk of a byte stream, decoding with `parse`. Pure as far as a caller can
 * see: `dec` and `chunk` are never written, and an old state can be fed again. Returns every
 * complete packet, the state holding the incomplete one (its own array, never a view of the
 * chunk; `offset` stays absolute across feeds), and the first error. Packets before an error
 * are returned; after an error the stream is dead (close the link): the returned state starts
 * at the offending packet, and feeding it again reports the same error. See the top of this
 * file for payload views and for what is copied when.
 */
export function feed<P>(dec: DecoderState, chunk: Uint8Array, maxPacketBytes: number, parse: BodyParser<P>): FeedResult<P> {
  const packets: P[] = [];
  if (dec.error !== null || chunk.length === 0) return { dec: dec, packets: packets, error: dec.error };
  let buf = dec.buf;
  let filled = dec.filled;
  // the absolute offset of chunk[0]
  let at = dec.offset + filled;
  let pos = 0;
  let error: ProtocolError | null = null;
  if (filled > 0 && filled === buf.length) {
    // a fixed header cut in two (at most 5 bytes): join it with the chunk and go on from there
    const joined = new Uint8Array(filled + chunk.length);
    joined.set(buf, 0);
    joined.set(chunk, filled);
    chunk = joined;
    at = dec.offset;
  } else if (filled > 0) {
    // a packet of known size: each chunk is copied into its array once
    let mark = dec.mark;
    if (mark.n !== filled) {
      // an older state fed again: a newer one owns buf past filled, so this one works on a copy
      const copy = new Uint8Array(buf.length);
      copy.set(buf.subarray(0, filled), 0);
      buf = copy;
      mark = { n: filled };
    }
    pos = buf.length - filled < chunk.length ? buf.length - filled : chunk.length;
    buf.set(chunk.subarray(0, pos), filled);
    filled += pos;
    mark.n = filled;
    if (filled < buf.length) return { dec: { buf: buf, filled: filled, offset: dec.offset, error: null, mark: mark }, packets: packets, error: null };
    // buf holds exactly the packet, its fixed header checked when the array was made (below):
    // the body starts after the last length byte (the one below 0x80)
    let i = 1;
    while (buf[i] >= 0x80) i++;
    const r = parse(buf, buf[0], i + 1, filled, 1, dec.offset);
    if (r.ok === false) {
      // reported at the packet's own offset (below: at + pos)
      at = dec.offset;
      pos = 0;
      error = r;
    } else {
      packets.push(r.packet);
    }
  }
  // the rest of the chunk: whole packets decode in place (decodePacket's steps, without its
  // calls: this is every received packet's path)
  const end = chunk.length;
  let size = 0;
  while (pos < end && error === null) {
    const f = frame(chunk, pos, end, maxPacketBytes, at);
    if (typeof f !== "number") { error = f; break; }
    size = f;
    if (size === 0 || end - pos < size) break;
    let i = pos + 1;
    while (chunk[i] >= 0x80) i++;
    const r = parse(chunk, chunk[pos], i + 1, pos + size, pos + 1, at);
    if (r.ok === false) error = r;
    else {
      packets.push(r.packet);
      pos = r.next;
    }
  }
  // an error: the stream is dead, its state at the offending packet
  if (error !== null) return { dec: { buf: EMPTY_BYTES, filled: 0, offset: at + pos, error: error, mark: NO_MARK }, packets: packets, error: error };
  if (pos === end) return { dec: { buf: EMPTY_BYTES, filled: 0, offset: at + end, error: null, mark: NO_MARK }, packets: packets, error: null };
  // an incomplete packet: an array of its own, at its whole size once its fixed header is
  // complete (size, from frame above), else the header's bytes so far (size 0)
  const rest = end - pos;
  const own = new Uint8Array(size > 0 ? size : rest);
  own.set(chunk.subarray(pos, end), 0);
  return { dec: { buf: own, filled: rest, offset: at + pos, error: null, mark: { n: rest } }, packets: packets, error: null };
}
