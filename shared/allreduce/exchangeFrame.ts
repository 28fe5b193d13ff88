/**
 * Frames of the latency schedules (latencyAllReduce.ts): frame.ts's 32-byte header with a phase
 * of their own, 3, which the ring's decodeHeader rejects (FRAME_BAD_PHASE): a ring never
 * mistakes these frames for its own. Fields: round = lane · (rounds per lane) + the plan's
 * round, segment = the sender's rank, chunk = the chunk of that round's transfer (frames of at
 * most MAX_FRAME_BYTES), encoding fp32, dense or masked (zeroMask.ts: +0.0 values left out).
 */
import { CODEC_ID } from '../codec.ts';
import { FrameError } from '../errors.ts';
import { MASKED_ENCODING, maskedPayloadBytes } from './zeroMask.ts';
import { FRAME_MAGIC, FRAME_VERSION, HEADER_BYTES, MAX_FRAME_BYTES, headerAddress, type FrameHeader } from './frame.ts';

/** The phase byte of latency-schedule frames (the ring uses 1 and 2). */
export const EXCHANGE_PHASE = 3;

/** Parses a latency-schedule frame's header (fp32 only), checking its own consistency. */
export function decodeExchangeHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.byteLength < HEADER_BYTES) throw new FrameError('FRAME_TOO_SHORT', `frame of ${bytes.byteLength} bytes`);
  if (bytes.byteLength > MAX_FRAME_BYTES) throw new FrameError('FRAME_BAD_LENGTH', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0, true) !== FRAME_MAGIC) throw new FrameError('FRAME_BAD_MAGIC', 'not a tabswarm frame');
  if (dv.getUint8(2) !== FRAME_VERSION) throw new FrameError('FRAME_BAD_VERSION', `frame version ${dv.getUint8(2)}`);
  if (dv.getUint8(3) !== EXCHANGE_PHASE) throw new FrameError('FRAME_BAD_PHASE', `phase ${dv.getUint8(3)}`);
  const encoding = dv.getUint8(24);
  if (encoding !== CODEC_ID.fp32 && encoding !== MASKED_ENCODING) throw new FrameError('FRAME_BAD_ENCODING', `encoding ${encoding}; latency schedules are exact fp32 only (dense or masked)`);
  const count = dv.getUint32(28, true);
  const want = HEADER_BYTES + (encoding === MASKED_ENCODING ? maskedPayloadBytes(bytes.subarray(HEADER_BYTES), count) : 4 * count);
  if (bytes.byteLength !== want) throw new FrameError('FRAME_BAD_LENGTH', `frame has ${bytes.byteLength} bytes, header says ${want}`);
  return { phase: EXCHANGE_PHASE as never, ...headerAddress(dv), encoding, count };
}
