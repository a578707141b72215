// MQTT 3.1.1 control packets as plain values. The encoder writes them into one
// Uint8Array sized first; the decoder produces them from any split of a byte stream.
// Only the packets a device-side IoT Hub client needs are modelled (MQTT 3.1.1 §2.2.1):
// QoS 2 flows (PUBREC/PUBREL/PUBCOMP) are not — the hub closes links that use QoS 2.

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

export interface ConnectPacket {
  type: "connect";
  clientId: string;
  /** MQTT 3.1.1 §3.1.2.4; IoT Hub wants false so queued cloud-to-device messages survive. */
  cleanSession: boolean;
  /** seconds, 0..65535 (§3.1.2.10) */
  keepaliveSec: number;
  username?: string;
  /** UTF-8 text (a SAS token); encoded as binary data per §3.1.3.5 */
  password?: string;
  will?: { topic: string; payload: Uint8Array; qos: 0 | 1; retain: boolean };
}
export interface ConnackPacket { type: "connack"; sessionPresent: boolean; returnCode: number }
export interface PublishPacket {
  type: "publish";
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  dup: boolean;
  retain: boolean;
  /** 0 when qos is 0; 1..65535 otherwise */
  packetId: number;
}
export interface PubackPacket { type: "puback"; packetId: number }
export interface SubscribePacket { type: "subscribe"; packetId: number; subscriptions: { topic: string; qos: 0 | 1 | 2 }[] }
/** granted: 0, 1, 2 or 0x80 (failure) per §3.9.3 */
export interface SubackPacket { type: "suback"; packetId: number; granted: number[] }
export interface UnsubscribePacket { type: "unsubscribe"; packetId: number; topics: string[] }
export interface UnsubackPacket { type: "unsuback"; packetId: number }
export interface PingreqPacket { type: "pingreq" }
export interface PingrespPacket { type: "pingresp" }
export interface DisconnectPacket { type: "disconnect" }

export type Packet =
  | ConnectPacket | ConnackPacket | PublishPacket | PubackPacket
  | SubscribePacket | SubackPacket | UnsubscribePacket | UnsubackPacket
  | PingreqPacket | PingrespPacket | DisconnectPacket;

/**
 * A client-to-server packet type arriving at a client (a server never sends these): the
 * client's decoder checks its fixed header and length and names it, without reading its body.
 */
export interface MisdirectedPacket { type: "connect" | "subscribe" | "unsubscribe" | "pingreq" | "disconnect" }

/** What a client decodes from a server: the server-to-client packets, or a misdirected one named. */
export type ServerPacket =
  | ConnackPacket | PublishPacket | PubackPacket | SubackPacket | UnsubackPacket | PingrespPacket
  | MisdirectedPacket;

/** An expected failure, as a value: a stable code and the absolute stream offset of the offending byte. */
export interface ProtocolError { ok: false; code: string; at: number }

/** An expected failure as a value (decoder and encoder alike). */
export function protocolError(code: string, at: number): ProtocolError {
  return { ok: false, code: code, at: at };
}
