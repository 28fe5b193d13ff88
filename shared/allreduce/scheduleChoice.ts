/**
 * Which all-reduce a ring of workers runs for its gradient vector: the ring, or — for small
 * vectors, where the ring's 2(N−1) sequential rounds cost more than its bandwidth saves —
 * recursive halving/doubling (schedule.ts, latencyAllReduce.ts).
 *
 * Every member computes the same answer from the same inputs (the job's vector size and
 * encoding, the epoch's ring), so no agreement round is needed.
 *
 * A latency schedule is used only where its partners are ring neighbours: N = 3 (everyone is
 * a neighbour) and N = 4, where ring position i runs halving/doubling as rank i XOR (i >> 1)
 * (a Gray code: ring neighbours differ in one bit, i.e. are hypercube partners). So every
 * frame still comes over a ring link, and a neighbour's report about a link or a frame names
 * a ring neighbour, as the coordinator's message policy demands. Larger rings would need
 * links (and accusations) beyond the neighbours: they keep the ring.
 *
 * Only for exact fp32 frames: the lossy encodings (fp16, int8) with error feedback are the
 * ring's (latencyAllReduce.ts is fp32 only).
 */
import type { CodecName } from '../codec.ts';
import { peersNeeded, type ScheduleKind } from './schedule.ts';

/**
 * Below this many bytes a ring of 3 or 4 runs halving/doubling. Measured on loopback with
 * node-datachannel peers (median of the slowest rank, 7 runs; bench/results/smallvec.json):
 *   node server/bin/tabswarm.js bench smallvec
 * halving/doubling was faster at 4–64 KiB for N = 3..6 (e.g. N=4 16 KiB: 11.7 vs 15.4 ms,
 * 64 KiB: 15.1 vs 18.4 ms), the ring as fast or faster from 256 KiB on (N=4 256 KiB: 43.4 vs
 * 48.3 ms), where it also pipelines, overlaps compute (InputGate) and paces.
 */
export const LATENCY_SCHEDULE_MAX_BYTES = 128 * 1024;

export interface WorkerSchedule {
  kind: ScheduleKind;
  /** the schedule rank of ring position i (the identity for the ring) */
  rankAt: number[];
}

export function workerSchedule(bytes: number, n: number, encoding: CodecName = 'fp32'): WorkerSchedule {
  const identity = Array.from({ length: n }, (_, i) => i);
  if (encoding !== 'fp32' || bytes >= LATENCY_SCHEDULE_MAX_BYTES || (n !== 3 && n !== 4)) return { kind: 'ring', rankAt: identity };
  return { kind: 'halving-doubling', rankAt: n === 4 ? identity.map((i) => i ^ (i >> 1)) : identity };
}

/** The ring positions a position exchanges data with under `s` (for tests and the links it needs). */
export function partnersAt(s: WorkerSchedule, position: number): number[] {
  const n = s.rankAt.length;
  const posOf = new Map(s.rankAt.map((r, i) => [r, i]));
  return peersNeeded(s.kind, s.rankAt[position]!, n).map((r) => posOf.get(r)!).sort((a, b) => a - b);
}
