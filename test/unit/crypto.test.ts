import { test } from "node:test";
import assert from "node:assert/strict";
import { sha256 } from "../../src/core/crypto/sha256.js";
import { hmacSha256 } from "../../src/core/crypto/hmac.js";
import { toBase64, fromBase64 } from "../../src/core/crypto/base64.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ascii = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

test("sha256 matches the FIPS 180-4 examples", () => {
  assert.equal(hex(sha256(ascii(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(sha256(ascii("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hex(sha256(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
});

test("sha256 of a million 'a' (many blocks) matches FIPS", () => {
  assert.equal(hex(sha256(new Uint8Array(1000000).fill(0x61))),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

test("sha256 leaves its input untouched and returns a fresh array", () => {
  const m = ascii("abc");
  const a = sha256(m);
  const b = sha256(m);
  assert.deepEqual(m, ascii("abc"));
  assert.notEqual(a, b);
  assert.deepEqual(a, b);
});

test("hmacSha256 matches RFC 4231 cases 1, 2 and 6 (key longer than a block)", () => {
  assert.equal(hex(hmacSha256(new Uint8Array(20).fill(0x0b), ascii("Hi There"))),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  assert.equal(hex(hmacSha256(ascii("Jefe"), ascii("what do ya want for nothing?"))),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assert.equal(hex(hmacSha256(new Uint8Array(131).fill(0xaa), ascii("Test Using Larger Than Block-Size Key - Hash Key First"))),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
});

test("base64 matches the RFC 4648 vectors", () => {
  const v: [string, string][] = [["", ""], ["f", "Zg=="], ["fo", "Zm8="], ["foo", "Zm9v"], ["foob", "Zm9vYg=="], ["fooba", "Zm9vYmE="], ["foobar", "Zm9vYmFy"]];
  for (const [plain, enc] of v) {
    assert.equal(toBase64(ascii(plain)), enc);
    assert.deepEqual(fromBase64(enc), ascii(plain));
  }
  assert.equal(toBase64(new Uint8Array([0xfb, 0xff])), "+/8=");
});

test("fromBase64 accepts missing padding and rejects everything else that is not base64", () => {
  assert.deepEqual(fromBase64("Zm8"), ascii("fo"));
  for (const bad of ["Z", "Zg=", "Zg===", "=Zg=", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zm9v\n", "-_8=", "Zm8=\u00e9"]) {
    assert.equal(fromBase64(bad), null, JSON.stringify(bad));
  }
});
