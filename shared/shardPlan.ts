/**
 * The shard-aware sample plan of a stored (sharded) dataset: which train samples global batch
 * `s` holds, and in which order, so that a batch touches few shards and a member's slice of it
 * fewer still. Like BatchPlan, it depends on the job alone (seed, batch size, the dataset's
 * shard layout) — never on who is in the swarm.
 *
 * Pass p (an epoch) walks every train sample exactly once:
 *   1. the shards are permuted (seed, p);
 *   2. consecutive shards of that order form windows of `lanes` shards (the last may be smaller);
 *   3. within a window, each shard's samples are shuffled (seed, p, shard) and the shards are
 *      interleaved round-robin, one sample each — tf.data's `interleave(cycle_length=lanes)`
 *      over per-shard shuffles, i.e. a shuffle buffer spanning the window's shards.
 * Global batch s is positions [s·B, (s+1)·B) of the endless walk (passes back to back), then
 * laid out *lane-major*: the batch's samples sorted by their shard's lane (its place in its
 * window), walk order within a lane. The batch's content is the walk's; only the order inside
 * it differs, and a mean gradient does not depend on order. Contiguous slices of the batch
 * (what the coordinator hands out) then cover a few lanes each, i.e. a few shards.
 */
import { isTestSample, testsIn } from './datasetShards.ts';
import { mixSeed, permutation } from './random.ts';

/** window width: shards read at once (interleaved) in a pass */
export const SHARD_LANES = 8;
const SHARD_SALT = 0x5eed5a4d;

/** What any sample plan answers: the train sample indices of a part of a global batch. */
export interface SamplePlan {
  readonly batchSize: number;
  indices(step: number, start?: number, count?: number): Uint32Array;
}

/** A run of consecutive batch positions whose samples all lie in one shard. */
export interface ShardRun {
  shard: number;
  start: number;
  count: number;
}

/**
 * Train samples per shard, in dataset order, for the first `limit` train samples (0: all). A
 * shard holding dataset samples [start, start + count) holds those that are not test samples
 * (`testFrom`: the metadata's split rule).
 */
export function trainCounts(shards: readonly { start: number; count: number }[], limit = 0, testFrom: number | null = null): number[] {
  let left = limit > 0 ? limit : Infinity;
  return shards.map(({ start, count }) => {
    const n = Math.min(left, count - testsIn(start, count, testFrom));
    left -= n;
    return n;
  });
}

/** Where train sample `k` lies: which shard, and which of the shard's samples (dataset order). */
export function locateTrain(shards: readonly { start: number; count: number }[], counts: readonly number[], k: number, testFrom: number | null = null): { shard: number; offset: number } {
  let base = 0;
  for (let s = 0; s < counts.length; s++) {
    if (k < base + counts[s]!) {
      // the (k - base)-th non-test sample of the shard
      const { start } = shards[s]!;
      let want = k - base;
      for (let j = 0; ; j++) if (!isTestSample(start + j, testFrom) && want-- === 0) return { shard: s, offset: j };
    }
    base += counts[s]!;
  }
  throw new RangeError(`train sample ${k} is outside the dataset`);
}

/**
 * Test samples per shard, in dataset order, for the first `limit` test samples (0: all): the
 * test split's counterpart of trainCounts (test sample k lies in the shard where the running
 * sum of these passes k).
 */
export function testCounts(shards: readonly { start: number; count: number }[], limit = 0, testFrom: number | null = null): number[] {
  let left = limit > 0 ? limit : Infinity;
  return shards.map(({ start, count }) => {
    const n = Math.min(left, testsIn(start, count, testFrom));
    left -= n;
    return n;
  });
}

/** The test split as runs of test-sample indices [start, start + count), one shard each (empty shards left out). */
export function testRuns(shards: readonly { start: number; count: number }[], limit = 0, testFrom: number | null = null): ShardRun[] {
  let at = 0;
  return testCounts(shards, limit, testFrom).flatMap((count, shard) => ((at += count), count > 0 ? [{ shard, start: at - count, count }] : []));
}

interface Pass {
  /** train sample per walk position */
  walk: Uint32Array;
  /** shard per walk position */
  shard: Uint32Array;
  /** lane (place in its window) per walk position */
  lane: Uint8Array;
}

export class ShardPlan implements SamplePlan {
  readonly size: number;
  private readonly starts: number[];
  private readonly passes = new Map<number, Pass>();
  private lastLayout: { step: number; idx: Uint32Array; shard: Uint32Array; lane: Uint8Array } | null = null;

  /** `counts`: train samples per shard, in dataset order (train indices are numbered shard after shard) */
  constructor(
    readonly counts: readonly number[],
    readonly batchSize: number,
    readonly seed: number,
    readonly lanes = SHARD_LANES,
  ) {
    this.size = counts.reduce((a, b) => a + b, 0);
    if (!(this.size > 0) || !(batchSize > 0) || !(lanes >= 1 && lanes <= 255)) throw new RangeError('ShardPlan needs samples, batchSize > 0 and 1..255 lanes');
    let at = 0;
    this.starts = counts.map((c) => ((at += c), at - c));
  }

  private pass(p: number): Pass {
    let out = this.passes.get(p);
    if (out) return out;
    const n = this.size;
    const walk = new Uint32Array(n);
    const shard = new Uint32Array(n);
    const lane = new Uint8Array(n);
    const passSeed = mixSeed(this.seed ^ SHARD_SALT, p);
    const live = this.counts.map((c, s) => (c > 0 ? s : -1)).filter((s) => s >= 0);
    const order = Array.from(permutation(live.length, passSeed), (i) => live[i]!);
    let w = 0;
    for (let first = 0; first < order.length; first += this.lanes) {
      const win = order.slice(first, first + this.lanes);
      const shuffled = win.map((s) => permutation(this.counts[s]!, mixSeed(passSeed, s + 1)));
      const longest = Math.max(...win.map((s) => this.counts[s]!));
      for (let r = 0; r < longest; r++) {
        for (let j = 0; j < win.length; j++) {
          const s = win[j]!;
          if (r >= this.counts[s]!) continue;
          walk[w] = this.starts[s]! + shuffled[j]![r]!;
          shard[w] = s;
          lane[w] = j;
          w++;
        }
      }
    }
    out = { walk, shard, lane };
    this.passes.set(p, out);
    // a batch straddles at most two passes; forget older ones
    for (const k of this.passes.keys()) if (k < p - 1 || k > p + 1) this.passes.delete(k);
    return out;
  }

  /** Global batch `step` in its lane-major layout: sample and shard per position. */
  layout(step: number): { idx: Uint32Array; shard: Uint32Array; lane: Uint8Array } {
    if (this.lastLayout?.step === step) return this.lastLayout;
    const B = this.batchSize;
    const items: { pos: number; lane: number; idx: number; shard: number }[] = [];
    for (let i = 0; i < B; i++) {
      const pos = step * B + i;
      const p = Math.floor(pos / this.size);
      const P = this.pass(p);
      const at = pos - p * this.size;
      items.push({ pos, lane: P.lane[at]!, idx: P.walk[at]!, shard: P.shard[at]! });
    }
    items.sort((a, b) => a.lane - b.lane || a.pos - b.pos);
    const out = { step, idx: Uint32Array.from(items, (t) => t.idx), shard: Uint32Array.from(items, (t) => t.shard), lane: Uint8Array.from(items, (t) => t.lane) };
    this.lastLayout = out;
    return out;
  }

  indices(step: number, start = 0, count = this.batchSize): Uint32Array {
    if (start < 0 || count < 0 || start + count > this.batchSize) throw new RangeError('slice outside the batch');
    return this.layout(step).idx.slice(start, start + count);
  }

  /** The batch's positions as runs of one shard each, in position order. */
  runs(step: number): ShardRun[] {
    const { shard } = this.layout(step);
    const out: ShardRun[] = [];
    for (let i = 0; i < shard.length; i++) {
      const last = out.at(-1);
      if (last && last.shard === shard[i]) last.count++;
      else out.push({ shard: shard[i]!, start: i, count: 1 });
    }
    return out;
  }

  /** The distinct shards positions [start, start + count) of batch `step` read. */
  shardsOf(step: number, start = 0, count = this.batchSize): number[] {
    const { shard } = this.layout(step);
    return [...new Set(shard.subarray(start, start + count))];
  }
}

/**
 * The shards a member computing positions [start, start + count) of batch `step` will read in
 * the next `ahead` steps, as far as the plan alone tells. Inside a window a lane keeps its
 * shard and its place in the batch, and the coordinator keeps a member on the shards it holds,
 * so a member keeps its lanes: those its slice covers at least half of, or that make up at
 * least half of its slice. A new window brings a new shard into each lane — those of the kept
 * lanes are the member's next shards. (By lane, not by position: a lane that runs out early
 * shifts the others' positions, and prefetching by position then fetches a neighbour's shard.)
 */
export function upcomingShards(plan: ShardPlan, step: number, start: number, count: number, ahead: number): number[] {
  if (count <= 0 || ahead <= 0) return [];
  const { lane } = plan.layout(step);
  const inBatch = new Map<number, number>();
  const inSlice = new Map<number, number>();
  lane.forEach((l, i) => {
    inBatch.set(l, (inBatch.get(l) ?? 0) + 1);
    if (i >= start && i < start + count) inSlice.set(l, (inSlice.get(l) ?? 0) + 1);
  });
  const mine = new Set([...inSlice].filter(([l, n]) => 2 * n >= inBatch.get(l)! || 2 * n >= count).map(([l]) => l));
  const out: number[] = [];
  for (let k = 1; k <= ahead; k++) {
    const next = plan.layout(step + k);
    next.lane.forEach((l, i) => {
      const s = next.shard[i]!;
      if (mine.has(l) && !out.includes(s)) out.push(s);
    });
  }
  return out;
}

