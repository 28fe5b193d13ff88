/** The pure SHA-256 a tab uses outside a secure context (shared/sha256.ts) equals node:crypto's. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256HexPure } from '../../../shared/sha256.ts';

describe('sha256HexPure', () => {
  it('equals node:crypto on every padding boundary and on a shard-sized input', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4099, 1 << 20]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 255);
      expect(sha256HexPure(b), `length ${n}`).toBe(createHash('sha256').update(b).digest('hex'));
    }
    expect(sha256HexPure(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
