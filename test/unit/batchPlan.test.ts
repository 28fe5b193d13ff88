import { describe, expect, it } from 'vitest';
import { BatchPlan, planSlices, type Slice } from '../../shared/batchPlan.ts';
import { mulberry32 } from '../../shared/random.ts';

/** positions [0, steps·B) of the walk, one step at a time */
function walk(plan: BatchPlan, steps: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < steps; s++) out.push(...plan.indices(s));
  return out;
}

function isPermutation(xs: number[], n: number): boolean {
  if (xs.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const x of xs) {
    if (!(x >= 0 && x < n) || seen[x]) return false;
    seen[x] = 1;
  }
  return true;
}

describe('BatchPlan.indices', () => {
  const shapes: [dataset: number, batch: number][] = [
    [20, 7], // batches straddle pass boundaries
    [20, 5], // batches tile each pass exactly
    [13, 13], // one batch per pass
    [10, 25], // a batch spans several passes
    [150, 32], // iris-like
    [1, 1],
  ];
  for (const [D, B] of shapes) {
    it(`dataset ${D}, batch ${B}: consecutive steps walk each pass as a permutation`, () => {
      const plan = new BatchPlan(D, B, 42);
      const passes = 5;
      const steps = Math.ceil((passes * D) / B);
      const seq = walk(plan, steps);
      expect(seq.length).toBe(steps * B);
      for (let p = 0; p < passes; p++) expect(isPermutation(seq.slice(p * D, (p + 1) * D), D)).toBe(true);
      if (D > 3) {
        // passes are shuffled afresh (not one permutation repeated, and not the identity)
        const passOrders = new Set(Array.from({ length: passes }, (_, p) => seq.slice(p * D, (p + 1) * D).join(',')));
        expect(passOrders.size).toBe(passes);
        expect(passOrders.has(Array.from({ length: D }, (_, i) => i).join(','))).toBe(false);
      }
    });
  }

  it('is deterministic for a seed, also across instances and access orders', () => {
    const a = new BatchPlan(97, 10, 1234);
    const forward = walk(a, 30);
    const b = new BatchPlan(97, 10, 1234);
    const backward: number[][] = [];
    for (let s = 29; s >= 0; s--) backward[s] = Array.from(b.indices(s));
    expect(backward.flat()).toEqual(forward);
    // interleaving steps of different passes (defeats a one-pass cache) changes nothing
    const c = new BatchPlan(97, 10, 1234);
    for (const s of [25, 0, 12, 3, 29, 11, 10]) expect(Array.from(c.indices(s))).toEqual(forward.slice(s * 10, s * 10 + 10));
    expect(Array.from(a.indices(7))).toEqual(forward.slice(70, 80));
  });

  it('differs for different seeds', () => {
    const base = walk(new BatchPlan(100, 10, 1), 10).join(',');
    const others = new Set([2, 3, 0, 0xffffffff, 1 << 31].map((seed) => walk(new BatchPlan(100, 10, seed), 10).join(',')));
    expect(others.size).toBe(5);
    expect(others.has(base)).toBe(false);
  });

  it('a slice [start, start+count) of a step is that part of the global batch', () => {
    const plan = new BatchPlan(50, 16, 9);
    for (const step of [0, 3, 7]) {
      const whole = Array.from(plan.indices(step));
      expect(whole.length).toBe(16);
      for (const [start, count] of [[0, 16], [0, 0], [5, 3], [15, 1], [16, 0], [4, 12]] as const) {
        expect(Array.from(plan.indices(step, start, count))).toEqual(whole.slice(start, start + count));
      }
    }
  });

  it('rejects slices outside the batch and empty datasets or batches', () => {
    const plan = new BatchPlan(50, 16, 9);
    expect(() => plan.indices(0, -1, 2)).toThrow(RangeError);
    expect(() => plan.indices(0, 0, -1)).toThrow(RangeError);
    expect(() => plan.indices(0, 10, 7)).toThrow(RangeError);
    expect(() => plan.indices(0, 17, 0)).toThrow(RangeError);
    expect(() => new BatchPlan(0, 4, 1)).toThrow(RangeError);
    expect(() => new BatchPlan(4, 0, 1)).toThrow(RangeError);
    expect(() => new BatchPlan(NaN, 4, 1)).toThrow(RangeError);
  });
});

function checkSlices(batchSize: number, members: { peerId: string; weight: number }[], slices: Slice[]) {
  // same members, same order
  expect(slices.map((s) => s.peerId)).toEqual(members.map((m) => m.peerId));
  // contiguous, in order, non-negative integers, covering [0, batchSize) exactly once
  let pos = 0;
  const covered = new Uint8Array(batchSize);
  for (const s of slices) {
    expect(Number.isInteger(s.count) && s.count >= 0).toBe(true);
    expect(s.start).toBe(pos);
    for (let i = s.start; i < s.start + s.count; i++) covered[i]!++;
    pos += s.count;
  }
  expect(pos).toBe(batchSize);
  expect(covered.every((c) => c === 1)).toBe(true);
}

/** counts are the exact proportional share rounded down or up (largest remainder) */
function checkProportional(batchSize: number, members: { weight: number }[], slices: Slice[]) {
  let ws = members.map((m) => (Number.isFinite(m.weight) && m.weight > 0 ? m.weight : 0));
  if (ws.every((w) => w === 0)) ws = ws.map(() => 1);
  const total = ws.reduce((a, b) => a + b, 0);
  slices.forEach((s, i) => {
    const exact = (ws[i]! / total) * batchSize;
    expect(Math.abs(s.count - exact)).toBeLessThan(1);
    if (ws[i] === 0) expect(s.count).toBe(0);
  });
}

describe('planSlices', () => {
  const m = (...ws: number[]) => ws.map((weight, i) => ({ peerId: `p${i}`, weight }));
  const table: [string, number, { peerId: string; weight: number }[], number[]][] = [
    ['one member takes everything', 32, m(5), [32]],
    ['equal weights divide evenly', 30, m(1, 1, 1), [10, 10, 10]],
    ['equal weights, remainder to the earliest', 10, m(1, 1, 1), [4, 3, 3]],
    ['proportional', 100, m(1, 3), [25, 75]],
    ['largest remainder wins the leftover', 10, m(1, 1.2, 2.8), [2, 2, 6]],
    ['zero weight gets nothing', 12, m(0, 1, 2), [0, 4, 8]],
    ['NaN, negative and infinite weights count as zero', 9, m(NaN, -4, Infinity, 3), [0, 0, 0, 9]],
    ['all zero weights: equal split', 7, m(0, 0, 0), [3, 2, 2]],
    ['all invalid weights: equal split', 4, m(NaN, -1, -Infinity, 0), [1, 1, 1, 1]],
    ['more members than positions', 3, m(1, 1, 1, 1, 1), [1, 1, 1, 0, 0]],
    ['more members than positions, weighted', 2, m(1, 5, 1, 4), [0, 1, 0, 1]],
    ['tiny and huge weights', 8, m(1e-300, 1e300), [0, 8]],
  ];
  for (const [name, B, members, want] of table) {
    it(`${name}: ${JSON.stringify(members.map((x) => x.weight))} over ${B} → ${want.join(',')}`, () => {
      const slices = planSlices(B, members);
      expect(slices.map((s) => s.count)).toEqual(want);
      checkSlices(B, members, slices);
      checkProportional(B, members, slices);
    });
  }

  it('no members → no slices', () => {
    expect(planSlices(10, [])).toEqual([]);
  });

  it('random weights and sizes: every position exactly once, shares within one of proportional', () => {
    const rnd = mulberry32(99);
    for (let trial = 0; trial < 500; trial++) {
      const n = 1 + Math.floor(rnd() * 12);
      const B = Math.floor(rnd() * 300);
      const members = Array.from({ length: n }, (_, i) => {
        const r = rnd();
        const weight = r < 0.1 ? 0 : r < 0.15 ? NaN : r < 0.2 ? -r : rnd() * 1000 * (r < 0.5 ? 1e-6 : 1);
        return { peerId: `m${i}`, weight };
      });
      const slices = planSlices(B, members);
      checkSlices(B, members, slices);
      checkProportional(B, members, slices);
    }
  });

  it("the slices' indices, concatenated in ring order, are exactly the global batch", () => {
    const plan = new BatchPlan(150, 40, 3);
    const members = m(3.5, 0, 1, 7, NaN, 2);
    const slices = planSlices(plan.batchSize, members);
    for (const step of [0, 1, 4, 11]) {
      const parts = slices.flatMap((s) => Array.from(plan.indices(step, s.start, s.count)));
      expect(parts).toEqual(Array.from(plan.indices(step)));
    }
  });

  it('reassigning after a member drops keeps the global batch unchanged', () => {
    const plan = new BatchPlan(60, 24, 8);
    const before = planSlices(24, m(2, 1, 3));
    const after = planSlices(24, m(2, 3)); // member p1 dropped
    for (const slices of [before, after]) {
      expect(slices.flatMap((s) => Array.from(plan.indices(5, s.start, s.count)))).toEqual(Array.from(plan.indices(5)));
    }
  });
});

describe('planSlices with a granularity (ghost batch boundaries)', () => {
  const m = (...ws: number[]) => ws.map((weight, i) => ({ peerId: `p${i}`, weight }));
  it('cuts only on multiples of the granularity (or the batch end), covering every position once', () => {
    const rnd = mulberry32(5);
    for (let trial = 0; trial < 300; trial++) {
      const B = 1 + Math.floor(rnd() * 200);
      const g = 1 + Math.floor(rnd() * 40);
      const members = Array.from({ length: 1 + Math.floor(rnd() * 8) }, (_, i) => ({ peerId: `m${i}`, weight: rnd() < 0.1 ? 0 : rnd() * 100 }));
      const slices = planSlices(B, members, { granularity: g });
      checkSlices(B, members, slices);
      for (const s of slices) {
        expect(s.start % g === 0 || s.start === B).toBe(true);
        expect((s.start + s.count) % g === 0 || s.start + s.count === B).toBe(true);
      }
    }
  });
  it('deals units proportionally', () => {
    expect(planSlices(96, m(1, 1, 1), { granularity: 16 }).map((s) => s.count)).toEqual([32, 32, 32]);
    expect(planSlices(100, m(1, 2), { granularity: 32 }).map((s) => s.count)).toEqual([32, 68]);
    expect(planSlices(64, m(1, 1, 1), { granularity: 32 }).map((s) => s.count)).toEqual([32, 32, 0]);
  });
  it('granularity 1 is the plain split', () => {
    expect(planSlices(10, m(1, 1, 1), { granularity: 1 })).toEqual(planSlices(10, m(1, 1, 1)));
  });
});
