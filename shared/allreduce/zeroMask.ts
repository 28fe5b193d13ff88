/**
 * The zero-eliding wire form of exact fp32 frames (frame encoding byte 3, "masked"): a bitmap
 * of the values whose bits are not +0.0, then those values' bits in index order. Lossless to
 * the bit: a receiver decodes exactly the words the sender had, so the exactness contract
 * (one summation order, the same bits on every rank) does not see which form a frame took.
 *
 * Why: the gradients of ReLU networks are full of exact zeros (an input that is 0 in every
 * sample of a slice, a unit that is off for all of them): the demo's MNIST MLP has 48 % in one
 * tab's gradient and 40 % in the sum of three. In Chromium every byte of a data channel costs
 * CPU (SCTP packets of ~1.2 kB, each through the network service), so bytes not sent are the
 * all-reduce's time saved. A sender picks the masked form only when it is smaller.
 *
 * Layout (little-endian, 4-byte aligned): ceil(n / 32) u32 mask words (bit i % 32 of word
 * i >> 5 set: value i is sent), then popcount × 32-bit words. Mask bits past n must be 0.
 * Values are moved as u32 bits, never through a float (a NaN's payload would not survive).
 */
import { FrameError } from '../errors.ts';

/** The frame header's encoding byte of a masked exact frame (codec.ts's fp32/fp16/int8 are 0..2). */
export const MASKED_ENCODING = 3;

export function maskWords(n: number): number {
  return Math.ceil(n / 32); // not (n + 31) >>> 5: a hostile count near 2^32 would wrap to a tiny mask
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function bitsOf(v: Float32Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length);
}

/** How many values of `src` are not +0.0 (bit pattern 0); −0.0 counts as a value. */
export function nonZeroCount(src: Float32Array): number {
  const u = bitsOf(src);
  let k = 0;
  for (let i = 0; i < u.length; i++) if (u[i] !== 0) k++;
  return k;
}

/** Payload bytes of `n` values of which `nonZero` are sent. */
export function maskedBytes(n: number, nonZero: number): number {
  return 4 * maskWords(n) + 4 * nonZero;
}

/** Whether the masked form of `n` values with `nonZero` not +0.0 is smaller than the dense one (4n bytes). */
export function maskedIsSmaller(n: number, nonZero: number): boolean {
  return maskedBytes(n, nonZero) < 4 * n;
}

/** Writes `src` masked at the start of `dst` (4-byte aligned, room for maskedBytes); returns the bytes written. */
export function encodeMasked(src: Float32Array, dst: Uint8Array): number {
  if ((dst.byteOffset & 3) !== 0) throw new RangeError('masked payload must be 4-byte aligned');
  const n = src.length;
  const words = maskWords(n);
  const u = bitsOf(src);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2);
  let k = words;
  for (let w = 0; w < words; w++) {
    let m = 0;
    const end = Math.min(n, (w + 1) << 5);
    for (let i = w << 5, b = 1; i < end; i++, b <<= 1) {
      const x = u[i]!;
      if (x !== 0) {
        m |= b;
        out[k++] = x;
      }
    }
    out[w] = m >>> 0;
  }
  return 4 * k;
}

/**
 * The payload bytes a masked frame of `n` values must have, read from its mask (which may sit
 * at any alignment in a received buffer); throws FRAME_BAD_LENGTH when `payload` cannot hold
 * the mask, or FRAME_BAD_ENCODING when a mask bit past `n` is set. Costs one pass over the
 * mask, which the caller has already bounded by the frame's size.
 */
export function maskedPayloadBytes(payload: Uint8Array, n: number): number {
  const words = maskWords(n);
  if (payload.byteLength < 4 * words) throw new FrameError('FRAME_BAD_LENGTH', `masked frame of ${n} values needs a ${4 * words}-byte mask, has ${payload.byteLength} bytes`);
  const dv = new DataView(payload.buffer, payload.byteOffset, 4 * words);
  let k = 0;
  for (let w = 0; w < words; w++) k += popcount(dv.getUint32(4 * w, true));
  const tail = n & 31;
  if (tail !== 0 && dv.getUint32(4 * (words - 1), true) >>> tail !== 0) throw new FrameError('FRAME_BAD_ENCODING', `masked frame of ${n} values marks values past its end`);
  return 4 * words + 4 * k;
}

/**
 * Decodes a masked payload (4-byte aligned, its length checked by maskedPayloadBytes) into
 * `out` (n values): 'set' writes every value (+0.0 where none was sent); 'add' adds every
 * value, the unsent ones as +0.0 (so out = out + 0 turns −0.0 into +0.0, exactly as adding a
 * dense frame would). Returns false when a result is not finite.
 */
export function decodeMasked(payload: Uint8Array, out: Float32Array, mode: 'set' | 'add'): boolean {
  if ((payload.byteOffset & 3) !== 0) throw new RangeError('masked payload must be 4-byte aligned');
  const n = out.length;
  const words = maskWords(n);
  const mask = new Uint32Array(payload.buffer, payload.byteOffset, words);
  const vals = new Float32Array(payload.buffer, payload.byteOffset, payload.byteLength >>> 2);
  const valBits = new Uint32Array(payload.buffer, payload.byteOffset, payload.byteLength >>> 2);
  const outBits = bitsOf(out);
  let k = words;
  let finite = true;
  for (let w = 0; w < words; w++) {
    const m = mask[w]!;
    const end = Math.min(n, (w + 1) << 5);
    if (mode === 'set') {
      for (let i = w << 5, b = 1; i < end; i++, b <<= 1) {
        if (m & b) {
          const x = vals[k]!;
          if (x - x !== 0) finite = false;
          outBits[i] = valBits[k++]!;
        } else outBits[i] = 0;
      }
    } else {
      for (let i = w << 5, b = 1; i < end; i++, b <<= 1) {
        const s = Math.fround(out[i]! + (m & b ? vals[k++]! : 0)); // rounded as stored: an overflow to ±Infinity is caught
        out[i] = s;
        if (s - s !== 0) finite = false;
      }
    }
  }
  return finite;
}
