// HMAC-SHA256 (RFC 2104, with SHA-256 as H: B = 64, L = 32). A platform with a native
// HMAC (or a secure element) passes its own HmacFn wherever one is accepted.
import { sha256 } from "./sha256.js";

/** A keyed MAC with the signature of hmacSha256; lets a platform plug in a native one. */
export type HmacFn = (key: Uint8Array, msg: Uint8Array) => Uint8Array;

const BLOCK = 64;

/** HMAC-SHA256(key, msg): 32 bytes. Keys longer than the block are hashed first (RFC 2104 §2). */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const k = key.length > BLOCK ? sha256(key) : key;
  const inner = new Uint8Array(BLOCK + msg.length);
  const outer = new Uint8Array(BLOCK + 32);
  let i = 0;
  for (i = 0; i < BLOCK; i++) {
    const b = i < k.length ? k[i] : 0;
    inner[i] = b ^ 0x36;
    outer[i] = b ^ 0x5c;
  }
  inner.set(msg, BLOCK);
  outer.set(sha256(inner), BLOCK);
  inner.fill(0); // the padded key should not linger in RAM
  const mac = sha256(outer);
  outer.fill(0);
  return mac;
}
