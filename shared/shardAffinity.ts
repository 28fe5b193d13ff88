/**
 * Slices that follow the shards a member already holds. The batch is cut exactly as
 * planSlices cuts it (sizes in proportion to speed, whole ghost-batch units), then:
 *   1. members are ordered along the batch greedily: each next range goes to the member,
 *      among those left, that holds the most of its samples' shards (ties: the given order);
 *   2. each cut between two slices moves to the nearest shard-run boundary (rounded to a
 *      ghost-batch unit) when that is within a quarter of the smaller neighbour's share.
 * Positions never move: a sample keeps its place in the global batch (its dropout mask, its
 * ghost batch); only who computes which contiguous range changes — which the ring's sum is
 * indifferent to up to float rounding, as for any change of speeds or members.
 */
import { planSlices, type Slice } from './batchPlan.ts';
import type { ShardRun } from './shardPlan.ts';

export interface AffinityMember {
  peerId: string;
  weight: number;
  /** shard indices the member holds (as the coordinator believes it) */
  held: ReadonlySet<number>;
}

function overlapHeld(runs: readonly ShardRun[], held: ReadonlySet<number>, start: number, end: number): number {
  let n = 0;
  for (const r of runs) {
    const a = Math.max(start, r.start);
    const b = Math.min(end, r.start + r.count);
    if (b > a && held.has(r.shard)) n += b - a;
  }
  return n;
}

export function planSlicesNear(batchSize: number, members: readonly AffinityMember[], runs: readonly ShardRun[], o: { granularity?: number } = {}): Slice[] {
  const base = planSlices(batchSize, members.map((m) => ({ peerId: m.peerId, weight: m.weight })), o);
  if (base.length <= 1 || runs.length <= 1) return base;
  const g = Math.max(1, Math.floor(o.granularity ?? 1));
  const count = new Map(base.map((s) => [s.peerId, s.count]));
  // 1. order along the batch
  const left = members.filter((m) => count.get(m.peerId)! > 0);
  const idle = members.filter((m) => count.get(m.peerId)! === 0);
  const ordered: AffinityMember[] = [];
  let pos = 0;
  while (left.length > 0) {
    let best = 0;
    let bestScore = -1;
    left.forEach((m, i) => {
      const score = overlapHeld(runs, m.held, pos, pos + count.get(m.peerId)!);
      if (score > bestScore) [best, bestScore] = [i, score];
    });
    const m = left.splice(best, 1)[0]!;
    ordered.push(m);
    pos += count.get(m.peerId)!;
  }
  // 2. snap the cuts to shard-run boundaries
  const bounds = [...new Set(runs.map((r) => Math.min(batchSize, Math.round(r.start / g) * g)))].sort((a, b) => a - b);
  const cuts = [0];
  for (const m of ordered) cuts.push(cuts.at(-1)! + count.get(m.peerId)!);
  for (let i = 1; i < cuts.length - 1; i++) {
    const c = cuts[i]!;
    const tol = Math.floor(Math.min(cuts[i]! - cuts[i - 1]!, cuts[i + 1]! - cuts[i]!) / 4);
    const near = bounds.reduce((best, b) => (Math.abs(b - c) < Math.abs(best - c) ? b : best), bounds[0]!);
    // keep every slice non-empty and the cuts in order
    if (Math.abs(near - c) <= tol && near > cuts[i - 1]! && near < cuts[i + 1]!) cuts[i] = near;
  }
  const out: Slice[] = ordered.map((m, i) => ({ peerId: m.peerId, start: cuts[i]!, count: cuts[i + 1]! - cuts[i]! }));
  for (const m of idle) out.push({ peerId: m.peerId, start: batchSize, count: 0 });
  return out;
}
