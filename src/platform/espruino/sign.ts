// The link's signing port on Espruino (core/hub/sas.ts SignFn), on the firmware's own
// primitives, so the bundle carries no SHA-256 or base64 of its own.
import type { SignFn } from "../../core/hub/sas.js";

/** SHA-256 of a binary string, as a binary string. */
function sha256(m: string): string {
  return E.toString(new Uint8Array(require("crypto").SHA256(m)));
}

/**
 * HMAC-SHA256 (RFC 2104, block 64) of `data` under the base64 `key`, as base64: atob/btoa and
 * the firmware's SHA-256. At module level: one function object for the device's life, not a
 * closure.
 */
function hmacSign(key: string, data: string): string | null {
  let k: string;
  let ip = "", op = "";
  // linkguard build validated the key; this keeps a bad one from reaching atob, whose
  // handling of stray characters differs between engines
  if (!/^[A-Za-z0-9+\/]+=*$/.test(key)) return null;
  try { k = atob(key); } catch (e) { return null; }
  if (k.length === 0) return null;
  if (k.length > 64) k = sha256(k);
  for (let i = 0; i < 64; i++) {
    const b = k.charCodeAt(i) | 0; // NaN past the key's end: zero padding
    ip += String.fromCharCode(b ^ 0x36);
    op += String.fromCharCode(b ^ 0x5c);
  }
  return btoa(sha256(op + sha256(ip + data)));
}

/**
 * The signing port: hmacSign. An Espruino build without the crypto module stops here with that
 * said, rather than failing at the first connect.
 */
export function nativeSign(): SignFn {
  let sha: unknown;
  try { sha = require("crypto").SHA256; } catch (e) { /* checked below */ }
  if (typeof sha !== "function") throw new Error("linkguard needs require(\"crypto\").SHA256 (a firmware with crypto)");
  return hmacSign;
}
