/**
 * Which all-reduce a ring of workers runs for its gradient vector: the ring, or — for small
 * vectors, where the ring's 2(N−1) sequential hops cost more than its bandwidth saves —
 * 'arc-tree' (arcSchedules.ts): reduce to position 0 along both arcs of the ring and
 * broadcast back, 2⌈(N−1)/2⌉ hops, pipelined in lanes of one frame (LatencyAllReduce).
 *
 * Every member computes the same answer from the same inputs (the job's vector size and
 * encoding, the epoch's ring), so no agreement round is needed.
 *
 * 'arc-tree' sends only over the two ring-neighbour links every member already has: every
 * frame comes from a ring neighbour, and a report about a link or a frame names a ring
 * neighbour, as the coordinator's message policy demands — no new links, signals or
 * accusations. (Halving/doubling needs hypercube partners, ring neighbours only for N ≤ 4.)
 *
 * Only for exact fp32 frames: the lossy encodings (fp16, int8) with error feedback are the
 * ring's (latencyAllReduce.ts is fp32 only); so is pacing, which matters for large vectors.
 */
import type { CodecName } from '../codec.ts';
import { peersNeeded, type ScheduleKind } from './schedule.ts';

/**
 * Up to this many bytes, rings of 3..9 members run 'arc-tree'. Measured on loopback with
 * node-datachannel peers, one process per rank on 2 shared cores, in two runs (load average
 * 12–28; the slowest rank of each all-reduce, 8 per run, interleaved with the other
 * schedules; bench/results/smallvec.json and smallvec-run1.json):
 *   node server/bin/tabswarm.js bench smallvec   (inside `unshare -n`, loopback only)
 * Pooling both runs, arc-tree beat the ring at every size from 4 to 128 KiB for N = 3..9 but
 * one (N=6, 128 KiB), e.g. N=5 64 KiB 18.7 vs 38.5 ms, N=8 4 KiB 17.2 vs 57.6 ms; at 256 KiB
 * the two are level (arc-tree faster for N = 3, 6, 7, 8, slower for 4, 5, 9); at 1 MiB the
 * ring won for N = 3, 4, 5, 8, 9. Halving/doubling was slower than arc-tree in most cells.
 * Above this size the ring keeps what only it has: pacing and the lossy encodings.
 */
export const ARC_TREE_MAX_BYTES = 256 * 1024;
/**
 * What workers use by default: arc-tree up to ARC_TREE_MAX_BYTES (a page's `?latency=ring`: 0,
 * the ring for every vector). It was opt-in for a stop while two e2e failures seen with it were
 * open; one was the reference's kernels, not the schedule (server/reference.ts `backend`).
 */
export const LATENCY_SCHEDULE_MAX_BYTES = ARC_TREE_MAX_BYTES;
/** the ring sizes measured; N = 2 gains nothing (the ring has 2 hops too), larger rings were not measured */
export const LATENCY_SCHEDULE_RINGS = { min: 3, max: 9 } as const;

export interface WorkerSchedule {
  kind: ScheduleKind;
  /** the schedule rank of ring position i (the identity for the schedules chosen here) */
  rankAt: number[];
}

export function workerSchedule(bytes: number, n: number, encoding: CodecName = 'fp32', maxBytes = LATENCY_SCHEDULE_MAX_BYTES): WorkerSchedule {
  const rankAt = Array.from({ length: n }, (_, i) => i);
  const small = encoding === 'fp32' && maxBytes > 0 && bytes <= maxBytes;
  return { kind: small && n >= LATENCY_SCHEDULE_RINGS.min && n <= LATENCY_SCHEDULE_RINGS.max ? 'arc-tree' : 'ring', rankAt };
}

/** The ring positions a position exchanges data with under `s` (for tests and the links it needs). */
export function partnersAt(s: WorkerSchedule, position: number): number[] {
  const n = s.rankAt.length;
  const posOf = new Map(s.rankAt.map((r, i) => [r, i]));
  return peersNeeded(s.kind, s.rankAt[position]!, n).map((r) => posOf.get(r)!).sort((a, b) => a - b);
}
