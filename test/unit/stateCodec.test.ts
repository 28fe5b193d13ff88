import { describe, expect, it } from 'vitest';
import { decodeState, encodeState } from '../../shared/stateCodec.ts';
import { hashFloat32 } from '../../shared/hash.ts';

describe('state codec', () => {
  const state = {
    step: 42,
    params: Float32Array.from([1.5, -2, 3e-8, 7]),
    optimizer: { name: 'adam' as const, iterations: 42, m: Float32Array.from([0.1, 0.2, 0.3, 0.4]), v: Float32Array.from([1, 2, 3, 4]), accBeta1: 0.5, accBeta2: 0.9 },
  };

  it('round-trips step, parameters and optimizer state bit for bit', () => {
    const back = decodeState(encodeState(state));
    expect(back.step).toBe(42);
    expect(hashFloat32(back.params)).toBe(hashFloat32(state.params));
    expect([...back.optimizer.m!]).toEqual([...state.optimizer.m].map(Math.fround));
    expect(back.optimizer).toMatchObject({ name: 'adam', iterations: 42, accBeta1: 0.5, accBeta2: 0.9 });
  });

  it('decodes from a Node Buffer that is a view into a larger pool (as socket.io delivers)', () => {
    const bytes = encodeState(state);
    const pool = Buffer.alloc(bytes.length + 13);
    pool.set(bytes, 13);
    const view = pool.subarray(13);
    expect(hashFloat32(decodeState(view).params)).toBe(hashFloat32(state.params));
  });

  it('rejects truncated or foreign bytes with a coded error', () => {
    const bytes = encodeState(state);
    expect(() => decodeState(bytes.subarray(0, bytes.length - 4))).toThrow(/BAD_REQUEST/);
    expect(() => decodeState(new Uint8Array(16))).toThrow(/BAD_REQUEST/);
  });
});
