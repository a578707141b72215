// Percent-encoding over UTF-8 bytes, written out because Espruino's encodeURIComponent is
// wrong for non-ASCII and the core may not rely on the engine's URI functions at all.
//
// The UTF-8 steps are the MQTT codec's (src/core/mqtt/utf8.ts): writeUtf8 turns a lone
// surrogate into U+FFFD, as TextEncoder does, and percent-decoding reads with the strict
// decoder's variant that accepts U+0000, since "%00" decodes as decodeURIComponent does.

import { readUtf8WithNul, utf8Length, writeUtf8 } from "../mqtt/utf8.js";

const HEX = "0123456789ABCDEF";

/** s's UTF-8 bytes, unreserved ones as themselves and the rest as %XX; `strict` also encodes ! ' ( ) * */
function encodeBytes(s: string, strict: boolean): string {
  const bytes = new Uint8Array(utf8Length(s));
  writeUtf8(s, bytes, 0);
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (strict && c === 42) out += "%2a";
    // RFC 3986 unreserved plus the marks encodeURIComponent leaves alone: A-Z a-z 0-9 - _ . ! ~ * ' ( ),
    // less ! ' ( ) when strict
    else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 126 || c === 42 ||
      (!strict && (c === 33 || c === 39 || c === 40 || c === 41))) out += String.fromCharCode(c);
    else out += "%" + HEX.charAt(c >>> 4) + HEX.charAt(c & 15);
  }
  return out;
}

/**
 * Percent-encodes s exactly like encodeURIComponent (uppercase hex, UTF-8 bytes), except
 * that a lone surrogate becomes %EF%BF%BD instead of throwing.
 */
export function percentEncode(s: string): string {
  return encodeBytes(s, false);
}

/**
 * Percent-encodes s exactly like azure-iot-common's encodeUriComponentStrict: as
 * encodeURIComponent, then ! ' ( ) * as %21 %27 %28 %29 %2a. The lowercase "%2a" is what
 * that function emits ('*'.charCodeAt(0).toString(16)); SAS tokens must match it byte for byte.
 */
export function percentEncodeStrict(s: string): string {
  return encodeBytes(s, true);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Decodes percent-encoding like decodeURIComponent: runs of %XX are UTF-8 bytes, every
 * other character stands for itself ("+" included). null if a "%" is not followed by two
 * hex digits or the bytes are not UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF).
 */
export function percentDecode(s: string): string | null {
  let out = "";
  let i = 0;
  const n = s.length;
  let run: Uint8Array | null = null;
  while (i < n) {
    if (s.charCodeAt(i) !== 37) { // not "%": everything up to the next one, as it is
      const j = s.indexOf("%", i);
      out += j < 0 ? s.substring(i) : s.substring(i, j);
      if (j < 0) break;
      i = j;
    }
    // a run of %XX holds at most n / 3 bytes
    if (run === null) run = new Uint8Array((n / 3) | 0);
    let count = 0;
    while (i < n && s.charCodeAt(i) === 37) {
      if (i + 2 >= n) return null;
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      run[count++] = (hi << 4) | lo;
      i += 3;
    }
    const text = readUtf8WithNul(run, 0, count);
    if (text === null) return null;
    out += text;
  }
  return out;
}

/** the bytes of an ASCII string (callers guarantee every code is < 0x80) */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}
