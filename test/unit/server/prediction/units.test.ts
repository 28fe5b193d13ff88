/** The pure core of prediction jobs: cutting units, the unit state machine, the book, the quorum. */
import { describe, expect, it } from 'vitest';
import { agree, settle, type Copy } from '../../../../server/prediction/quorum.ts';
import { cutUnits, transition, UnitBook } from '../../../../server/prediction/units.ts';

const copy = (peer: string, values: number[], backend = 'cpu'): Copy => ({ peer, backend, out: Float32Array.from(values) });

describe('cutUnits', () => {
  it('covers every input once, in order, the last unit short', () => {
    const u = cutUnits(10_000, 1536);
    expect(u.map((x) => x.count)).toEqual([1536, 1536, 1536, 1536, 1536, 1536, 784]);
    expect(u.every((x, i) => x.index === i && x.start === (i === 0 ? 0 : u[i - 1]!.start + u[i - 1]!.count))).toBe(true);
    expect(cutUnits(0, 10)).toEqual([]);
  });
  it('never straddles a shard boundary when a unit fits in a shard', () => {
    const u = cutUnits(250, 40, 100);
    expect(u.map((x) => [x.start, x.count])).toEqual([[0, 40], [40, 40], [80, 20], [100, 40], [140, 40], [180, 20], [200, 40], [240, 10]]);
    expect(cutUnits(250, 150, 100).map((x) => x.count)).toEqual([150, 100]); // larger than a shard: not aligned
  });
});

describe('unit state machine', () => {
  it('pending → assigned → done, back to pending on release; nothing leaves done', () => {
    expect(transition('pending', { type: 'assign', covered: true })).toBe('assigned');
    expect(transition('pending', { type: 'assign', covered: false })).toBe('pending');
    expect(transition('assigned', { type: 'release' })).toBe('pending');
    expect(transition('assigned', { type: 'result', settled: true, covered: true })).toBe('done');
    expect(transition('assigned', { type: 'result', settled: false, covered: false })).toBe('pending');
    expect(() => transition('assigned', { type: 'assign', covered: true })).toThrow();
    expect(() => transition('done', { type: 'release' })).toThrow();
  });
});

describe('UnitBook', () => {
  it('replicas 1: each unit to one member; a dropped member gives its units back; nobody gets a unit twice', () => {
    const b = new UnitBook(cutUnits(30, 10), 1);
    expect(b.next('a')?.index).toBe(0);
    expect(b.next('a')?.index).toBe(1);
    expect(b.next('b')?.index).toBe(2);
    expect(b.next('b')).toBeNull();
    expect(b.release('a')).toEqual([0, 1]);
    expect(b.next('a')).toBeNull(); // tried both already
    expect(b.next('c')?.index).toBe(0);
    b.returned('c', 0, true);
    expect(b.holds('c', 0)).toBe(false);
    expect(() => b.returned('c', 0, true)).toThrow();
    expect(b.counts()).toEqual({ pending: 1, assigned: 1, done: 1 });
  });

  it('replicas 2: a unit with one copy goes first to another member; a dispute asks for a third', () => {
    const b = new UnitBook(cutUnits(20, 10), 2);
    expect(b.next('a')?.index).toBe(0);
    expect(b.units[0]!.state).toBe('pending'); // one of two holders
    b.returned('a', 0, false);
    expect(b.next('b')?.index).toBe(0); // the unit that has a copy, before the fresh one
    expect(b.units[0]!.state).toBe('assigned');
    b.disputed(0);
    b.returned('b', 0, false);
    expect(b.units[0]!.state).toBe('pending');
    expect(b.next('a')?.index).toBe(1); // a and b tried unit 0
    expect(b.next('c')?.index).toBe(0);
    b.returned('c', 0, true);
    expect(b.units[0]!.state).toBe('done');
  });

  it('discarding an outvoted member\'s copies reopens the units they covered', () => {
    const b = new UnitBook(cutUnits(10, 10), 2);
    b.next('liar');
    b.returned('liar', 0, false);
    b.next('a');
    expect(b.units[0]!.state).toBe('assigned');
    expect(b.release('liar', { discard: true })).toEqual([0]);
    expect(b.units[0]!.state).toBe('pending');
    expect(b.next('c')?.index).toBe(0);
  });
});

describe('quorum', () => {
  it('same backend: bit-equal only; across backends: within the tolerance; NaN never agrees', () => {
    expect(agree(copy('a', [0.5, 0.25]), copy('b', [0.5, 0.25]), 1e-4)).toBe(true);
    expect(agree(copy('a', [0.5, 0.25]), copy('b', [0.5, 0.25 + 1e-7]), 1e-4)).toBe(false);
    expect(agree(copy('a', [0.5, 0.25], 'wasm'), copy('b', [0.5, 0.25 + 1e-6], 'webgl'), 1e-4)).toBe(true);
    expect(agree(copy('a', [0.5, 0.25], 'wasm'), copy('b', [0.5, 0.3], 'webgl'), 1e-4)).toBe(false);
    expect(agree(copy('a', [NaN], 'wasm'), copy('b', [NaN], 'webgl'), 1)).toBe(false);
  });

  it('replicas 2: two agreeing settle; two disagreeing stay open until a third sides with one; the other is outvoted', () => {
    expect(settle([copy('a', [1])], 2, 0)).toEqual({ kind: 'open', disputed: false });
    expect(settle([copy('a', [1]), copy('b', [1])], 2, 0)).toMatchObject({ kind: 'settled', winners: ['a', 'b'], losers: [] });
    expect(settle([copy('a', [1]), copy('x', [2])], 2, 0)).toEqual({ kind: 'open', disputed: true });
    const v = settle([copy('a', [1]), copy('x', [2]), copy('c', [1])], 2, 0);
    expect(v).toMatchObject({ kind: 'settled', winners: ['a', 'c'], losers: ['x'] });
    expect(settle([copy('a', [1]), copy('x', [2]), copy('y', [3])], 2, 0)).toEqual({ kind: 'open', disputed: true });
    expect(settle([copy('a', [1]), copy('x', [2]), copy('y', [3]), copy('c', [1])], 2, 0)).toEqual({ kind: 'open', disputed: true }); // 2 of 4 is no majority
  });

  it('replicas 1: the first copy settles', () => {
    expect(settle([copy('a', [1])], 1, 0)).toMatchObject({ kind: 'settled', winners: ['a'], losers: [] });
  });
});
