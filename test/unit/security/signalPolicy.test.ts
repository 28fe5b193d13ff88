/** Signals are relayed only between ring neighbours and sync pairs: membership does not leak further. */
import { describe, expect, it } from 'vitest';
import { signalAllowed } from '../../../server/security/signalPolicy.ts';

const m = (id: string, state: 'joining' | 'syncing' | 'active' | 'left' = 'active') => ({ id, state });

describe('signal policy', () => {
  const c = { ring: ['a', 'b', 'c', 'd', 'e'], syncPartners: (id: string) => (id === 'j' ? ['c'] : id === 'c' ? ['j'] : []) };
  it('relays between ring neighbours, both ways and around the end', () => {
    expect(signalAllowed(c, m('a'), m('b'))).toBe(true);
    expect(signalAllowed(c, m('b'), m('a'))).toBe(true);
    expect(signalAllowed(c, m('e'), m('a'))).toBe(true);
  });
  it('not between ring members that are not neighbours', () => {
    expect(signalAllowed(c, m('a'), m('c'))).toBe(false);
    expect(signalAllowed(c, m('b'), m('e'))).toBe(false);
  });
  it('between a syncing joiner and its donor only; never to itself or to someone gone', () => {
    expect(signalAllowed(c, m('j', 'syncing'), m('c'))).toBe(true);
    expect(signalAllowed(c, m('c'), m('j', 'syncing'))).toBe(true);
    expect(signalAllowed(c, m('j', 'syncing'), m('d'))).toBe(false);
    expect(signalAllowed(c, m('a'), m('a'))).toBe(false);
    expect(signalAllowed(c, m('a'), m('b', 'left'))).toBe(false);
  });
});
