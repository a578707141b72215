// UTF-8 for MQTT strings, written by hand: Espruino has no TextEncoder/TextDecoder.
// Encoding follows RFC 3629; decoding is strict, as MQTT 3.1.1 §1.5.3 requires of
// "UTF-8 encoded strings": no overlong forms, no surrogates (U+D800..U+DFFF), nothing
// above U+10FFFF, no truncated sequences, and no U+0000.

/** Decoded strings are built in chunks of this many UTF-16 units, then appended to the result. */
const CHUNK_UNITS = 256;

/**
 * Bytes needed to encode `s` as UTF-8. A lone surrogate counts as U+FFFD (3 bytes),
 * the replacement writeUtf8 makes.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        // a surrogate pair: 2 units, 4 bytes
        len += 2;
        i++;
      } else {
        len += 2;
      }
    } else {
      len += 2;
    }
  }
  return len;
}

/**
 * Writes `s` as UTF-8 into `buf` at `pos` and returns the position after it.
 * The caller sized `buf` with utf8Length. Lone surrogates become U+FFFD.
 */
export function writeUtf8(s: string, buf: Uint8Array, pos: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
      continue;
    }
    if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          i++;
          const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          buf[pos++] = 0xf0 | (cp >> 18);
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[pos++] = 0x80 | (cp & 0x3f);
          continue;
        }
      }
      c = 0xfffd;
    }
    buf[pos++] = 0xe0 | (c >> 12);
    buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
    buf[pos++] = 0x80 | (c & 0x3f);
  }
  return pos;
}

/**
 * Length of the valid UTF-8 sequence starting at buf[i] (a non-ASCII lead byte), or 0
 * when the sequence is invalid or runs past `end`. RFC 3629 §4 byte ranges.
 */
function seqLength(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i];
  if (b0 < 0xc2) return 0; // continuation byte as lead, or overlong 2-byte form
  if (b0 < 0xe0) {
    if (i + 1 >= end) return 0;
    return (buf[i + 1] & 0xc0) === 0x80 ? 2 : 0;
  }
  if (b0 < 0xf0) {
    if (i + 2 >= end) return 0;
    const b1 = buf[i + 1];
    // E0: no overlong forms; ED: no surrogates
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    if (b1 < lo || b1 > hi) return 0;
    return (buf[i + 2] & 0xc0) === 0x80 ? 3 : 0;
  }
  if (b0 < 0xf5) {
    if (i + 3 >= end) return 0;
    const b1 = buf[i + 1];
    // F0: no overlong forms; F4: nothing above U+10FFFF
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    if (b1 < lo || b1 > hi) return 0;
    return (buf[i + 2] & 0xc0) === 0x80 && (buf[i + 3] & 0xc0) === 0x80 ? 4 : 0;
  }
  return 0; // F5..FF never appear in UTF-8
}

/** An ASCII range as a string, eight units per String.fromCharCode call (no arrays, no apply). */
function asciiRun(buf: Uint8Array, i: number, j: number): string {
  let s = "";
  while (j - i >= 8) {
    s += String.fromCharCode(buf[i], buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5], buf[i + 6], buf[i + 7]);
    i += 8;
  }
  while (i < j) s += String.fromCharCode(buf[i++]);
  return s;
}

/**
 * Decodes buf[start..end) as a strict MQTT UTF-8 string; null when invalid
 * (see utf8ErrorAt for where). The result is built in short chunks appended to the
 * output, so long strings cost O(n) appends of bounded size, never a per-byte array.
 */
export function readUtf8(buf: Uint8Array, start: number, end: number): string | null {
  return decodeUtf8(buf, start, end, false);
}

/**
 * Strict UTF-8 (RFC 3629) of buf[start..end) as a string, U+0000 included (what
 * percent-decoding needs: "%00" is a character there); null on a malformed sequence.
 */
export function readUtf8WithNul(buf: Uint8Array, start: number, end: number): string | null {
  return decodeUtf8(buf, start, end, true);
}

function decodeUtf8(buf: Uint8Array, start: number, end: number, nulOk: boolean): string | null {
  let out = "";
  let acc = "";
  let i = start;
  while (i < end) {
    // ASCII run (the common case: topics and ids are ASCII)
    let j = i;
    while (j < end && j - i < CHUNK_UNITS) {
      const c = buf[j];
      if (c >= 0x80 || (c === 0 && !nulOk)) break;
      j++;
    }
    if (j > i) {
      acc += asciiRun(buf, i, j);
      i = j;
      if (acc.length >= CHUNK_UNITS) {
        out += acc;
        acc = "";
      }
      continue;
    }
    const b0 = buf[i];
    if (b0 === 0) return null; // MQTT 3.1.1 §1.5.3: U+0000 is forbidden
    const n = seqLength(buf, i, end);
    if (n === 0) return null;
    if (n === 2) {
      acc += String.fromCharCode(((b0 & 0x1f) << 6) | (buf[i + 1] & 0x3f));
    } else if (n === 3) {
      acc += String.fromCharCode(((b0 & 0x0f) << 12) | ((buf[i + 1] & 0x3f) << 6) | (buf[i + 2] & 0x3f));
    } else {
      const cp = ((b0 & 0x07) << 18) | ((buf[i + 1] & 0x3f) << 12) | ((buf[i + 2] & 0x3f) << 6) | (buf[i + 3] & 0x3f);
      const v = cp - 0x10000;
      acc += String.fromCharCode(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    }
    i += n;
    if (acc.length >= CHUNK_UNITS) {
      out += acc;
      acc = "";
    }
  }
  return out + acc;
}

/**
 * Offset of the first byte that makes buf[start..end) invalid as an MQTT UTF-8 string
 * (the lead byte of a bad or truncated sequence, or a 0x00 byte), or -1 when it is valid.
 */
export function utf8ErrorAt(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = buf[i];
    if (c === 0) return i;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = seqLength(buf, i, end);
    if (n === 0) return i;
    i += n;
  }
  return -1;
}
