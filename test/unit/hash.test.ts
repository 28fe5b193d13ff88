import { describe, expect, it } from 'vitest';
import { hashFloat32, hashString32 } from '../../shared/hash.ts';
import { mulberry32 } from '../../shared/random.ts';

function randomVector(n: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rnd() - 0.5) * 1000);
}

/** the next float32 after x, away from zero (one ulp) */
function nextUlp(x: number): number {
  const f = new Float32Array([x]);
  new Uint32Array(f.buffer)[0]! += 1;
  return f[0]!;
}

describe('hashFloat32', () => {
  it('is 16 lower-case hex digits (the protocol hash format)', () => {
    for (const n of [0, 1, 2, 1000]) expect(hashFloat32(randomVector(n, n))).toMatch(/^[0-9a-f]{16}$/);
  });

  it('equal vectors hash equal, whatever buffer or offset holds them', () => {
    const a = randomVector(1001, 1);
    const b = Float32Array.from(a);
    expect(hashFloat32(b)).toBe(hashFloat32(a));
    const host = new Float32Array(1010);
    host.set(a, 7);
    expect(hashFloat32(host.subarray(7, 1008))).toBe(hashFloat32(a));
    // a view hashes only its own elements
    expect(hashFloat32(host.subarray(7, 1007))).not.toBe(hashFloat32(a));
    expect(hashFloat32(host.subarray(7, 1007))).toBe(hashFloat32(a.slice(0, 1000)));
  });

  it('is a fixed function of the bits (stable across calls)', () => {
    const a = randomVector(64, 2);
    expect(hashFloat32(a)).toBe(hashFloat32(a));
    expect(hashFloat32(new Float32Array(0))).toBe(hashFloat32(new Float32Array(0)));
  });

  it('a one-ulp change at any position changes the hash', () => {
    const a = randomVector(300, 3);
    const h = hashFloat32(a);
    const seen = new Set([h]);
    for (let i = 0; i < a.length; i++) {
      const b = Float32Array.from(a);
      b[i] = nextUlp(b[i]!);
      expect(b[i]).not.toBe(a[i]);
      const hb = hashFloat32(b);
      expect(hb).not.toBe(h);
      seen.add(hb);
    }
    expect(seen.size).toBe(a.length + 1);
  });

  it('flipping any single bit of an element changes the hash', () => {
    for (const pos of [0, 5, 9]) {
      const a = randomVector(10, 4);
      const h = hashFloat32(a);
      const u = new Uint32Array(a.buffer);
      const hashes = new Set<string>();
      for (let bit = 0; bit < 32; bit++) {
        u[pos]! ^= 1 << bit;
        hashes.add(hashFloat32(a));
        u[pos]! ^= 1 << bit;
      }
      expect(hashes.size).toBe(32);
      expect(hashes.has(h)).toBe(false);
    }
  });

  it('hashes bits, not values: 0 and -0, and different NaNs, differ', () => {
    expect(hashFloat32(Float32Array.of(0))).not.toBe(hashFloat32(Float32Array.of(-0)));
    const nan2 = new Float32Array(new Uint32Array([0x7fc00001]).buffer);
    expect(hashFloat32(Float32Array.of(NaN))).not.toBe(hashFloat32(nan2));
  });

  it('swapping two elements changes the hash (order matters)', () => {
    const a = Float32Array.of(1, 2, 3, 4);
    expect(hashFloat32(Float32Array.of(2, 1, 3, 4))).not.toBe(hashFloat32(a));
    expect(hashFloat32(Float32Array.of(1, 2, 4, 3))).not.toBe(hashFloat32(a));
  });

  it('length matters: zero vectors and prefixes of every length hash differently', () => {
    const hashes = new Set<string>();
    for (let n = 0; n <= 256; n++) hashes.add(hashFloat32(new Float32Array(n)));
    expect(hashes.size).toBe(257);
    const a = randomVector(100, 5);
    const prefixes = new Set<string>();
    for (let n = 0; n <= 100; n++) prefixes.add(hashFloat32(a.subarray(0, n)));
    expect(prefixes.size).toBe(101);
  });
});

describe('hashString32', () => {
  it('is 32-bit FNV-1a (known test vectors)', () => {
    expect(hashString32('')).toBe(0x811c9dc5);
    expect(hashString32('a')).toBe(0xe40c292c);
    expect(hashString32('foobar')).toBe(0xbf9cf968);
  });

  it('is an unsigned 32-bit integer, deterministic, and separates similar job ids', () => {
    const ids = ['job-1', 'job-2', 'job-10', 'Job-1', 'job-1 ', 'jo-b1'];
    const tags = ids.map(hashString32);
    for (const t of tags) {
      expect(Number.isInteger(t) && t >= 0 && t <= 0xffffffff).toBe(true);
    }
    expect(new Set(tags).size).toBe(ids.length);
    expect(ids.map(hashString32)).toEqual(tags);
  });
});
