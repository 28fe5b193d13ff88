/**
 * Binary frame of the ring all-reduce: a 32-byte little-endian header, then the payload.
 * Every field a receiver needs to reject a stale, misrouted or malformed frame is here.
 *
 *  0 u16 magic 'TW'   2 u8 version   3 u8 phase   4 u32 job tag   8 u32 epoch   12 u32 step
 * 16 u16 round       18 u16 segment 20 u32 chunk 24 u8 encoding  25 u8 flags   26 u16 send stamp
 * 28 u32 element count
 * flags bit 0: the send stamp is set (automatic pacing's one-way delay, see delayReport.ts).
 * encoding: codec.ts's CODEC_ID (fp32 0, fp16 1, int8 2), or 3: an exact fp32 chunk with its
 * +0.0 values left out (zeroMask.ts), whose payload size its mask gives.
 */
import { CODEC_ID, codecOf, encodedBytes, type CodecName } from '../codec.ts';
import { FrameError } from '../errors.ts';
import { clearStamp } from './delayReport.ts';
import { MASKED_ENCODING, maskedPayloadBytes } from './zeroMask.ts';

export const FRAME_MAGIC = 0x5754;
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 32;
export const MAX_FRAME_BYTES = 262144;

export const Phase = { ReduceScatter: 1, AllGather: 2 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];
export const Encoding = CODEC_ID;
export type EncodingName = CodecName;

export interface FrameHeader {
  phase: Phase;
  jobTag: number;
  epoch: number;
  step: number;
  round: number;
  segment: number;
  chunk: number;
  encoding: number;
  count: number;
}

export function payloadBytes(encoding: number, count: number): number {
  return encodedBytes(codecOf(encoding), count);
}

/** Writes a whole header at the start of `bytes` (in place: pooled or received buffers). */
export function writeHeader(bytes: Uint8Array, h: FrameHeader): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  dv.setUint16(0, FRAME_MAGIC, true);
  dv.setUint8(2, FRAME_VERSION);
  dv.setUint8(3, h.phase);
  dv.setUint32(4, h.jobTag, true);
  dv.setUint32(8, h.epoch, true);
  dv.setUint32(12, h.step, true);
  dv.setUint16(16, h.round, true);
  dv.setUint16(18, h.segment, true);
  dv.setUint32(20, h.chunk, true);
  dv.setUint8(24, h.encoding);
  dv.setUint8(25, 0);
  dv.setUint16(26, 0, true);
  dv.setUint32(28, h.count, true);
}

/** The size `frame` (header checked by its sender) would have had dense: masked frames count 4 bytes a value. */
export function denseFrameBytes(frame: Uint8Array): number {
  if (frame[24] !== MASKED_ENCODING) return frame.byteLength;
  return HEADER_BYTES + 4 * new DataView(frame.buffer, frame.byteOffset + 28, 4).getUint32(0, true);
}

/** Re-addresses a received frame for forwarding: only its phase and round change (and its sender's send stamp goes). */
export function retarget(bytes: Uint8Array, phase: Phase, round: number): void {
  clearStamp(bytes);
  bytes[3] = phase;
  bytes[16] = round & 0xff;
  bytes[17] = round >>> 8;
}

/** Writes a whole fp32 frame into a fresh buffer (header + a copy of `values`). */
export function encodeFrame(h: Omit<FrameHeader, 'count' | 'encoding'>, values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + values.length * 4);
  writeHeader(bytes, { ...h, encoding: Encoding.fp32, count: values.length });
  new Float32Array(bytes.buffer, HEADER_BYTES, values.length).set(values);
  return bytes;
}

/** Parses and checks the header's own consistency (not whether it is expected now). */
export function decodeHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.byteLength < HEADER_BYTES) throw new FrameError('FRAME_TOO_SHORT', `frame of ${bytes.byteLength} bytes`);
  if (bytes.byteLength > MAX_FRAME_BYTES) throw new FrameError('FRAME_BAD_LENGTH', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0, true) !== FRAME_MAGIC) throw new FrameError('FRAME_BAD_MAGIC', 'not a tabswarm frame');
  const version = dv.getUint8(2);
  if (version !== FRAME_VERSION) throw new FrameError('FRAME_BAD_VERSION', `frame version ${version}`);
  const phase = dv.getUint8(3);
  if (phase !== Phase.ReduceScatter && phase !== Phase.AllGather) throw new FrameError('FRAME_BAD_PHASE', `phase ${phase}`);
  const encoding = dv.getUint8(24);
  const count = dv.getUint32(28, true);
  // a masked exact frame's size is in its mask (zeroMask.ts): read only once the mask's own size fits the frame
  const want = HEADER_BYTES + (encoding === MASKED_ENCODING ? maskedPayloadBytes(bytes.subarray(HEADER_BYTES), count) : payloadBytes(encoding, count));
  if (bytes.byteLength !== want) throw new FrameError('FRAME_BAD_LENGTH', `frame has ${bytes.byteLength} bytes, header says ${want}`);
  return { phase: phase as Phase, ...headerAddress(dv), encoding, count };
}

/** Where a frame belongs (job, epoch, step, round, segment, chunk): the header fields every phase shares. */
export function headerAddress(dv: DataView) {
  return {
    jobTag: dv.getUint32(4, true),
    epoch: dv.getUint32(8, true),
    step: dv.getUint32(12, true),
    round: dv.getUint16(16, true),
    segment: dv.getUint16(18, true),
    chunk: dv.getUint32(20, true),
  };
}

/** The payload as float32 values (copied only when the buffer is misaligned). */
export function framePayload(bytes: Uint8Array, h: FrameHeader): Float32Array {
  const off = bytes.byteOffset + HEADER_BYTES;
  if (off % 4 === 0) return new Float32Array(bytes.buffer, off, h.count);
  return new Float32Array(bytes.slice(HEADER_BYTES, HEADER_BYTES + h.count * 4).buffer);
}
