// What the decoder's error codes mean, for people. Kept apart from the decoder so a device
// build that never shows them (Espruino) does not carry the text; reasons.ts's describe()
// reads them for "protocol.mqtt.*" reason codes.
import { freeze } from "./freeze.js";

/** One-line descriptions of the decoder's stable error codes (never reworded once shipped). */
export const MQTT_ERRORS: { readonly [code: string]: string } = freeze({
  "mqtt.lengthTooLong": "remaining length uses more than 4 bytes (MQTT 3.1.1 §2.2.3)",
  "mqtt.packetTooLarge": "packet is larger than the configured maximum",
  "mqtt.reservedType": "packet type 0 or 15 is reserved (§2.2.1)",
  "mqtt.unsupportedType": "PUBREC, PUBREL and PUBCOMP (QoS 2 flows) are not supported",
  "mqtt.reservedFlags": "fixed-header or subscription-option flags differ from the values the type requires (§2.2.2, §3.3.1.1, §3.8.3.1)",
  "mqtt.badQos": "QoS 3 is invalid (§3.3.1.2)",
  "mqtt.unsupportedQos": "a will with QoS 2 is valid MQTT but not supported here",
  "mqtt.truncated": "a field runs past the end of its packet",
  "mqtt.badUtf8": "string is not well-formed UTF-8 or contains U+0000 (§1.5.3)",
  "mqtt.badPacketId": "packet identifier 0 where one is required (§2.3.1)",
  "mqtt.badLength": "remaining length wrong for the packet type, or trailing bytes inside a packet",
  "mqtt.badProtocol": "CONNECT protocol name is not \"MQTT\" or level is not 4 (§3.1.2.1-2)",
  "mqtt.badConnectFlags": "CONNECT flags are inconsistent: reserved bit set, will bits without will, or password without user name (§3.1.2.3-9)",
  "mqtt.badConnackFlags": "CONNACK flags bits 7-1 are not zero (§3.2.2.1)",
  "mqtt.emptySubscription": "SUBSCRIBE, UNSUBSCRIBE or SUBACK without any entry (§3.8.3, §3.9.3, §3.10.3)",
  "mqtt.badTopic": "topic name empty or with a wildcard, or topic filter empty or with a misplaced wildcard (§4.7)",
  "mqtt.badGranted": "SUBACK return code is not 0, 1, 2 or 0x80 (§3.9.3)",
  "mqtt.stringTooLong": "a string or binary field is longer than 65,535 bytes (§1.5.3)",
  "mqtt.packetIdRange": "packet identifier outside 1..65535 (§2.3.1)",
  "mqtt.fieldRange": "a number field is outside its range: keepalive 0..65535 (§3.1.2.10), CONNACK return code 0..255",
});
