import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  API_VERSION, username, clientId, telemetryTopic, c2dSubscription, parseC2dTopic, encodePropertyBag, decodePropertyBag,
} from "../../src/core/hub/names.js";
import { sasToken, parseSasToken, tokenExpirySec } from "../../src/core/hub/sas.js";

const HOST = "myhub.azure-devices.net";
const KEY = Buffer.alloc(32, 7).toString("base64");

test("username, client id and topics are the documented golden strings", () => {
  assert.equal(API_VERSION, "2021-04-12");
  assert.equal(username(HOST, "dev-1"), "myhub.azure-devices.net/dev-1/?api-version=2021-04-12");
  assert.equal(clientId("dev-1"), "dev-1");
  assert.equal(telemetryTopic("dev-1"), "devices/dev-1/messages/events/");
  assert.equal(c2dSubscription("dev-1"), "devices/dev-1/messages/devicebound/#");
});

test("telemetry topics carry a percent-encoded property bag", () => {
  assert.equal(telemetryTopic("dev-1", { "$.ct": "application/json", "$.ce": "utf-8", "alert level": "high&hot", "é": "∞" }),
    "devices/dev-1/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&alert%20level=high%26hot&%C3%A9=%E2%88%9E");
  assert.equal(telemetryTopic("dev-1", {}), "devices/dev-1/messages/events/");
});

test("parseC2dTopic reads a hub cloud-to-device topic and refuses other devices' topics", () => {
  const topic = "devices/dev-1/messages/devicebound/%24.to=%2Fdevices%2Fdev-1%2Fmessages%2FdeviceBound&iothub-ack=full&color=r%C3%A9d";
  assert.deepEqual(parseC2dTopic("dev-1", topic), { "$.to": "/devices/dev-1/messages/deviceBound", "iothub-ack": "full", color: "réd" });
  assert.deepEqual(parseC2dTopic("dev-1", "devices/dev-1/messages/devicebound/"), {});
  assert.equal(parseC2dTopic("dev-2", topic), null);
  assert.equal(parseC2dTopic("dev-1", "devices/dev-1/messages/events/a=b"), null);
  assert.equal(parseC2dTopic("dev-1", "devices/dev-1/messages/devicebound/a=%ZZ"), null);
});

test("decodePropertyBag: leading ?, empty segments, bare keys, last wins, + is literal, bad UTF-8 is null", () => {
  assert.deepEqual(decodePropertyBag("?a=1&&b&a=2&c=x+y"), { a: "2", b: "", c: "x+y" });
  assert.equal(decodePropertyBag("a=%C3"), null);
  assert.equal(decodePropertyBag("a=%"), null);
  assert.deepEqual(Object.keys(decodePropertyBag("__proto__=x") as object), ["__proto__"]);
});

test("property bags round-trip", () => {
  const str = fc.string({ unit: "binary", maxLength: 12 });
  fc.assert(fc.property(fc.dictionary(str, str, { noNullPrototype: true }), (bag) => {
    assert.deepEqual(decodePropertyBag(encodePropertyBag(bag)), bag);
  }), { numRuns: 300 });
});

test("sasToken is null for a key that is not base64, an empty key, or a bad expiry", () => {
  const base = { host: HOST, deviceId: "dev-1", key: KEY, expirySec: 1700000000 };
  assert.equal(typeof sasToken(base), "string");
  assert.equal(sasToken({ ...base, key: "not base64!" }), null);
  assert.equal(sasToken({ ...base, key: "" }), null);
  for (const expirySec of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) assert.equal(sasToken({ ...base, expirySec }), null);
});

test("sasToken uses a plugged-in HMAC and never contains the key", () => {
  const calls: string[] = [];
  const t = sasToken({
    host: HOST, deviceId: "dev-1", key: KEY, expirySec: 1700000000,
    hmac: (k, m) => { calls.push(Buffer.from(m).toString()); return new Uint8Array(32).fill(0xff); },
  });
  assert.deepEqual(calls, ["myhub.azure-devices.net%2Fdevices%2Fdev-1\n1700000000"]);
  assert.equal(t, "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev-1&sig=" + "%2F".repeat(42) + "8%3D&se=1700000000"); // base64 of 32 x 0xff
  assert.ok(!(t as string).includes(KEY));
});

test("parseSasToken and tokenExpirySec read ready-made tokens and refuse malformed ones", () => {
  const t = "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000&skn=policy";
  assert.deepEqual(parseSasToken(t), { sr: "h%2Fdevices%2Fd", sig: "abc%3D", se: "1700000000", skn: "policy" });
  assert.equal(tokenExpirySec(t), 1700000000);
  assert.equal(parseSasToken("sr=h&sig=a&se=1"), null);
  assert.equal(parseSasToken("SharedAccessSignature sr=h&se=1"), null);
  assert.equal(parseSasToken("SharedAccessSignature sr=h&sig=a b&se=1"), null);
  assert.equal(tokenExpirySec("SharedAccessSignature sr=h&sig=a&se=12x"), null);
  assert.equal(tokenExpirySec("garbage"), null);
});

