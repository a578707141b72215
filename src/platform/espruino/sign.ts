// The link's signing port on Espruino (core/hub/sas.ts SignFn), on the firmware's own
// primitives, so the bundle carries no SHA-256 or base64 of its own.
import type { SignFn } from "../../core/hub/sas.js";

/**
 * atob/btoa and require("crypto").SHA256 (binary strings in, an ArrayBuffer out), with HMAC
 * (RFC 2104, block 64) built on them. An Espruino build without the crypto module stops here
 * with that said, rather than failing at the first connect.
 */
export function nativeSign(): SignFn {
  let sha: (m: string) => ArrayBuffer;
  try { sha = require("crypto").SHA256; } catch (e) { /* checked below */ }
  if (typeof sha! !== "function") throw new Error("linkguard needs require(\"crypto\").SHA256 (a firmware with crypto)");
  const h = function (m: string): string { return E.toString(new Uint8Array(sha(m))); };
  return function (key: string, data: string): string | null {
    // linkguard build validated the key; this keeps a bad one from reaching atob, whose
    // handling of stray characters differs between engines
    if (!/^[A-Za-z0-9+\/]+=*$/.test(key)) return null;
    let k: string;
    try { k = atob(key); } catch (e) { return null; }
    if (k.length === 0) return null;
    if (k.length > 64) k = h(k);
    let ip = "", op = "";
    for (let i = 0; i < 64; i++) {
      const b = k.charCodeAt(i) | 0; // NaN past the key's end: zero padding
      ip += String.fromCharCode(b ^ 0x36);
      op += String.fromCharCode(b ^ 0x5c);
    }
    return btoa(h(op + h(ip + data)));
  };
}
