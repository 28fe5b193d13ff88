import { describe, expect, it } from 'vitest';
import { CODECS, codecOf, decodeInto, encodedBytes, encodeInto, errorBound, ErrorFeedback, f16ToF32, f32BitsToF16, FP16_MAX, INT8_BLOCK, type CodecName } from '../../shared/codec.ts';
import { FrameError } from '../../shared/errors.ts';
import { reduceChunk } from '../../shared/allreduce/chunkCodec.ts';
import { mulberry32 } from '../../shared/random.ts';

const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const toF16 = (x: number) => f32BitsToF16(bitsOf(x));

function roundTrip(c: CodecName, src: Float32Array, residual: Float32Array | null = null): { out: Float32Array; decoded: Float32Array; bytes: Uint8Array } {
  const bytes = new Uint8Array(encodedBytes(c, src.length));
  const decoded = new Float32Array(src.length);
  encodeInto(c, src, bytes, residual, decoded);
  const out = new Float32Array(src.length);
  expect(decodeInto(c, bytes, out, 'set')).toBe(true);
  return { out, decoded, bytes };
}

/** values spanning many magnitudes, with signs, zeros and a few outliers */
function gradientLike(n: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: n }, (_, i) => {
    if (i % 97 === 0) return 0;
    const mag = 10 ** (-6 + 7 * rnd());
    return (rnd() < 0.5 ? -1 : 1) * mag;
  });
}

describe('fp16 conversion', () => {
  it('known values, signed zero, infinities and NaN', () => {
    expect(toF16(0)).toBe(0);
    expect(toF16(-0)).toBe(0x8000);
    expect(toF16(1)).toBe(0x3c00);
    expect(toF16(-2)).toBe(0xc000);
    expect(toF16(0.5)).toBe(0x3800);
    expect(toF16(FP16_MAX)).toBe(0x7bff);
    expect(toF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toF16(2 ** -14)).toBe(0x0400); // smallest normal
    expect(toF16(Infinity)).toBe(0x7c00);
    expect(toF16(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(f16ToF32(toF16(NaN)))).toBe(true);
  });

  it('finite values past ±65504 saturate instead of becoming infinite', () => {
    for (const x of [65520, 1e6, 3.4e38]) {
      expect(toF16(x)).toBe(0x7bff);
      expect(toF16(-x)).toBe(0xfbff);
    }
  });

  it('rounds to nearest, ties to even (normal and subnormal)', () => {
    const ulp = 2 ** -10; // at 1.0
    expect(toF16(1 + ulp / 2)).toBe(0x3c00); // tie → even (mantissa 0)
    expect(toF16(1 + (3 * ulp) / 2)).toBe(0x3c02); // tie → even (mantissa 2)
    expect(toF16(1 + ulp / 2 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(toF16(2 ** -25)).toBe(0); // half the smallest subnormal: tie → 0
    expect(toF16(3 * 2 ** -25)).toBe(2); // 1.5 subnormal ulps: tie → 2
    expect(toF16(2 ** -14 - 2 ** -26)).toBe(0x0400); // rounds up into the smallest normal
  });

  it('every finite binary16 value survives f16 → f32 → f16 exactly', () => {
    for (let h = 0; h < 65536; h++) {
      if (((h >>> 10) & 0x1f) === 0x1f) continue;
      expect(toF16(f16ToF32(h))).toBe(h);
    }
  });

  it('round-trip error is at most half an ulp (2^-11 relative) in range', () => {
    const src = gradientLike(20_000, 1).map((x) => x * 1000);
    const { out } = roundTrip('fp16', src);
    for (let i = 0; i < src.length; i++) {
      expect(Math.abs(out[i]! - src[i]!)).toBeLessThanOrEqual(errorBound('fp16', Math.abs(src[i]!)));
    }
  });
});

describe('int8 block-scaled', () => {
  it('payload is one f32 scale per block of 256 values plus one byte per value', () => {
    expect(encodedBytes('int8', 0)).toBe(0);
    expect(encodedBytes('int8', 1)).toBe(5);
    expect(encodedBytes('int8', INT8_BLOCK)).toBe(INT8_BLOCK + 4);
    expect(encodedBytes('int8', INT8_BLOCK + 1)).toBe(INT8_BLOCK + 1 + 8);
  });

  it('round-trip error is at most half a step (max|x| / 254) of each block, partial last block too', () => {
    for (const n of [1, 255, 256, 257, 1000, 4099]) {
      const src = gradientLike(n, n);
      // blocks of very different magnitude
      for (let i = 0; i < n; i++) src[i] = src[i]! * 10 ** ((Math.floor(i / INT8_BLOCK) % 5) - 2);
      const { out } = roundTrip('int8', src);
      for (let b = 0; b * INT8_BLOCK < n; b++) {
        const lo = b * INT8_BLOCK;
        const hi = Math.min(n, lo + INT8_BLOCK);
        let max = 0;
        for (let i = lo; i < hi; i++) max = Math.max(max, Math.abs(src[i]!));
        for (let i = lo; i < hi; i++) expect(Math.abs(out[i]! - src[i]!)).toBeLessThanOrEqual(errorBound('int8', max));
      }
    }
  });

  it('a block of zeros stays zero; the block maximum is exact', () => {
    const src = new Float32Array(600);
    src[300] = -3.75;
    src[301] = 1;
    const { out } = roundTrip('int8', src);
    expect(Array.from(out.subarray(0, 256)).every((v) => v === 0)).toBe(true);
    expect(out[300]).toBe(-3.75);
  });

  it('NaN or an infinite scale makes decode report non-finite values', () => {
    const src = Float32Array.of(1, NaN, 2);
    const bytes = new Uint8Array(encodedBytes('int8', 3));
    encodeInto('int8', src, bytes);
    expect(decodeInto('int8', bytes, new Float32Array(3), 'set')).toBe(false);
    new DataView(bytes.buffer).setFloat32(0, Infinity, true);
    expect(decodeInto('int8', bytes, new Float32Array(3), 'set')).toBe(false);
  });
});

describe('every codec', () => {
  for (const c of CODECS) {
    it(`${c}: decode(encode(x)) equals the decoded values the encoder reports, bit for bit`, () => {
      const src = gradientLike(3000, 7);
      const { out, decoded } = roundTrip(c, src);
      expect(new Uint32Array(out.buffer)).toEqual(new Uint32Array(decoded.buffer));
    });

    it(`${c}: add mode adds the decoded values`, () => {
      const src = gradientLike(513, 3);
      const { bytes, decoded } = roundTrip(c, src);
      const acc = Float32Array.from({ length: 513 }, (_, i) => i);
      expect(decodeInto(c, bytes, acc, 'add')).toBe(true);
      for (let i = 0; i < 513; i++) expect(acc[i]).toBe(Math.fround(i + decoded[i]!));
    });

    it(`${c}: error feedback delivers what it could not send in later steps`, () => {
      const n = 1000;
      const fb = new ErrorFeedback();
      const sent = new Float64Array(n);
      const want = new Float64Array(n);
      const steps = 50;
      for (let s = 0; s < steps; s++) {
        const g = gradientLike(n, 100 + s);
        for (let i = 0; i < n; i++) want[i]! += g[i]!;
        const { decoded } = roundTrip(c, g, fb.residual(n));
        for (let i = 0; i < n; i++) sent[i]! += decoded[i]!;
      }
      const r = fb.residual(n);
      // what was sent plus what is still owed is what should have been sent (to f32 rounding)
      let worstLeft = 0;
      for (let i = 0; i < n; i++) {
        expect(Math.abs(sent[i]! + r[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * steps * Math.max(1, Math.abs(want[i]!)));
        worstLeft = Math.max(worstLeft, Math.abs(r[i]!));
      }
      // and the debt stays bounded by one step's quantization error, it does not accumulate
      expect(worstLeft).toBeLessThanOrEqual(c === 'int8' ? 10 / 127 : c === 'fp16' ? 10 * 2 ** -11 : 0);
    });
  }

  it('rejects a payload of the wrong size and a misaligned one with coded errors', () => {
    expect(() => encodeInto('fp16', new Float32Array(4), new Uint8Array(7))).toThrow(FrameError);
    expect(() => decodeInto('int8', new Uint8Array(3), new Float32Array(4), 'set')).toThrow(/FRAME_BAD_LENGTH/);
    const host = new Uint8Array(9);
    expect(() => decodeInto('fp16', host.subarray(1, 9), new Float32Array(4), 'set')).toThrow(/aligned/);
    expect(() => codecOf(7)).toThrow(/FRAME_BAD_ENCODING/);
  });

  it("'add' reports a sum past float32's range as not finite (each sum checked as stored, not as a double)", () => {
    // (fp16's largest value, 65504, cannot carry a float32 past its range)
    for (const c of ['fp32', 'int8'] as const) {
      const big = Float32Array.of(3e38, 1);
      const bytes = new Uint8Array(encodedBytes(c, 2));
      encodeInto(c, big, bytes, null);
      const out = Float32Array.of(3.4e38, 1);
      expect(decodeInto(c, bytes, out, 'add'), c).toBe(false);
    }
    // int8 'set': a finite scale (3.3e38 / 127 per step) times 127 rounds past float32's range as stored
    const int8 = new Uint8Array(encodedBytes('int8', 1));
    new DataView(int8.buffer).setFloat32(0, 3.4028232e38 / 127 * 1.0000001, true);
    int8[4] = 127;
    expect(decodeInto('int8', int8, new Float32Array(1), 'set')).toBe(false);
    const payload = new Uint8Array(Float32Array.of(3e38).buffer);
    expect(reduceChunk('fp32', payload, Float32Array.of(3e38), false, new Float32Array(1), null)).toBe(false);
  });
});
