/**
 * Slices that follow the shards a member already holds. The batch is cut exactly as
 * planSlices cuts it (sizes in proportion to speed, whole ghost-batch units), then:
 *   1. members are ordered along the batch by where the shards they hold lie in it (the
 *      centre of those positions; a member holding none keeps its last place);
 *   2. each cut between two slices moves to the nearest shard-run boundary (rounded to a
 *      ghost-batch unit) when that is within a third of the smaller neighbour's share.
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
  /** the centre of its slice last step: where it goes when it holds none of this batch's shards */
  lastCentre?: number;
}

export function planSlicesNear(batchSize: number, members: readonly AffinityMember[], runs: readonly ShardRun[], o: { granularity?: number } = {}): Slice[] {
  const base = planSlices(batchSize, members.map((m) => ({ peerId: m.peerId, weight: m.weight })), o);
  if (base.length <= 1 || runs.length <= 1) return base;
  const g = Math.max(1, Math.floor(o.granularity ?? 1));
  const count = new Map(base.map((s) => [s.peerId, s.count]));
  // 1. order along the batch: by the centre of the positions a member holds shards of, or,
  //    holding none, of its slice last step (a new window of shards: each member stays where
  //    it was, which is what its prefetch assumed), else of the slice planSlices gave it —
  //    a key that moves little when speeds do, so members keep their shards step to step
  const key = (m: AffinityMember, i: number) => {
    let n = 0;
    let sum = 0;
    for (const r of runs) {
      if (!m.held.has(r.shard)) continue;
      n += r.count;
      sum += r.count * (r.start + r.count / 2);
    }
    const own = base[i]!;
    return n > 0 ? sum / n : (m.lastCentre ?? own.start + own.count / 2);
  };
  const ordered = members
    .map((m, i) => ({ m, i, k: key(m, i) }))
    .filter(({ m }) => count.get(m.peerId)! > 0)
    .sort((x, y) => x.k - y.k || x.i - y.i)
    .map(({ m }) => m);
  const idle = members.filter((m) => count.get(m.peerId)! === 0);
  // 2. snap the cuts to shard-run boundaries
  const bounds = [...new Set(runs.map((r) => Math.min(batchSize, Math.round(r.start / g) * g)))].sort((a, b) => a - b);
  const cuts = [0];
  for (const m of ordered) cuts.push(cuts.at(-1)! + count.get(m.peerId)!);
  for (let i = 1; i < cuts.length - 1; i++) {
    const c = cuts[i]!;
    const tol = Math.floor(Math.min(cuts[i]! - cuts[i - 1]!, cuts[i + 1]! - cuts[i]!) / 3);
    const near = bounds.reduce((best, b) => (Math.abs(b - c) < Math.abs(best - c) ? b : best), bounds[0]!);
    // keep every slice non-empty and the cuts in order
    if (Math.abs(near - c) <= tol && near > cuts[i - 1]! && near < cuts[i + 1]!) cuts[i] = near;
  }
  const out: Slice[] = ordered.map((m, i) => ({ peerId: m.peerId, start: cuts[i]!, count: cuts[i + 1]! - cuts[i]! }));
  for (const m of idle) out.push({ peerId: m.peerId, start: batchSize, count: 0 });
  return out;
}
