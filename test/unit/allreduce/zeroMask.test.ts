import { describe, expect, it } from 'vitest';
import { decodeMasked, encodeMasked, MASKED_ENCODING, maskedBytes, maskedIsSmaller, maskedPayloadBytes, maskWords, nonZeroCount } from '../../../shared/allreduce/zeroMask.ts';
import { encodeExactChunk } from '../../../shared/allreduce/chunkCodec.ts';
import { decodeHeader, denseFrameBytes, HEADER_BYTES, Phase } from '../../../shared/allreduce/frame.ts';
import { decodeExchangeHeader, EXCHANGE_PHASE } from '../../../shared/allreduce/exchangeFrame.ts';
import { CODEC_ID } from '../../../shared/codec.ts';
import { mulberry32 } from '../../../shared/random.ts';

const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
const fromBits = (u: number[]) => new Float32Array(Uint32Array.from(u).buffer);

/** A vector whose values are +0.0 with probability `zeros`, else −0.0, a denormal, a NaN-free float or an integer. */
function sparse(len: number, zeros: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const u = new Uint32Array(len);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < len; i++) {
    const x = rnd();
    if (x < zeros) continue;
    const kind = Math.floor(rnd() * 4);
    if (kind === 0) u[i] = 0x80000000; // −0.0
    else if (kind === 1) u[i] = 1 + Math.floor(rnd() * 0x7fffff); // a denormal
    else if (kind === 2) f[i] = (rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20);
    else f[i] = Math.floor(rnd() * 200) - 100;
  }
  return f;
}

function roundTrip(src: Float32Array): { out: Float32Array; written: number; payload: Uint8Array } {
  const payload = new Uint8Array(maskedBytes(src.length, nonZeroCount(src)) + 8);
  const written = encodeMasked(src, payload);
  const out = new Float32Array(src.length).fill(7);
  expect(decodeMasked(payload.subarray(0, written), out, 'set')).toBe(true);
  return { out, written, payload: payload.subarray(0, written) };
}

describe('zeroMask: the lossless zero-eliding form of exact frames', () => {
  for (const len of [0, 1, 31, 32, 33, 64, 1000, 16_384]) {
    for (const zeros of [0, 0.4, 0.95, 1]) {
      it(`length ${len}, ${zeros * 100} % +0.0: decodes to the same bits (−0.0 and denormals kept), in maskedBytes bytes; its own length check agrees`, () => {
        const src = sparse(len, zeros, len * 7 + zeros * 100);
        const { out, written, payload } = roundTrip(src);
        expect(bits(out)).toEqual(bits(src));
        expect(written).toBe(maskedBytes(len, nonZeroCount(src)));
        expect(maskedPayloadBytes(payload, len)).toBe(written);
      });
    }
  }

  it('moves bits, not floats: a NaN payload survives (and is reported as not finite); −0.0 is a value, +0.0 is not', () => {
    const src = fromBits([0x7fc00001, 0, 0x80000000, 0x3f800000, 0x7f800000]);
    expect(nonZeroCount(src)).toBe(4);
    const payload = new Uint8Array(maskedBytes(5, 4));
    encodeMasked(src, payload);
    const out = new Float32Array(5);
    expect(decodeMasked(payload, out, 'set')).toBe(false);
    expect(bits(out)).toEqual(bits(src));
  });

  it("'add' gives out + x for every value, elided ones as +0.0: exactly what adding the dense vector gives (−0.0 + +0.0 = +0.0)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const x = sparse(333, 0.5, seed);
      const base = sparse(333, 0.3, seed + 1000);
      const dense = base.map((b, i) => b + x[i]!);
      const payload = new Uint8Array(maskedBytes(333, nonZeroCount(x)));
      encodeMasked(x, payload);
      const got = Float32Array.from(base);
      expect(decodeMasked(payload, got, 'add')).toBe(true);
      expect(bits(got)).toEqual(bits(dense));
    }
    const negZero = fromBits([0x80000000]);
    const payload = new Uint8Array(maskedBytes(1, 0));
    encodeMasked(new Float32Array(1), payload);
    decodeMasked(payload, negZero, 'add');
    expect(bits(negZero)).toEqual([0]);
  });

  it("'add' reports a sum that overflows to infinity as not finite", () => {
    const x = Float32Array.of(3e38, 0, 0);
    const payload = new Uint8Array(maskedBytes(3, 1));
    encodeMasked(x, payload);
    expect(decodeMasked(payload, Float32Array.of(3e38, 1, 2), 'add')).toBe(false);
  });

  it('is chosen only when smaller: a mask costs n/8 bytes, so a vector needs more than 1/32 of its values +0.0', () => {
    expect(maskedIsSmaller(1024, 1024)).toBe(false);
    expect(maskedIsSmaller(1024, 992)).toBe(false); // 32 zeros pay exactly for the 128-byte mask
    expect(maskedIsSmaller(1024, 991)).toBe(true);
    expect(maskedIsSmaller(0, 0)).toBe(false);
    const header = { phase: Phase.ReduceScatter, jobTag: 1, epoch: 1, step: 1, round: 0, segment: 0, chunk: 0, count: 0 };
    const dense = encodeExactChunk(null, header, Float32Array.from({ length: 100 }, (_, i) => i + 1));
    expect(dense[24]).toBe(CODEC_ID.fp32);
    expect(dense.byteLength).toBe(HEADER_BYTES + 400);
    const masked = encodeExactChunk(null, header, Float32Array.from({ length: 100 }, (_, i) => (i % 2 ? 0 : i)));
    expect(masked[24]).toBe(MASKED_ENCODING);
    expect(masked.byteLength).toBe(HEADER_BYTES + maskedBytes(100, 49));
    expect(denseFrameBytes(masked)).toBe(HEADER_BYTES + 400);
    expect(decodeHeader(masked).count).toBe(100);
  });
});

describe('zeroMask: hostile masked frames are refused with a code, at a cost bounded by their size', () => {
  const frameOf = (values: Float32Array, phase: number = Phase.ReduceScatter) => {
    const f = encodeExactChunk(null, { phase: phase as never, jobTag: 1, epoch: 1, step: 1, round: 0, segment: 0, chunk: 0, count: 0 }, values);
    expect(f[24]).toBe(MASKED_ENCODING);
    return f;
  };
  const half = Float32Array.from({ length: 70 }, (_, i) => (i % 2 ? 0 : i + 1));

  it('a value more or less than the mask says: FRAME_BAD_LENGTH', () => {
    const f = frameOf(half);
    const longer = new Uint8Array(f.byteLength + 4);
    longer.set(f);
    expect(() => decodeHeader(longer)).toThrow(/FRAME_BAD_LENGTH/);
    expect(() => decodeHeader(f.subarray(0, f.byteLength - 4))).toThrow(/FRAME_BAD_LENGTH/);
    // one more mask bit set than values carried
    const extra = f.slice();
    new DataView(extra.buffer).setUint32(HEADER_BYTES, new DataView(extra.buffer).getUint32(HEADER_BYTES, true) | 2, true);
    expect(() => decodeHeader(extra)).toThrow(/FRAME_BAD_LENGTH/);
  });

  it('a mask bit past the count: FRAME_BAD_ENCODING (one canonical form per vector)', () => {
    const f = frameOf(half);
    const dv = new DataView(f.buffer);
    const lastWord = HEADER_BYTES + 4 * (maskWords(70) - 1);
    dv.setUint32(lastWord, dv.getUint32(lastWord, true) | (1 << 10), true); // value 74 of 70
    expect(() => decodeHeader(f)).toThrow(/FRAME_BAD_ENCODING/);
  });

  it('a count near 2^32 in a small frame: FRAME_BAD_LENGTH before its mask is read (no wrap to a tiny mask)', () => {
    for (const count of [0xffffffff, 0xffffffe1, 2 ** 31, 1_000_000]) {
      const f = frameOf(half).slice();
      new DataView(f.buffer).setUint32(28, count, true);
      expect(() => decodeHeader(f)).toThrow(/FRAME_BAD_LENGTH/);
      expect(() => maskedPayloadBytes(f.subarray(HEADER_BYTES), count)).toThrow(/FRAME_BAD_LENGTH/);
    }
  });

  it('the latency schedules take masked frames too, with the same checks; other encodings stay refused there', () => {
    const f = frameOf(half, EXCHANGE_PHASE);
    expect(decodeExchangeHeader(f).count).toBe(70);
    expect(() => decodeExchangeHeader(f.subarray(0, f.byteLength - 4))).toThrow(/FRAME_BAD_LENGTH/);
    const fp16 = f.slice();
    fp16[24] = CODEC_ID.fp16;
    expect(() => decodeExchangeHeader(fp16)).toThrow(/FRAME_BAD_ENCODING/);
  });
});
