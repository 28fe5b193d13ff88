/** Options of LatencyAllReduce (kept apart so latencyAllReduce.ts stays about running a plan). */
import type { Link } from './link.ts';
import type { LatencyAlgorithm } from './schedule.ts';

export interface LatencyAllReduceOptions {
  jobTag: number;
  epoch: number;
  rank: number;
  size: number;
  algorithm: LatencyAlgorithm;
  /** links[r] = the link to rank r (null for this rank and ranks the plan never talks to) */
  links: readonly (Link | null)[];
  /** values per frame (default and cap: what fits MAX_FRAME_BYTES) */
  chunkElems?: number;
  /** false: frames always travel dense (benchmarks; receivers take both forms) */
  maskZeros?: boolean;
  /**
   * Cut the vector into lanes of at most this many values, each all-reduced by its own copy
   * of the plan, side by side (default: one lane). A chain ('arc-tree') then pipelines: a rank
   * passes a lane's partial sum on while the next lane is still on its way. The summation
   * order of every element is still the plan's.
   */
  pipelineElems?: number;
  highWaterBytes?: number;
  lowWaterBytes?: number;
  /** frames of future steps kept before the step starts */
  maxEarlyBytes?: number;
  /**
   * Checks a partial sum right after this rank added a partner's values into
   * [offset, offset+values.length) ('add' rounds), a finished sum a partner hands out ('set'
   * rounds: every rank), or one rank's whole vector ('gather', 'fold'); `ranks` are the ranks
   * whose contributions `values` holds. A message
   * rejects the step with FRAME_OUT_OF_BOUNDS and blames the partner whose values came in
   * (the same check the ring makes on what its predecessor forwards).
   */
  checkSum?: (ranks: readonly number[], offset: number, values: Float32Array) => string | null;
  /** frames of a later epoch (any phase): their sender already runs the next epoch; the owner replays them there */
  onFutureEpochFrame?: (from: number, bytes: Uint8Array) => void;
  /** frames carried over from the previous epoch's onFutureEpochFrame, by sender rank in this epoch */
  carriedFrames?: { from: number; bytes: Uint8Array }[];
  /** the first step this instance will run (frames for it may arrive before allReduce is called) */
  firstStep?: number;
}
