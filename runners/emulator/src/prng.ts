/**
 * Seeded pseudo-random numbers for the simulation. Every random choice the emulator makes (CSMA backoff, loss,
 * bit flips, firmware filler bytes) comes from one of these so a run is reproducible from its seed alone;
 * `Math.random` is never used.
 */

/** A source of uniformly distributed 32-bit integers and floats in [0, 1). */
export type Rng = {
  /** Next unsigned 32-bit integer. */
  nextU32(): number;
  /** Next float in [0, 1). */
  next(): number;
  /** Next integer in [0, n). */
  below(n: number): number;
};

/** Mixes an integer into a well-spread 32-bit value, so nearby seeds give unrelated streams. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over a string, used to derive per-name streams (board names, firmware names). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of state, passes PractRand far beyond
 * anything a test run draws, and is trivially portable. Seeded from two 32-bit values (e.g. session seed and a
 * stream id) so independent components do not share a stream.
 */
export function createRng(seed: number, stream = 0): Rng {
  let a = mix32(seed ^ 0x9e3779b9);
  let b = mix32(stream ^ 0x243f6a88);
  let c = mix32((seed + stream) ^ 0xb7e15162);
  let d = 1;
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32's state needs a few rounds to diffuse a low-entropy seed.
  for (let i = 0; i < 12; i++) nextU32();
  return {
    nextU32,
    next: () => nextU32() / 4294967296,
    below: (n: number) => Math.floor((nextU32() / 4294967296) * n),
  };
}
