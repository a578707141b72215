// SHA-256 (FIPS 180-4 §6.2), portable: only 32-bit integer arithmetic through `| 0` and
// `>>> 0`, no Math.imul, no BigInt. Full blocks are hashed straight from the input; the
// padded tail (one or two blocks) goes through a buffer of its own. Every hash allocates its
// scratch (schedule, running hash, tail) and its 32-byte result: a module-level scratch buffer
// is frozen into flash when XS preloads the core, and writing into it throws `read-only buffer`
// (ENGINES.md). The constant tables below are only ever read.

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 §5.3.3: initial hash value.
const H0 = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/**
 * Hashes the 64-byte block buf[pos..pos+64) into H (§6.2.2); W is the message schedule
 * (64 words, §6.2.2 step 1), H the running hash value (8 words).
 */
function block(buf: Uint8Array, pos: number, W: Int32Array, H: Int32Array): void {
  let t = 0;
  for (t = 0; t < 16; t++) {
    const p = pos + t * 4;
    W[t] = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
  }
  for (t = 16; t < 64; t++) {
    const w15 = W[t - 15];
    const w2 = W[t - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (((W[t - 16] + s0) | 0) + ((W[t - 7] + s1) | 0)) | 0;
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (((((h + S1) | 0) + ((ch + K[t]) | 0)) | 0) + W[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g; g = f; f = e;
    e = (d + t1) | 0;
    d = c; c = b; b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
}

/** SHA-256 of msg: 32 bytes. */
export function sha256(msg: Uint8Array): Uint8Array {
  const len = msg.length;
  let i = 0;
  const W = new Int32Array(64);
  const H = new Int32Array(8);
  for (i = 0; i < 8; i++) H[i] = H0[i];
  const full = len - (len % 64);
  for (i = 0; i < full; i += 64) block(msg, i, W, H);
  // §5.1.1: the rest, a 1 bit, zeros, and the 64-bit big-endian bit length
  const rest = len - full;
  const tailLen = rest < 56 ? 64 : 128;
  const tail = new Uint8Array(tailLen); // the padded tail: one or two blocks (§5.1.1), zeroed
  for (i = 0; i < rest; i++) tail[i] = msg[full + i];
  tail[rest] = 0x80;
  const hiBits = Math.floor(len / 0x20000000); // len * 8 / 2^32
  const loBits = (len * 8) >>> 0;
  tail[tailLen - 8] = hiBits >>> 24; tail[tailLen - 7] = (hiBits >>> 16) & 0xff;
  tail[tailLen - 6] = (hiBits >>> 8) & 0xff; tail[tailLen - 5] = hiBits & 0xff;
  tail[tailLen - 4] = loBits >>> 24; tail[tailLen - 3] = (loBits >>> 16) & 0xff;
  tail[tailLen - 2] = (loBits >>> 8) & 0xff; tail[tailLen - 1] = loBits & 0xff;
  block(tail, 0, W, H);
  if (tailLen === 128) block(tail, 64, W, H);
  const out = new Uint8Array(32);
  for (i = 0; i < 8; i++) {
    const v = H[i];
    out[i * 4] = v >>> 24; out[i * 4 + 1] = (v >>> 16) & 0xff;
    out[i * 4 + 2] = (v >>> 8) & 0xff; out[i * 4 + 3] = v & 0xff;
  }
  return out;
}
