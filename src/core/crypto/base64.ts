// Base64 (RFC 4648 §4, the standard alphabet) without atob/btoa: XS's worker has neither,
// and Espruino's work on byte strings, not Uint8Array.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** the 6-bit value of a character code, or -1 */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  if (c === 43) return 62; // +
  if (c === 47) return 63; // /
  return -1;
}

/** bytes as padded base64 text */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  const n = bytes.length;
  let i = 0;
  for (i = 0; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET.charAt(v >>> 18) + ALPHABET.charAt((v >>> 12) & 63) +
      ALPHABET.charAt((v >>> 6) & 63) + ALPHABET.charAt(v & 63);
  }
  if (n - i === 1) {
    const v = bytes[i] << 16;
    out += ALPHABET.charAt(v >>> 18) + ALPHABET.charAt((v >>> 12) & 63) + "==";
  } else if (n - i === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET.charAt(v >>> 18) + ALPHABET.charAt((v >>> 12) & 63) + ALPHABET.charAt((v >>> 6) & 63) + "=";
  }
  return out;
}

/**
 * base64 text as bytes, or null when it is not base64: a character outside the standard
 * alphabet (whitespace and the URL-safe "-_" included), padding anywhere but the end, or a
 * length that no byte string has. Padding is optional; if present it must complete the
 * last quantum. Unused low bits of the last character are ignored, as decoders commonly do.
 */
export function fromBase64(s: string): Uint8Array | null {
  let len = s.length;
  let pad = 0;
  while (len > 0 && pad < 2 && s.charCodeAt(len - 1) === 61) { len--; pad++; } // "="
  if (pad > 0 && (len + pad) % 4 !== 0) return null;
  if (len % 4 === 1) return null;
  const out = new Uint8Array(Math.floor(len * 3 / 4));
  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let i = 0; i < len; i++) {
    const v = sextet(s.charCodeAt(i));
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >>> bits) & 0xff;
    }
  }
  return out;
}
