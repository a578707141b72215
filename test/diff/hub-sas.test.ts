// Differential test: the emulator's SAS check (src/sim/hub.ts) against tokens made by
// azure-iot-common, the way the Azure IoT device SDK for Node signs them:
// SharedAccessSignature.create(encodeUriComponentStrict(host + "/devices/" + id), no key name, key, expiry).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import common from "azure-iot-common";
import { checkSasToken, makeSasToken } from "../../src/sim/hub/sas.js";

const { SharedAccessSignature, encodeUriComponentStrict } = common;
const NOW_S = 1_700_000_000;
// IoT Hub device ids: ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '
const ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*?!(),:=@$'".split("");
const deviceId = fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 40 }).map((a) => a.join(""));
const hubName = fc.constantFrom("localhost", "contoso-hub.azure-devices.net", "My-Hub.azure-devices.net");
const key = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => Buffer.from(b));
const lifetimeS = fc.integer({ min: 1, max: 10_000_000 });

function sdkToken(host: string, id: string, k: Buffer, expirySec: number): string {
  const sr = encodeUriComponentStrict(host + "/devices/" + id);
  return SharedAccessSignature.create(sr, "", k.toString("base64"), expirySec).toString();
}

function check(token: string, host: string, id: string, k: Buffer, nowSec = NOW_S) {
  return checkSasToken(token, { hubName: host, deviceId: id, key: k, nowSec });
}

/** replaces one field's value in a token (fields keep their order) */
function withField(token: string, name: string, value: string): string {
  return token.replace(new RegExp("([ &])" + name + "=[^&]*"), "$1" + name + "=" + value);
}

function field(token: string, name: string): string {
  const m = new RegExp("[ &]" + name + "=([^&]*)").exec(token);
  assert.ok(m, "token has " + name);
  return m[1];
}

test("accepts tokens made by azure-iot-common for random devices, keys and expiries", () => {
  fc.assert(fc.property(hubName, deviceId, key, lifetimeS, (host, id, k, life) => {
    const r = check(sdkToken(host, id, k, NOW_S + life), host, id, k);
    assert.deepEqual(r, { ok: true, expirySec: NOW_S + life });
  }), { numRuns: 300, seed: 42 });
});

test("the emulator's own token generator agrees with the SDK byte for byte", () => {
  fc.assert(fc.property(hubName, deviceId, key, lifetimeS, (host, id, k, life) => {
    assert.equal(makeSasToken({ hubName: host, deviceId: id, key: k, expirySec: NOW_S + life }), sdkToken(host, id, k, NOW_S + life));
  }), { numRuns: 200, seed: 7 });
});

test("the host name is case-insensitive, the device id is not", () => {
  const k = Buffer.alloc(32, 7);
  assert.equal(check(sdkToken("LocalHost", "dev-0001", k, NOW_S + 60), "localhost", "dev-0001", k).ok, true);
  assert.equal(check(sdkToken("localhost", "DEV-0001", k, NOW_S + 60), "localhost", "dev-0001", k).ok, false);
});

test("rejects an altered signature", () => {
  fc.assert(fc.property(hubName, deviceId, key, lifetimeS, fc.nat(), (host, id, k, life, at) => {
    const t = sdkToken(host, id, k, NOW_S + life);
    const sig = decodeURIComponent(field(t, "sig"));
    const raw = Buffer.from(sig, "base64");
    raw[at % raw.length] ^= 1 << (at % 8);
    const r = check(withField(t, "sig", encodeURIComponent(raw.toString("base64"))), host, id, k);
    assert.deepEqual(r, { ok: false, reason: "sas: signature mismatch" });
  }), { numRuns: 200, seed: 1 });
});

test("rejects an altered expiry (se) that keeps the old signature", () => {
  fc.assert(fc.property(hubName, deviceId, key, lifetimeS, fc.integer({ min: 1, max: 1000 }), (host, id, k, life, d) => {
    const t = sdkToken(host, id, k, NOW_S + life);
    const r = check(withField(t, "se", String(NOW_S + life + d)), host, id, k);
    assert.deepEqual(r, { ok: false, reason: "sas: signature mismatch" });
  }), { numRuns: 200, seed: 2 });
});

test("rejects a token for another device or hub (sr), signed or not with this key", () => {
  fc.assert(fc.property(hubName, deviceId, deviceId, key, lifetimeS, (host, id, other, k, life) => {
    fc.pre(id !== other);
    const forOther = sdkToken(host, other, k, NOW_S + life);
    assert.equal(check(forOther, host, id, k).ok, false);
    const t = sdkToken(host, id, k, NOW_S + life);
    const altered = withField(t, "sr", encodeUriComponentStrict(host + "/devices/" + other));
    assert.equal(check(altered, host, id, k).ok, false);
    assert.equal(check(t, "other-hub.azure-devices.net", id, k).ok, false);
  }), { numRuns: 200, seed: 3 });
});

test("rejects an sr that is not URL-encoded even when it is signed", () => {
  const k = Buffer.alloc(32, 9);
  const t = SharedAccessSignature.create("localhost/devices/dev-0001", "", k.toString("base64"), NOW_S + 60).toString();
  assert.deepEqual(check(t, "localhost", "dev-0001", k), { ok: false, reason: "sas: sr is not URL-encoded" });
});

test("rejects expired tokens, including one expiring this very second", () => {
  fc.assert(fc.property(hubName, deviceId, key, fc.integer({ min: 0, max: 10_000_000 }), (host, id, k, ago) => {
    const r = check(sdkToken(host, id, k, NOW_S - ago), host, id, k);
    assert.deepEqual(r, { ok: false, reason: "sas: token expired" });
  }), { numRuns: 200, seed: 4 });
});

test("rejects a token signed with another key", () => {
  fc.assert(fc.property(deviceId, key, key, (id, k1, k2) => {
    fc.pre(!k1.equals(k2));
    assert.equal(check(sdkToken("localhost", id, k1, NOW_S + 60), "localhost", id, k2).ok, false);
  }), { numRuns: 100, seed: 5 });
});

test("rejects malformed tokens without echoing them", () => {
  const k = Buffer.alloc(32, 1);
  const good = sdkToken("localhost", "dev-0001", k, NOW_S + 60);
  const bad = [
    "", "SharedAccessSignature", good.replace("SharedAccessSignature ", "Bearer "),
    good.replace(/&se=\d+/, ""), good.replace(/sig=[^&]*&/, ""), withField(good, "se", "12ab"),
    withField(good, "sig", "%%%"), good + "&se=1",
  ];
  for (const t of bad) {
    const r = check(t, "localhost", "dev-0001", k);
    assert.equal(r.ok, false, t);
    if (!r.ok && t.length > 30) assert.ok(!r.reason.includes(field(good, "sig")), "reason names no signature");
  }
});
