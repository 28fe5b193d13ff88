import { describe, expect, it } from 'vitest';
import { ShardHoldings } from '../../../server/coordinator/shardHoldings.ts';
import { ShareControl } from '../../../server/coordinator/shareControl.ts';
import { planSlices } from '../../../shared/batchPlan.ts';
import { mixSeed } from '../../../shared/random.ts';
import { CUT_SLACK, placeCuts } from '../../../shared/shardAffinity.ts';
import { ShardPlan, upcomingShards, type ShardRun } from '../../../shared/shardPlan.ts';

const runsOf = (sizes: number[], shards = sizes.map((_, i) => i)): ShardRun[] => {
  let at = 0;
  return sizes.map((count, i) => ((at += count), { shard: shards[i]!, start: at - count, count }));
};
const none = new Set<number>();
/** shards each slice [cuts[i], cuts[i+1]) touches that its member does not hold */
const fetches = (cuts: number[], runs: ShardRun[], held: ReadonlySet<number>[]) =>
  held.reduce((a, h, i) => a + new Set(runs.filter((r) => r.start < cuts[i + 1]! && r.start + r.count > cuts[i]! && !h.has(r.shard)).map((r) => r.shard)).size, 0);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = mixSeed(s, 0x9e3779b9)) >>> 0) / 2 ** 32;
}

describe('placeCuts', () => {
  it('puts cuts on shard boundaries when the shares allow it', () => {
    const runs = runsOf(Array.from({ length: 8 }, () => 64));
    // proportional shares off the lane boundaries by up to a fifth
    const cuts = placeCuts(512, [120, 140, 110, 142].map((count) => ({ count, held: none })), runs, 1, CUT_SLACK);
    expect(cuts).toEqual([0, 128, 256, 384, 512]);
  });

  it('gives a run to the neighbour that holds its shard', () => {
    const runs = runsOf([40, 40, 40, 40]);
    // proportional cut at 80 (a: shards 0–1, b: 2–3); b holds shard 1, a does not
    const cuts = placeCuts(160, [{ count: 80, held: new Set([0]) }, { count: 80, held: new Set([1, 2, 3]) }], runs, 1, 0.5);
    expect(cuts).toEqual([0, 40, 160]);
    // without slack, the proportional cut stays
    expect(placeCuts(160, [{ count: 80, held: new Set([0]) }, { count: 80, held: new Set([1, 2, 3]) }], runs, 1, 0)).toEqual([0, 80, 160]);
  });

  it('never gives a member more than (1 + slack) × its share, keeps every slice non-empty, fetches no more than the proportional cuts', () => {
    const r = rng(7);
    for (let t = 0; t < 300; t++) {
      const B = 64 + Math.floor(r() * 512);
      const sizes: number[] = [];
      for (let left = B; left > 0;) {
        const n = Math.min(left, 1 + Math.floor(r() * 80));
        sizes.push(n);
        left -= n;
      }
      const runs = runsOf(sizes, sizes.map(() => Math.floor(r() * 12)));
      const M = 1 + Math.floor(r() * 6);
      const g = r() < 0.3 ? 4 : 1;
      const base = planSlices(B, Array.from({ length: M }, (_, i) => ({ peerId: String(i), weight: 0.5 + r() })), { granularity: g }).filter((s) => s.count > 0);
      const held = base.map(() => new Set(Array.from({ length: 3 }, () => Math.floor(r() * 12))));
      const ms = base.map((s, i) => ({ count: s.count, held: held[i]! }));
      const slack = r() * 0.5;
      const cuts = placeCuts(B, ms, runs, g, slack);
      expect(cuts[0]).toBe(0);
      expect(cuts.at(-1)).toBe(B);
      for (let i = 0; i < ms.length; i++) {
        const n = cuts[i + 1]! - cuts[i]!;
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(Math.max(ms[i]!.count, Math.floor((1 + slack) * ms[i]!.count)));
        if (cuts[i + 1]! < B) expect(cuts[i + 1]! % g).toBe(0);
      }
      const prop = [0, ...base.map((s) => s.start + s.count)];
      expect(fetches(cuts, runs, held)).toBeLessThanOrEqual(fetches(prop, runs, held));
    }
  });
});

describe('ShardHoldings over an epoch', () => {
  // MNIST as the store cuts it: 60 000 samples in shards of 1337, every 10th a test sample
  const counts = Array.from({ length: 45 }, (_, i) => {
    const start = i * 1337;
    const n = Math.min(1337, 60000 - start);
    return n - (Math.floor((start + n) / 10) - Math.floor(start / 10));
  });

  /**
   * One pass with 4 alike members: claimed speeds 20× apart, each step's time a fixed 80 ms,
   * plus its samples at 1.25 ms each ±`noise`, plus 150 ms per shard it had to fetch; prefetch
   * as the feed does. Returns each member's fraction of the shards read.
   */
  function epoch(seed: number, noise: number) {
    const plan = new ShardPlan(counts, 512, seed);
    const h = new ShardHoldings({ count: counts.length, runs: (s) => plan.runs(s) });
    const ids = ['a', 'b', 'c', 'd'];
    const r = rng(seed);
    const claims = ids.map(() => 50 + 950 * r());
    const held = ids.map(() => new Set<number>());
    const steps = Math.floor(plan.size / 512);
    for (let s = 0; s < steps; s++) {
      const slices = h.cut(s, ids.map((peerId, i) => ({ peerId, weight: claims[i]! })), 1, () => true);
      for (const sl of slices) {
        const i = ids.indexOf(sl.peerId);
        const need = plan.shardsOf(s, sl.start, sl.count);
        const missed = need.filter((x) => !held[i]!.has(x)).length;
        need.forEach((x) => held[i]!.add(x));
        upcomingShards(plan, s, sl.start, sl.count, Math.min(2, steps - 1 - s)).forEach((x) => held[i]!.add(x));
        h.report(sl.peerId, [...held[i]!]);
        if (sl.count > 0) h.observe(sl.peerId, 80 + 1.25 * sl.count * (1 + noise * (2 * r() - 1)) + 150 * missed);
      }
    }
    return held.map((x) => x.size / counts.length);
  }

  it('each of 4 members reads at most 1.5/4 of the shards in a pass, step times swinging ±30 %', () => {
    for (const seed of [1, 2, 3]) for (const f of epoch(seed, 0.3)) expect(f).toBeLessThanOrEqual(1.5 / 4);
  });
});

describe('ShareControl', () => {
  const ids = ['a', 'b', 'c', 'd'];
  /** `steps` steps of members whose step takes `fixed` ms plus `msPerSample[i]` per sample of a 512 batch; the last shares */
  function run(claims: number[], msPerSample: number[], steps: number, fixed = 80) {
    const c = new ShareControl();
    let shares: number[] = [];
    for (let s = 0; s < steps; s++) {
      shares = c.shares(ids.map((peerId, i) => ({ peerId, weight: claims[i]! })));
      ids.forEach((id, i) => c.observe(id, fixed + msPerSample[i]! * shares[i]! * 512));
    }
    return shares;
  }

  it('a fixed cost per step and claims 15× apart: alike members end at even shares', () => {
    const shares = run([917, 350, 60, 673], [1, 1, 1, 1], 60);
    for (const x of shares) expect(Math.abs(x - 0.25)).toBeLessThan(0.025);
  });

  it('shares end in proportion to compute speed: a member twice as fast gets twice as much', () => {
    const shares = run([1, 1, 1, 1], [0.5, 1, 1, 1], 60);
    expect(shares[0]! / shares[1]!).toBeGreaterThan(1.9);
    expect(shares[0]! / shares[1]!).toBeLessThan(2.1);
  });

  it('one slow step moves a share a little; a newcomer starts within [¾, 4/3] × an even share', () => {
    const c = new ShareControl();
    const w = ids.map((peerId) => ({ peerId, weight: 1 }));
    c.shares(w);
    ids.forEach((id, i) => c.observe(id, i === 0 ? 200 : 100)); // a's step ran twice as long once
    const after = c.shares(w);
    expect(after[0]).toBeGreaterThan(0.25 / 1.5);
    expect(after[0]).toBeLessThan(0.25);
    const fresh = new ShareControl().shares([{ peerId: 'x', weight: 1000 }, { peerId: 'y', weight: 1 }]);
    expect(fresh[0]! / fresh[1]!).toBeLessThanOrEqual((4 / 3) ** 2 + 1e-9);
  });
});

describe('upcomingShards', () => {
  it('follows the slice\'s lanes: a lane that runs out early does not pull in a neighbour\'s shard', () => {
    // shard 0 is short: its lane empties early in its window and the others' positions shift
    const counts = [10, ...Array.from({ length: 15 }, () => 100)];
    const plan = new ShardPlan(counts, 64, 5);
    for (let step = 0; step < 20; step++) {
      const { lane } = plan.layout(step);
      const n = lane.filter((l) => l < 2).length; // lanes 0–1: the first positions
      const want = upcomingShards(plan, step, 0, n, 2);
      const truth = new Set([1, 2].flatMap((k) => { const L = plan.layout(step + k); return [...L.shard].filter((_, i) => L.lane[i]! < 2); }));
      expect(new Set(want)).toEqual(truth);
    }
  });
});
