// IoT Hub's MQTT names: client id, username, topics and property bags.
// Source: Microsoft, "Communicate with an IoT hub using the MQTT protocol". The hub neither
// encodes nor decodes the device id or host in the username and topics; property bag keys
// and values are percent-encoded, and the hub decodes them.
import { percentEncode, percentDecode } from "./encode.js";

/** the IoT Hub REST/MQTT API version named in the username */
export const API_VERSION = "2021-04-12";

/** application (and "$."-prefixed system) properties of a message; values are strings */
export type PropertyBag = { [k: string]: string };

/** MQTT client id: the device id itself. */
export function clientId(deviceId: string): string {
  return deviceId;
}

/** MQTT username: "{host}/{deviceId}/?api-version=2021-04-12". */
export function username(host: string, deviceId: string): string {
  return host + "/" + deviceId + "/?api-version=" + API_VERSION;
}

/**
 * "k1=v1&k2=v2", keys and values percent-encoded as encodeURIComponent does, in the bag's
 * key order; "" for an empty bag.
 */
export function encodePropertyBag(bag: PropertyBag): string {
  const keys = Object.keys(bag);
  let out = "";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += "&";
    out += percentEncode(keys[i]) + "=" + percentEncode(bag[keys[i]]);
  }
  return out;
}

/**
 * The inverse of encodePropertyBag. A leading "?" is skipped, empty segments are ignored,
 * a segment without "=" is a key with the value "", the last of repeated keys wins.
 * "+" stands for itself (not a space). null if any part is not valid percent-encoded UTF-8.
 */
export function decodePropertyBag(s: string): PropertyBag | null {
  const bag: PropertyBag = {};
  const text = s.length > 0 && s.charAt(0) === "?" ? s.substring(1) : s;
  if (text.length === 0) return bag;
  const parts = text.split("&");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part.length === 0) continue;
    const eq = part.indexOf("=");
    const k = percentDecode(eq < 0 ? part : part.substring(0, eq));
    const v = eq < 0 ? "" : percentDecode(part.substring(eq + 1));
    if (k === null || v === null) return null;
    // bag[k] = v, even for "__proto__" (which plain assignment would treat as the prototype)
    if (k === "__proto__") Object.defineProperty(bag, k, { value: v, enumerable: true, writable: true, configurable: true });
    else bag[k] = v;
  }
  return bag;
}

/** "devices/{deviceId}/messages/events/" followed by the encoded property bag, if any. */
export function telemetryTopic(deviceId: string, properties?: PropertyBag): string {
  const base = "devices/" + deviceId + "/messages/events/";
  return properties ? base + encodePropertyBag(properties) : base;
}

/** the cloud-to-device subscription filter: "devices/{deviceId}/messages/devicebound/#" */
export function c2dSubscription(deviceId: string): string {
  return "devices/" + deviceId + "/messages/devicebound/#";
}

/**
 * The property bag of a cloud-to-device topic ("devices/{deviceId}/messages/devicebound/{bag}"),
 * or null if the topic is not this device's cloud-to-device topic or its bag is malformed.
 */
export function parseC2dTopic(deviceId: string, topic: string): PropertyBag | null {
  const prefix = "devices/" + deviceId + "/messages/devicebound/";
  if (topic.length < prefix.length || topic.substring(0, prefix.length) !== prefix) return null;
  return decodePropertyBag(topic.substring(prefix.length));
}
