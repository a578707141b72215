// Percent-encoding over UTF-8 bytes, written out because Espruino's encodeURIComponent is
// wrong for non-ASCII and the core may not rely on the engine's URI functions at all.
//
// The UTF-8 steps are private on purpose: src/core/mqtt/utf8.ts's readUtf8 follows MQTT
// 3.1.1 §1.5.3 and rejects U+0000, while percent-decoding must accept "%00" exactly as
// decodeURIComponent does; and encoding here goes straight to "%XX" with no byte buffer.

const HEX = "0123456789ABCDEF";

/** RFC 3986 unreserved plus the marks encodeURIComponent leaves alone: A-Z a-z 0-9 - _ . ! ~ * ' ( ) */
function isUnreservedMark(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ||
    c === 45 || c === 95 || c === 46 || c === 33 || c === 126 || c === 42 || c === 39 || c === 40 || c === 41;
}

function pct(b: number): string {
  return "%" + HEX.charAt(b >>> 4) + HEX.charAt(b & 15);
}

/**
 * The code point at s[i] (a surrogate pair read whole); a lone surrogate reads as U+FFFD,
 * as TextEncoder does (encodeURIComponent would throw instead).
 */
function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  if (c >= 0xd800 && c <= 0xdfff) return 0xfffd;
  return c;
}

/** the UTF-8 bytes of one code point, percent-encoded */
function pctCodePoint(cp: number): string {
  if (cp < 0x80) return pct(cp);
  if (cp < 0x800) return pct(0xc0 | (cp >>> 6)) + pct(0x80 | (cp & 63));
  if (cp < 0x10000) return pct(0xe0 | (cp >>> 12)) + pct(0x80 | ((cp >>> 6) & 63)) + pct(0x80 | (cp & 63));
  return pct(0xf0 | (cp >>> 18)) + pct(0x80 | ((cp >>> 12) & 63)) + pct(0x80 | ((cp >>> 6) & 63)) + pct(0x80 | (cp & 63));
}

/**
 * Percent-encodes s exactly like encodeURIComponent (uppercase hex, UTF-8 bytes), except
 * that a lone surrogate becomes %EF%BF%BD instead of throwing.
 */
export function percentEncode(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && isUnreservedMark(c)) {
      out += s.charAt(i);
      continue;
    }
    const cp = codePointAt(s, i);
    if (cp >= 0x10000) i++;
    out += pctCodePoint(cp);
  }
  return out;
}

/**
 * Percent-encodes s exactly like azure-iot-common's encodeUriComponentStrict: as
 * encodeURIComponent, then ! ' ( ) * as %21 %27 %28 %29 %2a. The lowercase "%2a" is what
 * that function emits ('*'.charCodeAt(0).toString(16)); SAS tokens must match it byte for byte.
 */
export function percentEncodeStrict(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 33) out += "%21";
    else if (c === 39) out += "%27";
    else if (c === 40) out += "%28";
    else if (c === 41) out += "%29";
    else if (c === 42) out += "%2a";
    else if (c < 0x80 && isUnreservedMark(c)) out += s.charAt(i);
    else {
      const cp = codePointAt(s, i);
      if (cp >= 0x10000) i++;
      out += pctCodePoint(cp);
    }
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** the string of one code point */
function fromCodePoint(cp: number): string {
  if (cp < 0x10000) return String.fromCharCode(cp);
  const v = cp - 0x10000;
  return String.fromCharCode(0xd800 + (v >>> 10), 0xdc00 + (v & 1023));
}

/**
 * Strict UTF-8 (RFC 3629) of bytes[0..n) as a string, or null on a malformed sequence
 * (overlong forms, surrogates and code points above U+10FFFF included).
 */
function utf8Decode(bytes: number[], n: number): string | null {
  let out = "";
  let i = 0;
  while (i < n) {
    const b = bytes[i];
    let need = 0;
    let cp = 0;
    let min = 0;
    if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
    else if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 31; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 15; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 7; min = 0x10000; }
    else return null;
    if (i + need >= n) return null; // truncated sequence
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (c & 63);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    out += fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

/** reused byte run for percentDecode; grows only when a longer run arrives */
const RUN: number[] = [];

/**
 * Decodes percent-encoding like decodeURIComponent: runs of %XX are UTF-8 bytes, every
 * other character stands for itself ("+" included). null if a "%" is not followed by two
 * hex digits or the bytes are not UTF-8.
 */
export function percentDecode(s: string): string | null {
  let out = "";
  let i = 0;
  const n = s.length;
  while (i < n) {
    if (s.charCodeAt(i) !== 37) { // not "%"
      out += s.charAt(i);
      i++;
      continue;
    }
    let count = 0;
    while (i < n && s.charCodeAt(i) === 37) {
      if (i + 2 >= n) return null;
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      RUN[count++] = (hi << 4) | lo;
      i += 3;
    }
    const text = utf8Decode(RUN, count);
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
