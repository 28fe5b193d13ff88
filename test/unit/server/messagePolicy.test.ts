/**
 * The role table, message type by message type: who may send it, in which state, about which
 * step and epoch, and how often. Each wrong role gets its code; the right role gets through.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { authorize, MESSAGE_POLICY } from '../../../server/messagePolicy.ts';
import type { ClientMessage } from '../../../shared/protocol.ts';
import { coordinatorHarness, H, INFO } from './coordinatorHarness.ts';

/**
 * A job with ring a → b → c, a member `n` that only joined and a member `g` that left. With
 * `joiner`, a member `j` is syncing from a donor at the step-4 boundary (held: no step open);
 * without, step 3 is open.
 */
function scene(o: { joiner?: boolean } = {}) {
  const t = coordinatorHarness({ minWorkers: 3, steps: 50, checkpointEvery: 100 });
  for (const id of ['a', 'b', 'c']) t.add(id);
  for (let i = 0; i < 3; i++) t.finishStep();
  t.c.join('n', { send: () => {}, disconnect: () => {} });
  t.add('g');
  t.c.remove('g', 'left');
  if (o.joiner) {
    t.add('j'); // syncing: its sync starts at the next boundary
    t.finishStep();
  }
  const s = o.joiner ? { ...t.lastStep('a')!, step: t.c.step } : t.lastStep('a')!;
  const donor = ['a', 'b', 'c'].find((id) => t.last(id, 'sync-send')?.to === 'j') ?? '';
  return { t, s, donor, m: (id: string) => t.c.members.get(id) ?? null };
}

type Msg = ClientMessage;
const msgs = (step: number, epoch: number): Record<Exclude<Msg['type'], 'join'>, Msg> => ({
  ready: { type: 'ready', info: INFO, samplesPerSec: 10 },
  signal: { type: 'signal', to: 'a', data: {} },
  computed: { type: 'computed', step, epoch, computeMs: 1 },
  reduced: { type: 'reduced', step, epoch, hash: H('b'), paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 1, count: 1 },
  'step-failed': { type: 'step-failed', step, epoch, code: 'FRAME_NON_FINITE', message: 'x', suspect: 'a' },
  eval: { type: 'eval', step: step - 1, correct: 1, count: 2 },
  'sync-sent': { type: 'sync-sent', step, to: 'j', paramHash: H('a') },
  synced: { type: 'synced', step, paramHash: H('a') },
  'param-hash': { type: 'param-hash', step, paramHash: H('a') },
  final: { type: 'final', step, paramHash: H('a'), eval: null },
  heartbeat: { type: 'heartbeat' },
  shards: { type: 'shards', held: [0, 3] },
  leave: { type: 'leave' },
  'unit-failed': { type: 'unit-failed', unit: 0, code: 'X', message: 'x' },
});

describe('message policy', () => {
  it('has a rule, in words, for every client message type but join', () => {
    const { s } = scene();
    expect(Object.keys(MESSAGE_POLICY).sort()).toEqual(Object.keys(msgs(s.step, s.epoch)).sort());
    for (const r of Object.values(MESSAGE_POLICY)) expect(r.who.length).toBeGreaterThan(10);
  });

  it("the README's role table says what the code decides", () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const [type, r] of Object.entries(MESSAGE_POLICY)) expect(readme).toContain(`| \`${type}\` | ${r.who}`);
  });

  it('a socket that has not joined may send nothing but join', () => {
    const { t, s } = scene();
    for (const m of Object.values(msgs(s.step, s.epoch))) expect(authorize(t.c, null, m)?.code).toBe('NOT_A_MEMBER');
  });

  it('a member that is gone is refused as not a member (not counted: its last words may cross its drop)', () => {
    const { t, s, m } = scene();
    for (const x of Object.values(msgs(s.step, s.epoch))) expect(authorize(t.c, m('g'), x)).toMatchObject({ code: 'NOT_A_MEMBER', counts: false });
  });

  it('a member that only joined may say ready, heartbeat, leave and signal (which the relay then restricts)', () => {
    const { t, s, m } = scene();
    const verdicts = Object.fromEntries(Object.entries(msgs(s.step, s.epoch)).map(([k, x]) => [k, authorize(t.c, m('n'), x)?.code ?? 'ok']));
    expect(verdicts).toEqual({
      ready: 'ok', signal: 'ok', heartbeat: 'ok', shards: 'ok', leave: 'ok', computed: 'WRONG_STATE', reduced: 'WRONG_STATE', 'step-failed': 'WRONG_STATE',
      eval: 'NOT_ALLOWED', 'sync-sent': 'NOT_ALLOWED', synced: 'WRONG_STATE', 'param-hash': 'STALE_STEP', final: 'WRONG_STATE', 'unit-failed': 'WRONG_STATE',
    });
  });

  it('a syncing joiner may report its own sync, nothing about steps', () => {
    const { t, s, m } = scene({ joiner: true });
    const verdicts = Object.fromEntries(Object.entries(msgs(s.step, s.epoch)).map(([k, x]) => [k, authorize(t.c, m('j'), x)?.code ?? 'ok']));
    expect(verdicts).toMatchObject({ ready: 'WRONG_STATE', computed: 'WRONG_STATE', reduced: 'WRONG_STATE', 'step-failed': 'WRONG_STATE', synced: 'ok', 'sync-sent': 'NOT_ALLOWED', final: 'WRONG_STATE' });
    expect(authorize(t.c, m('j'), { type: 'synced', step: s.step - 1, paramHash: H('a') })?.code).toBe('STALE_STEP');
  });

  it('ring members: reports about exactly the open step and epoch, once each', () => {
    const { t, s, m } = scene();
    const all = msgs(s.step, s.epoch);
    expect(authorize(t.c, m('b'), all.computed)).toBeNull();
    expect(authorize(t.c, m('b'), { ...all.computed, step: s.step + 1 } as Msg)?.code).toBe('STALE_STEP');
    expect(authorize(t.c, m('b'), { ...all.reduced, epoch: s.epoch + 1 } as Msg)?.code).toBe('STALE_STEP');
    t.report('b');
    expect(authorize(t.c, m('b'), all.reduced)?.code).toBe('REPLAYED');
    expect(authorize(t.c, m('b'), all.computed)?.code).toBe('REPLAYED');
  });

  it('a report about a step that just closed, from a member of its ring, is late (refused, not counted)', () => {
    const { t, s, m } = scene();
    t.finishStep();
    expect(authorize(t.c, m('a'), msgs(s.step, s.epoch).reduced)).toMatchObject({ code: 'STALE_STEP', counts: false });
  });

  it('accusations: rejected frames and link reports name only a ring neighbour, never oneself', () => {
    const { t, s, m } = scene();
    const ring = s.ring;
    const base = msgs(s.step, s.epoch)['step-failed'] as Extract<Msg, { type: 'step-failed' }>;
    const i = ring.indexOf('b');
    const prev = ring[(i - 1 + ring.length) % ring.length]!;
    const next = ring[(i + 1) % ring.length]!;
    expect(authorize(t.c, m('b'), { ...base, suspect: prev })).toBeNull();
    // a latency schedule exchanges frames with both neighbours (shared/allreduce/scheduleChoice.ts)
    expect(authorize(t.c, m('b'), { ...base, suspect: next })).toBeNull();
    const far = ring.find((id) => id !== 'b' && id !== prev && id !== next);
    if (far) expect(authorize(t.c, m('b'), { ...base, suspect: far })?.code).toBe('NOT_ALLOWED');
    expect(authorize(t.c, m('b'), { ...base, suspect: 'n' })?.code).toBe('NOT_ALLOWED');
    expect(authorize(t.c, m('b'), { ...base, code: 'LINK_CLOSED', suspect: next })).toBeNull();
    expect(authorize(t.c, m('b'), { ...base, suspect: 'b' })?.code).toBe('NOT_ALLOWED');
    expect(authorize(t.c, m('b'), { ...base, code: 'LINK_CLOSED', suspect: 'n' })?.code).toBe('NOT_ALLOWED');
  });

  it('sync reports only from the two ends of that sync', () => {
    const { t, s, donor, m } = scene({ joiner: true });
    const other = ['a', 'b', 'c'].find((id) => id !== donor)!;
    const sent = msgs(s.step, s.epoch)['sync-sent'];
    expect(authorize(t.c, m(donor), sent)).toBeNull();
    expect(authorize(t.c, m(other), sent)?.code).toBe('NOT_ALLOWED');
  });

  it('checkpoint votes only from the round voters, once; eval parts only from the members given one, summed exactly; final only from finishers', () => {
    const t = coordinatorHarness({ minWorkers: 2, steps: 4, checkpointEvery: 2, evalEvery: 2 });
    t.add('a');
    t.add('b');
    t.finishStep();
    t.finishStep();
    const uploader = ['a', 'b'].find((id) => t.last(id, 'checkpoint-request')?.upload)!;
    const voter = ['a', 'b'].find((id) => id !== uploader)!;
    const vote: Msg = { type: 'param-hash', step: 2, paramHash: H('a') };
    expect(authorize(t.c, t.c.members.get(uploader)!, vote)?.code).toBe('NOT_ALLOWED');
    expect(authorize(t.c, t.c.members.get(voter)!, vote)).toBeNull();
    t.c.paramHashVote(voter, 2, H('a'));
    expect(authorize(t.c, t.c.members.get(voter)!, vote)?.code).toBe('REPLAYED');
    // every ring member scores its part of step 1's evaluation, once; nobody scores step 0's (none was asked)
    expect(['a', 'b'].map((id) => t.all(id, 'commit').find((c) => c.step === 1)!.evalPart)).toEqual([{ index: 0, of: 2 }, { index: 1, of: 2 }]);
    expect(authorize(t.c, t.c.members.get('a')!, { type: 'eval', step: 1, correct: 1, count: 2 })).toBeNull();
    expect(authorize(t.c, t.c.members.get('a')!, { type: 'eval', step: 1, correct: 3, count: 2 })?.code).toBe('NOT_ALLOWED');
    expect(authorize(t.c, t.c.members.get('a')!, { type: 'eval', step: 0, correct: 1, count: 2 })?.code).toBe('NOT_ALLOWED');
    t.c.evaluated('a', 1, 1, 2);
    expect(authorize(t.c, t.c.members.get('a')!, { type: 'eval', step: 1, correct: 1, count: 2 })?.code).toBe('REPLAYED');
    t.c.evaluated('b', 1, 2, 2);
    expect(t.c.metrics.find((x) => x.step === 1)!.testAccuracy).toBe(3 / 4);
    t.finishStep();
    t.finishStep();
    t.c.join('late', { send: () => {}, disconnect: () => {} });
    const fin: Msg = { type: 'final', step: 4, paramHash: H('a'), eval: null };
    expect(authorize(t.c, t.c.members.get('a')!, fin)).toBeNull();
    expect(authorize(t.c, t.c.members.get('a')!, { ...fin, step: 3 } as Msg)?.code).toBe('STALE_STEP');
    expect(authorize(t.c, t.c.members.get('late')!, fin)?.code).toBe('NOT_ALLOWED');
  });
});
