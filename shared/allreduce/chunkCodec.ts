/**
 * The ring's per-chunk work, in place and without allocation: encode a first-round chunk
 * into a pooled frame buffer, or add this rank's values into a received frame's payload
 * and re-encode it there for forwarding.
 */
import { CODEC_ID, decodeInto, encodeInto, encodedBytes, type CodecName } from '../codec.ts';
import { HEADER_BYTES, writeHeader, type FrameHeader } from './frame.ts';
import { decodeMasked, encodeMasked, MASKED_ENCODING, maskedBytes, maskedIsSmaller, nonZeroCount } from './zeroMask.ts';

/**
 * An exact (fp32) chunk as a frame at the start of `pool`, or in a fresh buffer without one:
 * masked when that is smaller (zeroMask.ts) and `mask` is not false, dense otherwise;
 * `header.encoding` is set to match. `nonZero`: nonZeroCount(src), when the caller has it.
 */
export function encodeExactChunk(pool: Uint8Array | null, header: Omit<FrameHeader, 'encoding'>, src: Float32Array, o: { mask?: boolean; nonZero?: number } = {}): Uint8Array {
  const mayMask = o.mask !== false;
  const nonZero = mayMask ? (o.nonZero ?? nonZeroCount(src)) : src.length;
  const masked = mayMask && maskedIsSmaller(src.length, nonZero);
  const bytes = HEADER_BYTES + (masked ? maskedBytes(src.length, nonZero) : 4 * src.length);
  const frame = pool ? pool.subarray(0, bytes) : new Uint8Array(bytes);
  writeHeader(frame, { ...header, encoding: masked ? MASKED_ENCODING : CODEC_ID.fp32, count: src.length });
  if (masked) encodeMasked(src, frame.subarray(HEADER_BYTES));
  else new Uint32Array(frame.buffer, frame.byteOffset + HEADER_BYTES, src.length).set(new Uint32Array(src.buffer, src.byteOffset, src.length));
  return frame;
}

/** Writes header + encoded `src` (plus `residual`, updated) at the start of `pool`; returns the frame. */
export function encodeChunk(pool: Uint8Array, header: FrameHeader, codec: CodecName, src: Float32Array, residual: Float32Array | null): Uint8Array {
  const frame = pool.subarray(0, HEADER_BYTES + encodedBytes(codec, src.length));
  writeHeader(frame, header);
  encodeInto(codec, src, frame.subarray(HEADER_BYTES), residual);
  return frame;
}

/**
 * payload ← encode(decode(payload) + mine), in place (4-byte aligned payload). On the last
 * reduce-scatter round the caller owns the segment: `mine` then receives exactly the values
 * every other rank will decode from this payload. `scratch` holds at least mine.length
 * values. Returns false when a sum is not finite.
 */
export function reduceChunk(codec: CodecName, payload: Uint8Array, mine: Float32Array, last: boolean, scratch: Float32Array, residual: Float32Array | null): boolean {
  const len = mine.length;
  if (codec === 'fp32') {
    const vals = new Float32Array(payload.buffer, payload.byteOffset, len);
    let finite = true;
    for (let i = 0; i < len; i++) {
      const s = Math.fround(vals[i]! + mine[i]!); // rounded as stored: a sum past float32's range is caught
      vals[i] = s;
      if (s - s !== 0) finite = false;
    }
    if (last) mine.set(vals);
    return finite;
  }
  const sum = scratch.subarray(0, len);
  sum.set(mine);
  if (!decodeInto(codec, payload, sum, 'add')) return false;
  encodeInto(codec, sum, payload, residual, last ? mine : null);
  return true;
}

/**
 * scratch ← mine + decode(masked payload) (the values left out added as +0.0, as a dense frame's
 * would be); on the last reduce-scatter round `mine` receives the sum too. Returns false when a
 * sum is not finite. The sum is then sent on from `scratch` in a fresh frame.
 */
export function reduceMaskedChunk(payload: Uint8Array, mine: Float32Array, last: boolean, scratch: Float32Array): boolean {
  const sum = scratch.subarray(0, mine.length);
  sum.set(mine);
  if (!decodeMasked(payload, sum, 'add')) return false;
  if (last) mine.set(sum);
  return true;
}
