import { describe, expect, it } from 'vitest';
import { ShardHoldings } from '../../../server/coordinator/shardHoldings.ts';
import { ShardPlan } from '../../../shared/shardPlan.ts';

const members = (ids: string[]) => ids.map((peerId) => ({ peerId, weight: 1 }));

describe('ShardHoldings', () => {
  const plan = new ShardPlan(Array.from({ length: 32 }, () => 100), 64, 9);
  const layout = { count: 32, runs: (s: number) => plan.runs(s) };

  it('a member keeps the part of the batch in shards it was given, whatever the member order', () => {
    const h = new ShardHoldings(layout);
    const first = h.cut(0, members(['a', 'b', 'c', 'd']), 1, () => true);
    const shardsAt = (step: number, sl: { start: number; count: number }) => new Set(plan.shardsOf(step, sl.start, sl.count));
    // the next step, members listed the other way round: each still gets the shards it holds
    const second = h.cut(1, members(['d', 'c', 'b', 'a']), 1, () => true);
    let kept = 0;
    let total = 0;
    for (const s of second) {
      const had = shardsAt(0, first.find((f) => f.peerId === s.peerId)!);
      for (const x of shardsAt(1, s)) {
        total++;
        if (had.has(x)) kept++;
      }
    }
    expect(kept / total).toBeGreaterThan(0.6);
    expect(second.reduce((a, s) => a + s.count, 0)).toBe(64);
  });

  it('a claim only narrows: a stranger claiming every shard changes no slice', () => {
    const honest = new ShardHoldings(layout);
    const lied = new ShardHoldings(layout);
    const ids = ['a', 'b', 'c', 'x'];
    for (let s = 0; s < 5; s++) {
      if (s > 0) lied.report('x', Array.from({ length: 32 }, (_, i) => i));
      expect(lied.cut(s, members(ids), 1, () => true)).toEqual(honest.cut(s, members(ids), 1, () => true));
    }
    // an honest report of an eviction is believed
    honest.report('a', []);
    expect(honest.believed('a').size).toBe(0);
    // out-of-range indices are ignored
    honest.report('b', [99999]);
    expect(honest.believed('b').size).toBe(0);
  });

  it('entering a new window of shards (nobody holds any), members stay where they were', () => {
    const h = new ShardHoldings(layout);
    const ids = ['a', 'b', 'c', 'd'];
    // find a step whose shards nobody was given yet
    let prev = h.cut(0, members(ids), 1, () => true);
    for (let s = 1; s < 60; s++) {
      const seen = new Set(ids.flatMap((id) => [...h.believed(id)]));
      const fresh = plan.runs(s).every((r) => !seen.has(r.shard));
      const next = h.cut(s, members([...ids].reverse()), 1, () => true);
      if (fresh) {
        const order = (sl: { peerId: string; start: number }[]) => [...sl].sort((x, y) => x.start - y.start).map((x) => x.peerId);
        expect(order(next)).toEqual(order(prev));
        return;
      }
      prev = next;
    }
    throw new Error('no step entered a new window');
  });
});
