/**
 * Slices that follow the shards a member already holds. The batch is first cut as planSlices
 * cuts it (sizes in proportion to speed, whole ghost-batch units), then:
 *   1. members are ordered along the batch by where the shards they hold lie in it (the
 *      centre of those positions; a member holding none keeps its last place);
 *   2. the cuts are placed (placeCuts) to make members fetch as few shards as they can — a
 *      cut on a shard-run boundary, a member on the runs of shards it holds — while no
 *      member computes more than (1 + CUT_SLACK) × its proportional share.
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

/**
 * How much longer than its proportional share a member's slice may be (0.25: at most 1.25×
 * its share, so a step's predicted time grows by at most a quarter) to keep a cut on a shard
 * boundary or a member on the shards it holds.
 */
export const CUT_SLACK = 1 / 3;

export function planSlicesNear(batchSize: number, members: readonly AffinityMember[], runs: readonly ShardRun[], o: { granularity?: number; slack?: number } = {}): Slice[] {
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
  // 2. place the cuts: fewest shards fetched, within the step-time slack
  const cuts = placeCuts(batchSize, ordered.map((m) => ({ count: count.get(m.peerId)!, held: m.held })), runs, g, o.slack ?? CUT_SLACK);
  const out: Slice[] = ordered.map((m, i) => ({ peerId: m.peerId, start: cuts[i]!, count: cuts[i + 1]! - cuts[i]! }));
  for (const m of idle) out.push({ peerId: m.peerId, start: batchSize, count: 0 });
  return out;
}

/** members × candidate positions above which placeCuts keeps the proportional cuts */
export const PLACE_CUTS_BUDGET = 400_000;

interface CutMember {
  /** its proportional share (planSlices' count) */
  count: number;
  held: ReadonlySet<number>;
}

/**
 * The cuts [0, c1, …, B] for members in this order: each slice non-empty and at most
 * (1 + slack) × the member's share, chosen to minimise (a) the shards members must fetch (a
 * shard a slice touches that its member does not hold; a cut inside a run makes both sides
 * touch it), then (b) the distance of the cuts from the proportional ones. Cuts lie on run
 * starts (rounded to the granularity) or on the proportional cuts, which are always feasible.
 * A dynamic programme over (member, cut position): O(members × positions × reach).
 */
export function placeCuts(batchSize: number, ms: readonly CutMember[], runs: readonly ShardRun[], g: number, slack: number): number[] {
  const base = [0];
  for (const m of ms) base.push(base.at(-1)! + m.count);
  const pos = [...new Set([...base, ...runs.map((r) => Math.min(batchSize, Math.round(r.start / g) * g))])].sort((a, b) => a - b);
  const C = pos.length;
  const M = ms.length;
  // a swarm of thousands on one batch: the programme's cost (~20 ms at 512 members) is not worth it
  if (M * C > PLACE_CUTS_BUDGET) return base;
  // (fetches, drift) folded into one number: a fetch outweighs any drift
  const BIG = 4 * batchSize * (M + 1);
  let f = new Float64Array(C).fill(Infinity);
  f[0] = 0;
  const back: Int32Array[] = [];
  for (let k = 0; k < M; k++) {
    const m = ms[k]!;
    const cap = Math.max(m.count, Math.floor((1 + slack) * m.count));
    const next = new Float64Array(C).fill(Infinity);
    const from = new Int32Array(C).fill(-1);
    for (let i = 0; i < C; i++) {
      if (f[i] === Infinity) continue;
      // walk the slice's end rightwards, counting the unheld shards it touches
      const unheld = new Set<number>();
      // the first run that ends after pos[i] (runs are in position order)
      let lo = 0;
      for (let hi = runs.length; lo < hi;) {
        const mid = (lo + hi) >> 1;
        if (runs[mid]!.start + runs[mid]!.count <= pos[i]!) lo = mid + 1;
        else hi = mid;
      }
      let r = lo;
      for (let j = i + 1; j < C && pos[j]! - pos[i]! <= cap; j++) {
        for (; r < runs.length && runs[r]!.start < pos[j]!; r++) {
          const run = runs[r]!;
          if (run.start + run.count > pos[i]! && !m.held.has(run.shard)) unheld.add(run.shard);
        }
        if (k === M - 1 && j !== C - 1) continue;
        const cost = f[i]! + unheld.size * BIG + Math.abs(pos[j]! - base[k + 1]!);
        if (cost < next[j]!) {
          next[j] = cost;
          from[j] = i;
        }
      }
    }
    back.push(from);
    f = next;
  }
  if (!(f[C - 1]! < Infinity)) return base;
  const cuts = [batchSize];
  for (let k = M - 1, j = C - 1; k >= 0; k--) {
    j = back[k]![j]!;
    cuts.unshift(pos[j]!);
  }
  return cuts;
}
