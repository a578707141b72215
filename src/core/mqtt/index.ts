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
export { utf8Length, writeUtf8, readUtf8, readUtf8WithNul, utf8ErrorAt } from "./utf8.js";
export {
  MAX_REMAINING_LENGTH, MAX_STRING_BYTES, PINGREQ_BYTES, PINGRESP_BYTES, DISCONNECT_BYTES,
  encodePuback, pubackUnchecked, packetLength, encodeInto, encode, connectUnchecked, publishUnchecked, subscribeUnchecked, publishSize,
} from "./encode.js";
export { MQTT_ERRORS, EMPTY_DECODER, decodePacket, feed, decodeFromServer, feedFromServer } from "./decode.js";
export type { DecodeOk, DecoderState, FeedResult } from "./decode.js";
