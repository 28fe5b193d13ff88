import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, stateHash, stateVector } from '../../shared/stateCodec.ts';
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

describe('state codec version 2 (non-trainable weights)', () => {
  const base = { step: 3, params: Float32Array.from([1, 2, 3]), optimizer: { name: 'momentum' as const, iterations: 3, m: Float32Array.from([4, 5, 6]) } };
  it('round-trips the buffers and writes version 2 only when there are some', () => {
    const withBuf = encodeState({ ...base, buffers: Float32Array.from([0.25, 9]) });
    expect(withBuf[2]).toBe(2);
    const back = decodeState(withBuf);
    expect([...back.buffers!]).toEqual([0.25, 9]);
    expect([...back.optimizer.m!]).toEqual([4, 5, 6]);
    const without = encodeState(base);
    expect(without[2]).toBe(1);
    expect(decodeState(without).buffers).toBeUndefined();
  });
  it('reads a version-1 state as written before buffers existed', () => {
    // a version-1 encoding, built by hand: header without `buffers`
    const json = JSON.stringify({ step: 3, size: 3, name: 'sgd', iterations: 3, hasM: false, hasV: false }).padEnd(64, ' ');
    const bytes = new Uint8Array(8 + json.length + 12);
    const dv = new DataView(bytes.buffer);
    dv.setUint16(0, 0x5354, true);
    dv.setUint8(2, 1);
    dv.setUint32(4, json.length, true);
    bytes.set(new TextEncoder().encode(json), 8);
    bytes.set(new Uint8Array(Float32Array.from([1, 2, 3]).buffer), 8 + json.length);
    const st = decodeState(bytes);
    expect([...st.params]).toEqual([1, 2, 3]);
    expect(st.buffers).toBeUndefined();
  });
  it('stateHash covers the buffers and equals hashFloat32(params) without them', () => {
    expect(stateHash(base)).toBe(hashFloat32(base.params));
    expect(stateHash({ ...base, buffers: new Float32Array(0) })).toBe(hashFloat32(base.params));
    expect(stateHash({ ...base, buffers: Float32Array.from([1]) })).not.toBe(stateHash({ ...base, buffers: Float32Array.from([2]) }));
    expect(stateHash({ ...base, buffers: Float32Array.from([1]) })).toBe(hashFloat32(stateVector(base.params, Float32Array.from([1]))));
  });
  it('rejects a buffers length that does not match the bytes', () => {
    const b = encodeState({ ...base, buffers: Float32Array.from([1, 2]) });
    expect(() => decodeState(b.subarray(0, b.length - 4))).toThrow(/BAD_REQUEST/);
  });
});
