// UTF-8 for MQTT strings, written by hand: Espruino has no TextEncoder/TextDecoder.
// Encoding follows RFC 3629; decoding is strict, as MQTT 3.1.1 §1.5.3 requires of
// "UTF-8 encoded strings": no overlong forms, no surrogates (U+D800..U+DFFF), nothing
// above U+10FFFF, no truncated sequences, and no U+0000. Written for size (it ships in
// every device build): each sequence is decoded first and its code point checked after.

/**
 * Bytes needed to encode `s` as UTF-8. A lone surrogate counts as U+FFFD (3 bytes),
 * the replacement writeUtf8 makes. The ASCII run at its start is counted with one comparison
 * a character (a topic is ASCII: ids and property names are, and percentEncode makes the
 * rest so). No RegExp: on Moddable SDK 8.2.3 every exec of a RegExp in a preloaded module
 * leaks its match data, and a collection during it can crash the engine (ENGINES.md).
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let i = 0;
  while (i < n && s.charCodeAt(i) < 0x80) i++;
  let len = i;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    // a high surrogate followed by a low one is a pair: 2 units, 4 bytes
    // (charCodeAt past the end is NaN, which is no low surrogate)
    if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { len += 4; i++; }
    else len += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return len;
}

/**
 * Writes `s` as UTF-8 into `buf` at `pos` and returns the position after it.
 * The caller sized `buf` with utf8Length. Lone surrogates become U+FFFD.
 */
export function writeUtf8(s: string, buf: Uint8Array, pos: number): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if ((c & 0xf800) === 0xd800) {
      const d = s.charCodeAt(i + 1);
      if (c < 0xdc00 && (d & 0xfc00) === 0xdc00) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      else c = 0xfffd;
    }
    if (c < 0x80) { buf[pos++] = c; continue; }
    // n continuation bytes; the lead byte is 110xxxxx, 1110xxxx or 11110xxx
    let n = c < 0x800 ? 1 : c < 0x10000 ? 2 : 3;
    buf[pos++] = ((0xff00 >> (n + 1)) & 0xff) | (c >> (6 * n));
    while (n-- > 0) buf[pos++] = 0x80 | ((c >> (6 * n)) & 0x3f);
  }
  return pos;
}

/**
 * Strict UTF-8 of buf[i..end) as a string, or the offset of the first byte that makes it
 * invalid (the lead byte of a bad or truncated sequence, or a 0x00 byte unless nulOk).
 */
export function decodeUtf8(buf: Uint8Array, i: number, end: number, nulOk: boolean): string | number {
  // The run of ASCII without NUL at the start (every topic the hub sends us is all of it): its
  // bytes as characters, 64 at a time (on Espruino each argument of apply is a JsVar while it
  // runs); from the first other byte on, byte by byte below. No RegExp (see utf8Length).
  let out = "";
  let j = i;
  for (; j < end; j++) {
    const b = buf[j];
    if (b === 0 || b >= 0x80) break;
  }
  for (let s = i; s < j; s += 64) out += String.fromCharCode.apply(null, buf.subarray(s, j - s > 64 ? s + 64 : j) as unknown as number[]);
  i = j;
  while (i < end) {
    const at = i;
    let c = buf[i++];
    if (c >= 0x80) {
      // C2..DF, E0..EF, F0..F4 lead 1, 2, 3 continuation bytes; 80..C1 and F5..FF never lead
      const n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
      if (c < 0xc2 || c > 0xf4 || i + n > end) return at;
      c &= 0x3f >> n;
      for (let k = 0; k < n; k++) {
        const d = buf[i++];
        if ((d & 0xc0) !== 0x80) return at;
        c = (c << 6) | (d & 0x3f);
      }
      // overlong (E0 80..9F, F0 80..8F), a surrogate (ED A0..BF), or past U+10FFFF (F4 90..)
      if ((n > 1 && c < (n === 2 ? 0x800 : 0x10000)) || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) return at;
      if (c >= 0x10000) {
        c -= 0x10000;
        out += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
        continue;
      }
    } else if (c === 0 && !nulOk) {
      return at; // MQTT 3.1.1 §1.5.3: U+0000 is forbidden
    }
    out += String.fromCharCode(c);
  }
  return out;
}

/** Decodes buf[start..end) as a strict MQTT UTF-8 string; null when invalid (see utf8ErrorAt for where). */
export function readUtf8(buf: Uint8Array, start: number, end: number): string | null {
  const r = decodeUtf8(buf, start, end, false);
  return typeof r === "string" ? r : null;
}

/**
 * Strict UTF-8 (RFC 3629) of buf[start..end) as a string, U+0000 included (what
 * percent-decoding needs: "%00" is a character there); null on a malformed sequence.
 */
export function readUtf8WithNul(buf: Uint8Array, start: number, end: number): string | null {
  const r = decodeUtf8(buf, start, end, true);
  return typeof r === "string" ? r : null;
}

/**
 * Offset of the first byte that makes buf[start..end) invalid as an MQTT UTF-8 string
 * (the lead byte of a bad or truncated sequence, or a 0x00 byte), or -1 when it is valid.
 */
export function utf8ErrorAt(buf: Uint8Array, start: number, end: number): number {
  const r = decodeUtf8(buf, start, end, false);
  return typeof r === "string" ? -1 : r;
}
