// A tiny seeded PRNG (xorshift32) whose whole state is one integer, so the link can keep it
// in its plain state object and stay a pure function. The seed comes from the shell: a
// hardware RNG on devices, a seeded source in tests and simulations. No Math.imul (Espruino).

/** 32-bit multiply (Math.imul without Math.imul): exact low 32 bits of a * b. */
function mul32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = (a >>> 16) & 0xffff;
  return ((al * b) + ((((ah * b) & 0xffff) << 16) >>> 0)) | 0;
}

/**
 * A non-zero 32-bit state from any seed. The seed is scrambled (murmur3's finaliser) so that
 * neighbouring seeds — devices numbered 1, 2, 3 — do not get correlated first delays.
 */
export function seedRng(seed: number): number {
  let x = (seed | 0) ^ 0x9e3779b9;
  x ^= x >>> 16;
  x = mul32(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = mul32(x, 0xc2b2ae35);
  x ^= x >>> 16;
  if (x === 0) x = 0x6d2b79f5;
  return x | 0;
}

/** The next state. */
export function nextRng(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x | 0;
}

/** A uniform draw in [0, 1) from a state. */
export function rngUnit(x: number): number {
  return (x >>> 0) / 4294967296;
}

/**
 * A 32-bit seed from device-unique text: the device id, a MAC address, a hardware RNG draw, the
 * clock — whatever the platform has, joined into one string (FNV-1a over its char codes). Two
 * devices of a fleet then draw different backoffs even where the engine's RNG is the same on
 * every boot (Espruino's E.hwRand on Linux and ESP32, XS's Math.random on lin: ENGINES.md).
 */
export function seedFrom(material: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < material.length; i++) {
    h ^= material.charCodeAt(i) & 0xffff;
    h = mul32(h, 0x01000193);
  }
  return h | 0;
}
