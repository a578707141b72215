// The MQTT 3.1.1 codec's public API.

export {
  CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
  PINGREQ, PINGRESP, DISCONNECT,
} from "./packet.js";
export type {
  Packet, ConnectPacket, ConnackPacket, PublishPacket, PubackPacket, SubscribePacket,
  SubackPacket, UnsubscribePacket, UnsubackPacket, PingreqPacket, PingrespPacket,
  DisconnectPacket, ProtocolError, MisdirectedPacket, ServerPacket,
} from "./packet.js";
export { protocolError } from "./packet.js";
export { utf8Length, writeUtf8, readUtf8, readUtf8WithNul, utf8ErrorAt } from "./utf8.js";
export {
  MAX_REMAINING_LENGTH, MAX_STRING_BYTES, PINGREQ_BYTES, PINGRESP_BYTES, DISCONNECT_BYTES,
  publishSize, encode, encodeConnect, encodeConnack, encodePublish, encodePuback, encodeSubscribe,
  encodeSuback, encodeUnsubscribe, encodeUnsuback,
} from "./encode.js";
export type { Alloc, Encoded } from "./encode.js";
export { MQTT_ERRORS, EMPTY_DECODER, decodePacket, feed, fromServer, anyPacket } from "./decode.js";
export type { DecodeOk, DecoderState, FeedResult, BodyParser } from "./decode.js";
