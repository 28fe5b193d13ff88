import { describe, expect, it } from 'vitest';
import { isTestSample } from '../../../shared/datasetShards.ts';
import { locateTrain, ShardPlan, trainCounts } from '../../../shared/shardPlan.ts';
import { planSlices } from '../../../shared/batchPlan.ts';
import { planSlicesNear } from '../../../shared/shardAffinity.ts';
import { samplePlanFor } from '../../../shared/samplePlan.ts';

const layout = (sizes: number[]) => {
  let at = 0;
  return sizes.map((count) => ((at += count), { start: at - count, count }));
};

function walk(plan: ShardPlan, steps: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < steps; s++) out.push(...plan.indices(s));
  return out;
}

describe('trainCounts / locateTrain', () => {
  it('count the non-test samples of each shard, within the limit, and find each train sample where it lies', () => {
    const shards = layout([13, 7, 25, 1, 14]);
    const counts = trainCounts(shards);
    const total = shards.reduce((a, s) => a + s.count, 0);
    const train = Array.from({ length: total }, (_, i) => i).filter((i) => !isTestSample(i));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(train.length);
    train.forEach((datasetIndex, k) => {
      const { shard, offset } = locateTrain(shards, counts, k);
      expect(shards[shard]!.start + offset).toBe(datasetIndex);
    });
    expect(trainCounts(shards, 20)).toEqual([12, 6, 2, 0, 0]);
    expect(() => locateTrain(shards, counts, train.length)).toThrow(RangeError);
  });
});

describe('ShardPlan', () => {
  const cases: [sizes: number[], batch: number, lanes: number][] = [
    [[10, 10, 10, 10, 10, 10, 10, 10, 10, 10], 7, 4], // batches straddle windows and passes
    [[50, 50, 50, 3], 16, 8], // fewer shards than lanes, a small last shard
    [[5], 12, 8], // one shard, a batch spans passes
    [[30, 0, 30, 30], 9, 2], // an empty shard
  ];
  for (const [sizes, B, lanes] of cases) {
    it(`shards ${sizes.join('/')}, batch ${B}, ${lanes} lanes: each pass is a permutation of the train samples`, () => {
      const plan = new ShardPlan(sizes, B, 42, lanes);
      const n = plan.size;
      const passes = 4;
      const steps = Math.ceil((passes * n) / B);
      const seq = walk(plan, steps);
      expect(seq.every((x) => x >= 0 && x < n)).toBe(true);
      for (let p = 0; p < passes; p++) {
        const seen = new Uint8Array(n);
        const passSamples = walkPass(plan, p, B);
        for (const x of passSamples) {
          expect(seen[x]).toBe(0);
          seen[x] = 1;
        }
        expect(seen.every((v) => v === 1)).toBe(true);
      }
    });
  }

  it('is deterministic for a seed, whatever the order steps are asked in, and differs across seeds and passes', () => {
    const sizes = [40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 17];
    const a = walk(new ShardPlan(sizes, 32, 7), 30);
    const b = new ShardPlan(sizes, 32, 7);
    for (const s of [29, 0, 14, 3, 28, 13]) expect(Array.from(b.indices(s))).toEqual(a.slice(s * 32, s * 32 + 32));
    expect(walk(new ShardPlan(sizes, 32, 8), 30)).not.toEqual(a);
    const plan = new ShardPlan(sizes, 40, 7);
    const n = plan.size;
    expect(walkPass(plan, 0, 40).join()).not.toBe(walkPass(plan, 1, 40).join());
    expect(n).toBe(417);
  });

  it('permutes the shard order per pass and keeps a batch within a window of shards', () => {
    const sizes = Array.from({ length: 32 }, () => 100);
    const plan = new ShardPlan(sizes, 64, 3, 4);
    const firstShards = (p: number) => [...new Set(walkPass(plan, p, 64).slice(0, 400).map((k) => Math.floor(k / 100)))].sort((x, y) => x - y).join();
    expect(firstShards(0)).not.toBe(firstShards(1));
    // a batch reads at most 2 windows of 4 shards; most read exactly one
    let within = 0;
    for (let s = 0; s < 50; s++) {
      const k = plan.shardsOf(s).length;
      expect(k).toBeLessThanOrEqual(8);
      if (k <= 4) within++;
    }
    expect(within).toBeGreaterThan(40);
    // lane-major layout: a quarter of the batch is one shard
    for (let s = 0; s < 50; s++) for (const r of plan.runs(s)) expect(r.count).toBeLessThanOrEqual(64);
    expect(plan.shardsOf(0, 0, 16)).toHaveLength(1);
  });

  it('runs cover the batch in order, one shard each, matching indices()', () => {
    const plan = new ShardPlan([100, 100, 100], 30, 5, 3);
    const shards = layout([100, 100, 100]);
    const counts = trainCounts(shards);
    const byShard = new ShardPlan(counts, 30, 5, 3);
    for (let s = 0; s < 10; s++) {
      const runs = byShard.runs(s);
      expect(runs.reduce((a, r) => a + r.count, 0)).toBe(30);
      const idx = byShard.indices(s);
      for (const r of runs) for (let i = r.start; i < r.start + r.count; i++) expect(locateTrain(shards, counts, idx[i]!).shard).toBe(r.shard);
    }
    expect(plan.size).toBe(300);
  });

  it('samplePlanFor: the shard plan over the train samples, with the split rule and the limit', () => {
    const spec = { batchSize: 10, seed: 1, dataset: { trainSize: 0 } };
    expect(samplePlanFor(spec, { shards: layout([30, 30]) }).size).toBe(54); // every 10th a test sample
    expect(samplePlanFor(spec, { shards: layout([30, 30]), testFrom: 40 }).size).toBe(40);
    expect(samplePlanFor({ ...spec, dataset: { trainSize: 25 } }, { shards: layout([30, 30]), testFrom: 40 }).size).toBe(25);
  });
});

/** the samples of pass p, read from the batches that hold its walk positions */
function walkPass(plan: ShardPlan, p: number, B: number): number[] {
  const n = plan.size;
  const out: number[] = [];
  const first = Math.floor((p * n) / B);
  const last = Math.floor(((p + 1) * n - 1) / B);
  for (let s = first; s <= last; s++) {
    // within batch s, positions are reordered lane-major; the pass's part is found through the walk
    const lo = Math.max(p * n, s * B);
    const hi = Math.min((p + 1) * n, (s + 1) * B);
    out.push(...passPart(plan, s, lo - s * B, hi - s * B, p));
  }
  return out;
}

/** the samples at walk offsets [lo, hi) of batch s (by walk position, before the lane-major sort) */
function passPart(plan: ShardPlan, s: number, lo: number, hi: number, p: number): number[] {
  const passOf = plan as unknown as { pass(p: number): { walk: Uint32Array } };
  const n = plan.size;
  const w = passOf.pass(p).walk;
  const out: number[] = [];
  for (let i = lo; i < hi; i++) out.push(w[s * plan.batchSize + i - p * n]!);
  // and they are exactly the batch's samples of that pass
  const batch = new Set(plan.indices(s));
  for (const x of out) expect(batch.has(x)).toBe(true);
  return out;
}

describe('planSlicesNear', () => {
  const runs = (sizes: number[], shards: number[]) => {
    let at = 0;
    return sizes.map((count, i) => ((at += count), { shard: shards[i]!, start: at - count, count }));
  };
  it('cuts the same sizes as planSlices when nothing is held, and every position once', () => {
    const members = ['a', 'b', 'c'].map((peerId, i) => ({ peerId, weight: i + 1, held: new Set<number>() }));
    const r = runs([8, 8, 8, 8, 8, 8, 8, 8], [0, 1, 2, 3, 4, 5, 6, 7]);
    const near = planSlicesNear(64, members, r);
    const plain = planSlices(64, members);
    expect(near.map((s) => s.peerId)).toEqual(plain.map((s) => s.peerId));
    for (let i = 0; i < near.length; i++) expect(Math.abs(near[i]!.count - plain[i]!.count)).toBeLessThanOrEqual(Math.floor(plain[i]!.count / 4) + Math.floor((plain[i + 1]?.count ?? 99) / 4));
    let at = 0;
    for (const s of near) {
      expect(s.start).toBe(at);
      at += s.count;
    }
    expect(at).toBe(64);
  });

  it('gives each member the runs of the shards it holds, and snaps cuts to run boundaries', () => {
    const r = runs([16, 16, 16, 16], [10, 11, 12, 13]);
    const members = [
      { peerId: 'a', weight: 1, held: new Set([13]) },
      { peerId: 'b', weight: 1, held: new Set([11]) },
      { peerId: 'c', weight: 1, held: new Set([10]) },
      { peerId: 'd', weight: 1, held: new Set([12]) },
    ];
    const near = planSlicesNear(64, members, r);
    const at = Object.fromEntries(near.map((s) => [s.peerId, [s.start, s.count]]));
    expect(at).toEqual({ c: [0, 16], b: [16, 16], d: [32, 16], a: [48, 16] });
    // unequal runs: the cut moves to the boundary within a quarter of a share
    const r2 = runs([14, 18, 17, 15], [10, 11, 12, 13]);
    const near2 = planSlicesNear(64, members, r2);
    expect(near2.map((s) => s.start)).toEqual([0, 14, 32, 49]);
  });

  it('keeps ghost-batch granularity', () => {
    const r = runs([13, 19, 17, 15], [0, 1, 2, 3]);
    const members = [0, 1, 2, 3].map((i) => ({ peerId: `p${i}`, weight: 1 + i * 0.3, held: new Set([3 - i]) }));
    const near = planSlicesNear(64, members, r, { granularity: 4 });
    for (const s of near) expect(s.start % 4).toBe(0);
    expect(near.reduce((a, s) => a + s.count, 0)).toBe(64);
  });
});
