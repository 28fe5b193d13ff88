import { describe, expect, it } from 'vitest';
import { LinkTable, RELAY_PENALTY_MS, orderRing, ringCost } from '../../../server/ringOrder.ts';
import { mulberry32 } from '../../../shared/random.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

function randomCosts(n: number, seed: number) {
  const rnd = mulberry32(seed);
  const m = new Map<string, number>();
  const names = ids(n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const c = Math.floor(rnd() * 200);
      m.set(`${names[i]}|${names[j]}`, c);
      m.set(`${names[j]}|${names[i]}`, c);
    }
  }
  return (a: string, b: string) => m.get(`${a}|${b}`)!;
}

function shuffled<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('ring order by link quality', () => {
  it('with no reports the join order stays', () => {
    for (let n = 1; n <= 10; n++) expect(orderRing(ids(n), () => 0).order).toEqual(ids(n));
  });

  it('a relayed pair is kept apart when the ring allows it (N = 4..10)', () => {
    for (let n = 4; n <= 10; n++) {
      const t = new LinkTable();
      t.report('m0', 'm1', { rttMs: 5, relayed: true });
      const plan = orderRing(ids(n), (a, b) => t.cost(a, b));
      expect(plan.bottleneck, `N=${n}`).toBe(0);
      const i = plan.order.indexOf('m0');
      expect([plan.order[(i + 1) % n], plan.order[(i + n - 1) % n]]).not.toContain('m1');
    }
  });

  it('exact for N ≤ 8: no other order has a faster slowest hop (checked against 300 random orders each)', () => {
    for (let n = 4; n <= 8; n++) {
      for (let seed = 1; seed <= 5; seed++) {
        const cost = randomCosts(n, seed * 97 + n);
        const plan = orderRing(ids(n), cost);
        expect(plan.exact).toBe(true);
        const rnd = mulberry32(seed);
        for (let k = 0; k < 300; k++) {
          const c = ringCost(shuffled(ids(n), rnd), cost);
          expect(plan.bottleneck).toBeLessThanOrEqual(c.bottleneck);
          if (c.bottleneck === plan.bottleneck) expect(plan.total).toBeLessThanOrEqual(c.total);
        }
        expect(ringCost(plan.order, cost)).toEqual({ bottleneck: plan.bottleneck, total: plan.total });
        expect([...plan.order].sort()).toEqual(ids(n));
      }
    }
  });

  it('larger rings: the local search is never worse than the join order and finds a ring around two slow members', () => {
    for (let n = 9; n <= 14; n++) {
      const cost = randomCosts(n, n);
      const plan = orderRing(ids(n), cost);
      expect(plan.exact).toBe(false);
      const join = ringCost(ids(n), cost);
      expect(plan.bottleneck).toBeLessThanOrEqual(join.bottleneck);
      expect([...plan.order].sort()).toEqual([...ids(n)].sort());
    }
    // m0–m1 and m2–m3 are slow; join order uses both hops
    const t = new LinkTable();
    t.report('m0', 'm1', { rttMs: 300, relayed: false });
    t.report('m3', 'm2', { rttMs: 200, relayed: true });
    const plan = orderRing(ids(12), (a, b) => t.cost(a, b));
    expect(plan.bottleneck).toBe(0);
  });

  it('a report counts only for its sender’s links, can only make a link worse, and is capped', () => {
    const t = new LinkTable();
    t.report('honest', 'x', { rttMs: 120, relayed: false });
    // the liar praises the link x–honest? it cannot: not its link. It praises its own link to x:
    t.report('liar', 'x', { rttMs: 0, relayed: false });
    expect(t.cost('honest', 'x')).toBe(120);
    // x says its link to the liar is bad: the liar's praise does not lower it
    t.report('x', 'liar', { rttMs: 80, relayed: true });
    expect(t.cost('liar', 'x')).toBe(80 + RELAY_PENALTY_MS);
    // blaming its own links moves only the liar's pairs
    t.report('liar', 'honest', { rttMs: 1e9, relayed: true });
    expect(t.cost('liar', 'honest')).toBe(10_000 + RELAY_PENALTY_MS);
    expect(t.cost('honest', 'x')).toBe(120);
    t.forget('liar');
    expect(t.cost('liar', 'honest')).toBe(0);
    expect(t.cost('liar', 'x')).toBe(0);
  });

  it('a link costs the smallest of its last RTT_WINDOW RTTs (a busy moment does not make it slow, a slower path does), + the relay penalty as last reported', async () => {
    const { RTT_WINDOW } = await import('../../../server/ringOrder.ts');
    const t = new LinkTable();
    t.report('a', 'b', { rttMs: 4, relayed: false });
    t.report('a', 'b', { rttMs: 35, relayed: false });
    t.report('a', 'b', { rttMs: null, relayed: false });
    expect(t.cost('a', 'b')).toBe(4);
    t.report('a', 'b', { rttMs: 30, relayed: true });
    expect(t.cost('a', 'b')).toBe(4 + RELAY_PENALTY_MS);
    expect(t.relayed('b', 'a')).toBe(true);
    for (let i = 0; i < RTT_WINDOW - 1; i++) t.report('a', 'b', { rttMs: 40, relayed: false });
    expect(t.cost('a', 'b')).toBe(30);
    t.report('a', 'b', { rttMs: 40, relayed: false });
    expect(t.cost('a', 'b')).toBe(40);
    expect(t.relayed('a', 'b')).toBe(false);
  });

  it('a reporter keeps at most 64 links (the oldest goes)', () => {
    const t = new LinkTable();
    for (let i = 0; i < 100; i++) t.report('r', `p${i}`, { rttMs: 10, relayed: false });
    expect(t.cost('r', 'p0')).toBe(0);
    expect(t.cost('r', 'p35')).toBe(0);
    expect(t.cost('r', 'p36')).toBe(10);
    expect(t.cost('r', 'p99')).toBe(10);
  });
});

describe('when the coordinator orders the ring (RingPlanner)', () => {
  it('orders on a membership change and says why; keeps an unchanged ring unless the slowest hop would be twice as fast, at most every REORDER_STEPS steps', async () => {
    const { RingPlanner, REORDER_STEPS } = await import('../../../server/ringOrder.ts');
    const t = new LinkTable();
    const p = new RingPlanner(t);
    // no reports: join order, nothing to say
    expect(p.next(ids(4), [], 0)).toEqual({ ring: ids(4), why: null });
    // m0 reports its link to m1 relayed and slow
    t.report('m0', 'm1', { rttMs: 150, relayed: true });
    const kept = p.next(ids(4), ids(4), 1);
    expect(kept).toEqual({ ring: ids(4), why: null }); // too soon after the last order
    const re = p.next(ids(4), ids(4), REORDER_STEPS);
    expect(re.ring).not.toEqual(ids(4));
    expect(ringCost(re.ring, (a, b) => t.cost(a, b)).bottleneck).toBe(0);
    expect(re.why).toMatch(/reordered by link quality: slowest hop 0 ms instead of 200 ms \(slowest pair m0–m1: 200 ms, relayed\)/);
    // a member joins: ordered at once
    const joined = p.next(ids(5), re.ring, REORDER_STEPS + 1);
    expect(ringCost(joined.ring, (a, b) => t.cost(a, b)).bottleneck).toBe(0);
    expect(joined.why).toMatch(/ordered by link quality: slowest hop 0 ms, join order's 200 ms/);
  });
});

describe('what the planner costs the server', () => {
  it('an unchanged membership is searched again only when a link’s cost changed since it was last kept', async () => {
    const { RingPlanner, REORDER_STEPS } = await import('../../../server/ringOrder.ts');
    let asked = 0;
    class Counting extends LinkTable {
      override cost(a: string, b: string) {
        asked++;
        return super.cost(a, b);
      }
    }
    const t = new Counting();
    const p = new RingPlanner(t);
    const ring = p.next(ids(6), [], 0).ring;
    t.report('m0', 'm1', { rttMs: 5, relayed: false });
    asked = 0;
    expect(p.next(ids(6), ring, REORDER_STEPS).ring).toEqual(ring); // searched, nothing twice as fast: kept
    expect(asked).toBeGreaterThan(0);
    asked = 0;
    t.report('m0', 'm1', { rttMs: 9, relayed: false }); // the link's cost stays 5 (the smallest sample)
    expect(p.next(ids(6), ring, REORDER_STEPS + 1).ring).toEqual(ring);
    expect(asked).toBe(0);
    t.report('m0', 'm1', { rttMs: 1, relayed: true }); // now relayed: searched again, and reordered
    const re = p.next(ids(6), ring, REORDER_STEPS + 2);
    expect(asked).toBeGreaterThan(0);
    expect(re.ring).not.toEqual(ring);
    expect(re.why).toMatch(/slowest pair m0–m1: 51 ms, relayed/);
  });
});

describe('searching with what the ring measures (only links in a formed ring get reports)', () => {
  it('unmeasured links count as fast: each reorder reaches a ring with no slow hop or reveals a slow link, so the search settles on a ring whose slowest hop is fast (N = 4..8, random relayed pairs)', async () => {
    const { RingPlanner, REORDER_STEPS } = await import('../../../server/ringOrder.ts');
    const rnd = mulberry32(7);
    let cases = 0;
    for (let trial = 0; trial < 60; trial++) {
      const n = 4 + (trial % 5);
      // the truth, unknown to the coordinator: a few relayed pairs (cost ≥ 50), the rest 1 ms
      const slow = new Set<string>();
      for (let k = 0; k < 1 + Math.floor(rnd() * n); k++) {
        const [a, b] = [Math.floor(rnd() * n), Math.floor(rnd() * n)];
        if (a !== b) slow.add(`m${Math.min(a, b)}|m${Math.max(a, b)}`);
      }
      const truth = (a: string, b: string) => (slow.has(a < b ? `${a}|${b}` : `${b}|${a}`) ? 51 : 1);
      const best = orderRing(ids(n), truth).bottleneck;
      if (best > 1) continue; // no ring avoids every slow pair: nothing to find
      cases++;
      const t = new LinkTable();
      const p = new RingPlanner(t);
      let ring = p.next(ids(n), [], 0).ring;
      let reorders = 0;
      // the steps where a reorder may happen (the coordinator asks every step; in between it keeps the ring)
      for (let step = REORDER_STEPS; step <= REORDER_STEPS * (slow.size + 3); step += REORDER_STEPS) {
        // each member's heartbeat: its link to its next neighbour, as measured
        for (let i = 0; i < n; i++) {
          const [a, b] = [ring[i]!, ring[(i + 1) % n]!];
          t.report(a, b, { rttMs: 1, relayed: truth(a, b) > 1 });
        }
        const next = p.next(ids(n), ring, step);
        if (next.ring.join() !== ring.join()) {
          reorders++;
          expect(next.why, `trial ${trial}`).toMatch(/^reordered by link quality: .*, relayed\)$/);
        }
        ring = next.ring;
      }
      expect(ringCost(ring, truth).bottleneck, `trial ${trial}: ${[...slow].join(' ')}`).toBe(1);
      // every reorder but the last revealed a slow pair it had not measured
      expect(reorders, `trial ${trial}`).toBeLessThanOrEqual(slow.size);
    }
    expect(cases).toBeGreaterThan(20);
  });
});
