/** Options and figures of RingAllReduce (kept apart so ring.ts stays about the algorithm). */
import type { CodecName, ErrorFeedback } from '../codec.ts';
import type { ErrorCode } from '../errors.ts';
import type { Link } from './link.ts';

export interface RingOptions {
  jobTag: number;
  epoch: number;
  rank: number;
  size: number;
  /** null only when size is 1 */
  prev: Link | null;
  next: Link | null;
  /** values per frame; capped so that a fp32 frame fits MAX_FRAME_BYTES */
  chunkElems: number;
  /** false: the frames this rank encodes are dense (benchmarks; receivers take both forms, so ranks may differ; a forwarded all-gather frame keeps its form) */
  maskZeros?: boolean;
  /** pause sending while the next link buffers more than this many bytes */
  highWaterBytes?: number;
  /** resume once it has drained to this many (default: half of highWaterBytes) */
  lowWaterBytes?: number;
  /**
   * pace what this rank sends to its next rank at this many bytes per second (a bit under its
   * uplink's rate; see PacedLink); unset: as fast as the link takes it
   */
  paceBytesPerSec?: number;
  /**
   * without a stated rate: send unpaced until the next rank reports a standing queue (one-way
   * delay of this rank's stamped frames), then pace under what got through
   * (uplinkEstimator.ts, delayReport.ts); `paceBytesPerSec` overrides it
   */
  autoPace?: boolean;
  /** send order: frames to forward before this rank's own first-round chunks (default), or arrival order */
  schedule?: 'fifo' | 'forward-first';
  /** frame encoding (default fp32, exact) */
  encoding?: CodecName;
  /** with a lossy encoding, the last K elements still travel as fp32 (sample counts and loss sums) */
  exactTail?: number;
  /** residuals of a lossy encoding; keep one per worker to carry them across epochs */
  errorFeedback?: ErrorFeedback;
  /** frames of future steps kept before the step starts */
  maxEarlyBytes?: number;
  /** told about every rejected frame (stale ones too) */
  onRejectedFrame?: (code: ErrorCode, message: string) => void;
  /**
   * Checks a partial sum (elements [offset, offset+values.length) of the vector) right after
   * this rank added its own contribution in reduce-scatter round `round` (so it holds round+2
   * ranks' contributions); a message rejects the frame and
   * blames the previous rank, the one that added the last foreign contribution.
   */
  checkPartialSum?: (round: number, offset: number, values: Float32Array) => string | null;
  /** the first step this ring will run (frames for it may arrive before allReduce is called) */
  firstStep?: number;
  /** frames of a later epoch: a neighbour already runs the next ring; its owner replays them there */
  onFutureEpochFrame?: (bytes: Uint8Array) => void;
  /** frames carried over from the previous ring's onFutureEpochFrame */
  carriedFrames?: Uint8Array[];
}

export interface RingStats {
  ms: number;
  bytesSent: number;
  /** what the frames sent would have been had every exact chunk travelled dense (bytesSent ≤ this; zeroMask.ts) */
  bytesDense: number;
  framesSent: number;
  bytesReceived: number;
  /** time the sender waited for the next link to drain */
  stallMs: number;
}
