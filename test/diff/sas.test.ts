// Differential: SAS tokens against azure-iot-common (as the Azure Node device SDK calls it),
// SHA-256 / HMAC / base64 against node:crypto and Buffer, percent-encoding against the engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import common from "azure-iot-common";
import { sasToken, parseSasToken, tokenExpirySec } from "../../src/core/hub/sas.js";
import { percentEncode, percentEncodeStrict, percentDecode } from "../../src/core/hub/encode.js";
import { sha256 } from "../../src/core/crypto/sha256.js";
import { hmacSha256 } from "../../src/core/crypto/hmac.js";
import { toBase64, fromBase64 } from "../../src/core/crypto/base64.js";

const RUNS = { numRuns: 400 };

/** what azure-iot-device's SharedAccessSignature.create(host, deviceId, key, expiry) returns */
function reference(host: string, deviceId: string, key: string, expiry: number): string {
  const uri = common.encodeUriComponentStrict(host + "/devices/" + deviceId);
  return common.SharedAccessSignature.create(uri, null as unknown as string, key, expiry).toString();
}

// ids mixing plain characters, every character the hub allows, ones that need encoding, and non-ASCII
const idChar = fc.oneof(
  fc.constantFrom(..."abcXYZ09-.%_*?!(),:=@$'+/ &#~".split("")),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const deviceIdArb = fc.array(idChar, { minLength: 1, maxLength: 40 }).map((a) => a.join(""));
const hostArb = fc.oneof(fc.domain(), fc.string({ unit: "binary", minLength: 1, maxLength: 30 }));
const keyArb = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => Buffer.from(b).toString("base64"));
const expiryArb = fc.integer({ min: 1, max: 2 ** 40 });

test("SAS tokens equal azure-iot-common's for random hosts, ids, keys and expiries", () => {
  fc.assert(fc.property(hostArb, deviceIdArb, keyArb, expiryArb, (host, deviceId, key, expirySec) => {
    assert.equal(sasToken({ host, deviceId, key, expirySec }), reference(host, deviceId, key, expirySec));
  }), RUNS);
});

test("parsed tokens give back the reference's fields and expiry", () => {
  fc.assert(fc.property(hostArb, deviceIdArb, keyArb, expiryArb, (host, deviceId, key, expirySec) => {
    const ref = common.SharedAccessSignature.parse(reference(host, deviceId, key, expirySec), ["sr", "sig", "se"]);
    const t = sasToken({ host, deviceId, key, expirySec }) as string;
    assert.deepEqual(parseSasToken(t), { sr: ref.sr, sig: ref.sig, se: String(ref.se) });
    assert.equal(tokenExpirySec(t), expirySec);
  }), { numRuns: 100 });
});

test("sha256 equals node:crypto, across block boundaries", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (m) => {
    assert.deepEqual(Buffer.from(sha256(m)), createHash("sha256").update(m).digest());
  }), RUNS);
});

test("hmacSha256 equals node:crypto, keys shorter and longer than a block", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), (k, m) => {
    assert.deepEqual(Buffer.from(hmacSha256(k, m)), createHmac("sha256", k).update(m).digest());
  }), RUNS);
});

test("base64 equals Buffer both ways", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
    const s = toBase64(b);
    assert.equal(s, Buffer.from(b).toString("base64"));
    assert.deepEqual(fromBase64(s), new Uint8Array(b));
    assert.deepEqual(fromBase64(s.replace(/=+$/, "")), new Uint8Array(b));
  }), RUNS);
});

test("percent-encoding equals encodeURIComponent and the SDK's strict variant; decoding inverts it", () => {
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 40 }), (s) => {
    assert.equal(percentEncode(s), encodeURIComponent(s));
    assert.equal(percentEncodeStrict(s), common.encodeUriComponentStrict(s));
    assert.equal(percentDecode(encodeURIComponent(s)), s);
  }), RUNS);
});

test("percentDecode accepts and rejects exactly what decodeURIComponent does", () => {
  const byte = fc.integer({ min: 0, max: 255 }).map((b) => "%" + b.toString(16).padStart(2, "0"));
  const piece = fc.oneof(byte, byte, fc.constantFrom("%", "%G0", "%0", "a", "+", "\u00e9", "\ud83d\ude00"));
  fc.assert(fc.property(fc.array(piece, { maxLength: 8 }).map((a) => a.join("")), (s) => {
    let expected: string | null = null;
    try { expected = decodeURIComponent(s); } catch { expected = null; }
    assert.equal(percentDecode(s), expected);
  }), { numRuns: 2000 });
});
