import { describe, expect, it } from 'vitest';
import { isGone, transition, type MemberEvent, type MemberState } from '../../../server/memberState.ts';

const states: MemberState[] = ['joining', 'syncing', 'active', 'left', 'dropped'];
const events: MemberEvent[] = [
  { type: 'ready' },
  { type: 'synced' },
  { type: 'leave' },
  { type: 'drop', reason: 'disconnect' },
  { type: 'drop', reason: 'heartbeat-timeout' },
  { type: 'drop', reason: 'link-failed' },
  { type: 'drop', reason: 'step-deadline' },
  { type: 'drop', reason: 'sync-failed' },
  { type: 'drop', reason: 'evicted' },
];

/** The whole table: state × event → next state, or null where the move is illegal. */
const legal = (s: MemberState, e: MemberEvent): MemberState | null => {
  if (s === 'left' || s === 'dropped') return null;
  if (e.type === 'leave') return 'left';
  if (e.type === 'drop') return 'dropped';
  if (s === 'joining' && e.type === 'ready') return 'syncing';
  if (s === 'syncing' && e.type === 'synced') return 'active';
  return null;
};

describe('member state machine', () => {
  for (const s of states) {
    for (const e of events) {
      const want = legal(s, e);
      const label = `${s} + ${e.type}${e.type === 'drop' ? `(${e.reason})` : ''}`;
      if (want) it(`${label} → ${want}`, () => expect(transition(s, e)).toBe(want));
      else it(`${label} is illegal`, () => expect(() => transition(s, e)).toThrow());
    }
  }

  it('the happy path ends active, and only left/dropped are gone', () => {
    let s: MemberState = 'joining';
    s = transition(s, { type: 'ready' });
    s = transition(s, { type: 'synced' });
    expect(s).toBe('active');
    expect(states.filter(isGone)).toEqual(['left', 'dropped']);
  });
});
