import { describe, expect, it } from 'vitest';
import { planEvalParts } from '../../../server/coordinator/evalParts.ts';
import { Evaluation } from '../../../server/coordinator/evaluation.ts';
import { ShardHoldings } from '../../../server/coordinator/shardHoldings.ts';
import { evalPartSchema, evalRanges } from '../../../shared/protocol.ts';
import { mixSeed } from '../../../shared/random.ts';
import { ShardPlan, testRuns, trainCounts } from '../../../shared/shardPlan.ts';

/** every test sample index each part scores, in one list */
const scored = (parts: Map<string, [number, number][]>) => [...parts.values()].flat().flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));

describe('planEvalParts', () => {
  // 12 shards of 100 samples: 10 test samples each
  const shards = Array.from({ length: 12 }, (_, i) => ({ start: i * 100, count: 100 }));
  const tests = testRuns(shards);

  it('covers the test set exactly once and gives each shard\'s test samples to a member holding it', () => {
    const held: Record<string, Set<number>> = { a: new Set([0, 1, 2]), b: new Set([3, 4, 5]), c: new Set([6, 7, 8]), d: new Set([9, 10, 11]) };
    const parts = planEvalParts(Object.keys(held), (id) => held[id]!, tests)!;
    expect(scored(parts).sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    for (const [id, ranges] of parts) for (const [a, b] of ranges) for (const r of tests) if (r.start < b && r.start + r.count > a) expect(held[id]!.has(r.shard)).toBe(true);
    // contiguous runs of one member merge into one range
    expect(parts.get('a')).toEqual([[0, 30]]);
  });

  it('spreads what nobody holds, and what one member holds too much of, to the least loaded', () => {
    const held: Record<string, Set<number>> = { a: new Set(Array.from({ length: 12 }, (_, i) => i)), b: new Set(), c: new Set() };
    const parts = planEvalParts(Object.keys(held), (id) => held[id]!, tests)!;
    expect(scored(parts).sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    const load = (id: string) => parts.get(id)!.reduce((s, [a, b]) => s + b - a, 0);
    // a holds everything but scores at most 1.5 × an even share
    expect(load('a')).toBeLessThanOrEqual(60);
    expect(load('b') + load('c')).toBe(120 - load('a'));
  });

  it('a random mix of holdings, limits and members: always a partition of the test set', () => {
    let seed = 11;
    const r = () => ((seed = mixSeed(seed, 77)) >>> 0) / 2 ** 32;
    for (let t = 0; t < 100; t++) {
      const sh = Array.from({ length: 1 + Math.floor(r() * 40) }, (_, i) => ({ start: i * 37, count: 37 }));
      const limit = Math.floor(r() * 200);
      const runs = testRuns(sh, limit);
      const ids = Array.from({ length: 1 + Math.floor(r() * 7) }, (_, i) => `m${i}`);
      const held = new Map(ids.map((id) => [id, new Set(sh.map((_, i) => i).filter(() => r() < 0.3))]));
      const parts = planEvalParts(ids, (id) => held.get(id)!, runs);
      const size = runs.reduce((a, x) => a + x.count, 0);
      if (size === 0) {
        expect(parts).toBeNull();
        continue;
      }
      expect(scored(parts!).sort((x, y) => x - y)).toEqual(Array.from({ length: size }, (_, i) => i));
      // what goes on the wire parses, and reads back the same ranges
      const ev = new Evaluation(ids, parts);
      for (const id of ids) {
        const p = evalPartSchema.parse(ev.partOf(id));
        expect(evalRanges(size, p).map((x) => [x.start, x.end])).toEqual(parts!.get(id));
      }
    }
  });

  it('the coordinator\'s holdings: a member scores the test samples of shards it trained on', () => {
    const sh = Array.from({ length: 32 }, (_, i) => ({ start: i * 110, count: 110 }));
    const plan = new ShardPlan(trainCounts(sh), 64, 3);
    const h = new ShardHoldings({ count: sh.length, runs: (s) => plan.runs(s), tests: testRuns(sh) });
    const ids = ['a', 'b', 'c', 'd'];
    for (let s = 0; s < 30; s++) h.cut(s, ids.map((peerId) => ({ peerId, weight: 1 })), 1, () => true);
    const parts = h.evalParts(ids)!;
    let inHeld = 0;
    for (const [id, ranges] of parts) for (const [a, b] of ranges) for (const r of testRuns(sh)) if (r.start < b && r.start + r.count > a && h.believed(id).has(r.shard)) inHeld += Math.min(b, r.start + r.count) - Math.max(a, r.start);
    const held = new Set(ids.flatMap((id) => [...h.believed(id)]));
    const heldTests = testRuns(sh).filter((r) => held.has(r.shard)).reduce((a, r) => a + r.count, 0);
    // every test sample of a shard someone holds is scored by a holder (shares stay under the cap here)
    expect(inHeld).toBe(heldTests);
  });
});

describe('evalPart on the wire', () => {
  it('takes ranges, refuses empty or too many', () => {
    expect(evalPartSchema.safeParse({ index: 0, of: 2, ranges: [[0, 5], [9, 12]] }).success).toBe(true);
    expect(evalPartSchema.safeParse({ index: 0, of: 2, ranges: [[5, 5]] }).success).toBe(false);
    expect(evalPartSchema.safeParse({ index: 0, of: 2, ranges: Array.from({ length: 513 }, (_, i) => [2 * i, 2 * i + 1]) }).success).toBe(false);
    // ranges past the test set's end are cut to it
    expect(evalRanges(10, { index: 0, of: 1, ranges: [[4, 8], [9, 20], [30, 40]] })).toEqual([{ start: 4, end: 8 }, { start: 9, end: 10 }]);
  });
});
