/**
 * The coordinator's decisions, driven by hand: a fake clock, a captured ticker and member
 * handles that record what they are sent. No sockets here; the e2e chaos test covers the wire.
 */
import { describe, expect, it } from 'vitest';
import { hashFloat32 } from '../../../shared/hash.ts';
import { encodeState } from '../../../shared/stateCodec.ts';
import { coordinatorHarness, H } from './coordinatorHarness.ts';

const setup = coordinatorHarness;

describe('coordinator', () => {
  it('waits for minWorkers, then opens step 0 with slices covering the batch once', () => {
    const t = setup({ minWorkers: 3 });
    t.add('a');
    t.add('b');
    expect(t.lastStep('a')).toBeUndefined();
    t.add('c');
    const s = t.lastStep('a')!;
    expect(s.ring).toEqual(['a', 'b', 'c']);
    expect(s.slices.reduce((n, x) => n + x.count, 0)).toBe(t.spec.batchSize);
  });

  it('commits only when every hash agrees; a mismatch aborts and redoes the step', () => {
    const t = setup({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    const s = t.lastStep('a')!;
    t.c.reduced('a', { type: 'reduced', step: 0, epoch: s.epoch, hash: H('1'), paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 15 });
    t.c.reduced('b', { type: 'reduced', step: 0, epoch: s.epoch, hash: H('2'), paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 15 });
    expect(t.last('a', 'commit')).toBeUndefined();
    expect(t.last('a', 'abort')).toMatchObject({ step: 0 });
    expect(t.lastStep('a')!.step).toBe(0);
    t.finishStep();
    expect(t.last('a', 'commit')).toMatchObject({ step: 0 });
    expect(t.c.step).toBe(1);
  });

  it('a member dropped mid-step: new epoch without it, same global batch re-sliced among survivors', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id, id === 'a' ? 300 : 100);
    const before = t.lastStep('a')!;
    t.c.remove('b', 'disconnect');
    const after = t.lastStep('a')!;
    expect(after.step).toBe(before.step);
    expect(after.epoch).toBe(before.epoch + 1);
    expect(after.ring).toEqual(['a', 'c']);
    const covered = after.slices.flatMap((s) => Array.from({ length: s.count }, (_, i) => s.start + i)).sort((x, y) => x - y);
    expect(covered).toEqual(Array.from({ length: t.spec.batchSize }, (_, i) => i));
    expect(after.slices[0]!.count).toBeGreaterThan(after.slices[1]!.count); // proportional to samples/s
    expect(t.c.events.some((e) => e.kind === 'drop' && e.peerId === 'b' && e.detail === 'disconnect')).toBe(true);
  });

  it('drops a member whose heartbeats stop', () => {
    const t = setup({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    t.advance(3000);
    t.c.touch('a');
    t.advance(3000);
    expect(t.c.members.get('b')!.state).toBe('dropped');
    expect(t.c.members.get('b')!.reason).toBe('heartbeat-timeout');
    expect(t.c.members.get('a')!.state).toBe('active');
    expect(t.disconnected.has('b')).toBe(true);
  });

  it('drops the member that has not finished computing by the deadline', () => {
    const t = setup({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    for (let i = 0; i < 6; i++) t.finishStep(); // step times are 0 ms: deadline falls to the minimum
    const s = t.lastStep('a')!;
    t.c.computed('a', s.step, s.epoch);
    t.c.touch('b');
    t.advance(3500);
    expect(t.c.members.get('b')!.reason).toBe('step-deadline');
    expect(t.lastStep('a')!.ring).toEqual(['a']);
  });

  it('a failed-link report against a suspect that then disconnects drops only the suspect', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    const s = t.lastStep('a')!;
    t.c.stepFailed('a', s.step, s.epoch, 'LINK_CLOSED', 'gone', 'c');
    expect(t.last('a', 'abort')).toMatchObject({ step: s.step });
    expect(t.lastStep('a')!.epoch).toBe(s.epoch); // held while the evidence comes in
    t.c.remove('c', 'disconnect');
    expect(t.c.members.get('a')!.state).toBe('active');
    expect(t.lastStep('a')!.ring).toEqual(['a', 'b']);
  });

  it('a failed-link report against a suspect silent since: the suspect goes at the end of the grace', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    const s = t.lastStep('a')!;
    t.c.stepFailed('a', s.step, s.epoch, 'LINK_CLOSED', 'gone', 'c');
    for (let i = 0; i < 4; i++) {
      t.advance(500);
      t.c.touch('a');
      t.c.touch('b');
    }
    expect(t.c.members.get('c')!.reason).toBe('link-failed');
    expect(t.c.members.get('a')!.state).toBe('active');
    expect(t.lastStep('a')!.ring).toEqual(['a', 'b']);
  });

  it('a failed-link report against a suspect that still talks to the server costs the accuser too', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    const s = t.lastStep('a')!;
    t.c.stepFailed('a', s.step, s.epoch, 'LINK_CLOSED', 'gone', 'c');
    for (let i = 0; i < 4; i++) {
      t.advance(500);
      for (const id of ['a', 'b', 'c']) t.c.touch(id);
    }
    expect(t.c.members.get('c')!.reason).toBe('link-failed');
    expect(t.c.members.get('a')!.reason).toBe('accuser');
    expect(t.lastStep('b')!.ring).toEqual(['b']);
  });

  it('a member reporting its own failure (no suspect) leaves the ring; the step is redone without it', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    const s = t.lastStep('a')!;
    t.c.stepFailed('b', s.step, s.epoch, 'INTERNAL', 'out of memory');
    expect(t.c.members.get('b')!.reason).toBe('step-failed');
    expect(t.lastStep('a')).toMatchObject({ step: s.step, ring: ['a', 'c'] });
  });

  it('admits a joiner at a step boundary after a state sync with matching hashes, rotating donors', () => {
    const t = setup({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    t.finishStep();
    t.add('j1');
    const open = t.lastStep('a')!;
    expect(open.ring).toEqual(['a', 'b']); // the open step goes on without the joiner
    t.finishStep();
    const send = t.last('a', 'sync-send') ?? t.last('b', 'sync-send');
    expect(send).toMatchObject({ step: 2, to: 'j1' });
    expect(t.last('j1', 'sync-receive')).toMatchObject({ step: 2 });
    const donor = t.last('a', 'sync-send') ? 'a' : 'b';
    expect(t.lastStep('a')!.step).toBe(1); // boundary held while syncing
    t.c.syncSent(donor, 2, 'j1', H('c'));
    t.c.synced('j1', 2, H('c'));
    expect(t.c.members.get('j1')!.state).toBe('active');
    expect(t.lastStep('a')).toMatchObject({ step: 2, ring: ['a', 'b', 'j1'] });
    t.finishStep();
    t.add('j2');
    t.finishStep();
    // a sync to j2 really went out, and from another member than the first donor
    const donors2 = ['a', 'b', 'j1'].filter((id) => t.last(id, 'sync-send')?.to === 'j2');
    expect(donors2).toHaveLength(1);
    expect(t.last(donors2[0]!, 'sync-send')).toMatchObject({ step: 4, to: 'j2' });
    expect(donors2[0]).not.toBe(donor);
  });

  it('a joiner whose synced hash differs from the donor is dropped', () => {
    const t = setup();
    t.add('a');
    t.finishStep();
    t.add('j');
    t.finishStep();
    t.c.syncSent('a', 2, 'j', H('c'));
    t.c.synced('j', 2, H('d'));
    expect(t.c.members.get('j')!.reason).toBe('sync-failed');
  });

  it('pauses when everyone leaves and resumes from the checkpoint when a worker returns', () => {
    const t = setup();
    t.add('a');
    t.finishStep();
    t.finishStep();
    expect(t.last('a', 'checkpoint-request')).toMatchObject({ step: 2, upload: true });
    const params = Float32Array.from([1, 2, 3]);
    const cpHash = hashFloat32(params);
    t.c.checkpointUploaded('a', 2, encodeState({ step: 2, params, optimizer: { name: 'sgd', iterations: 2 } }));
    expect(t.c.checkpoint?.step).toBe(2);
    t.finishStep();
    expect(t.c.step).toBe(3);
    t.c.remove('a', 'left');
    expect(t.c.status).toBe('waiting');
    t.add('n');
    expect(t.c.step).toBe(2);
    expect(t.last('n', 'sync-state')).toMatchObject({ step: 2 });
    expect(t.c.metrics.map((m) => m.step)).toEqual([0, 1]);
    t.c.synced('n', 2, cpHash);
    expect(t.lastStep('n')).toMatchObject({ step: 2, ring: ['n'] });
  });

  it('evicts the replica whose hashes differ from a strict majority, then redoes the step without it', () => {
    const t = setup({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    const s = t.lastStep('a')!;
    const rep = (id: string, hash: string) =>
      t.c.reduced(id, { type: 'reduced', step: 0, epoch: s.epoch, hash, paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 10 });
    rep('a', H('1'));
    rep('b', H('2'));
    rep('c', H('1'));
    expect(t.c.members.get('b')!.state).toBe('dropped');
    expect(t.c.members.get('b')!.reason).toBe('evicted');
    expect(t.c.events.some((e) => e.peerId === 'b' && /evicted: reduced vector or weights differ/.test(e.detail))).toBe(true);
    expect(t.lastStep('a')).toMatchObject({ step: 0, ring: ['a', 'c'] });
    expect(t.last('a', 'commit')).toBeUndefined();
  });

  it('without a majority a mismatch only redoes the step', () => {
    const t = setup({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    const s = t.lastStep('a')!;
    t.c.reduced('a', { type: 'reduced', step: 0, epoch: s.epoch, hash: H('1'), paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 10 });
    t.c.reduced('b', { type: 'reduced', step: 0, epoch: s.epoch, hash: H('2'), paramHash: H('a'), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 10 });
    expect([...t.c.members.values()].every((m) => m.state === 'active')).toBe(true);
    expect(t.lastStep('a')).toMatchObject({ step: 0, ring: ['a', 'b'] });
  });

  it('rejected frames: the sender is evicted and the accuser leaves the ring with it', () => {
    const t = setup({ minWorkers: 4 });
    for (const id of ['a', 'b', 'c', 'd']) t.add(id);
    const s = t.lastStep('a')!;
    t.c.stepFailed('b', s.step, s.epoch, 'FRAME_NON_FINITE', 'NaN in segment 1', 'a');
    expect(t.c.members.get('a')!.reason).toBe('evicted');
    expect(t.c.members.get('b')!.reason).toBe('accuser');
    expect(t.lastStep('c')).toMatchObject({ step: 0, ring: ['c', 'd'] });
  });

  it('keeps an uploaded checkpoint only when its bytes match its hash and a majority holds that hash', () => {
    const t = setup({ minWorkers: 3, checkpointEvery: 1 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    t.finishStep();
    const uploader = ['a', 'b', 'c'].find((id) => t.last(id, 'checkpoint-request')?.upload)!;
    const voters = ['a', 'b', 'c'].filter((id) => id !== uploader);
    const params = Float32Array.from([4, 5, 6]);
    const state = encodeState({ step: 1, params, optimizer: { name: 'sgd', iterations: 1 } });
    expect(hashFloat32(params)).toMatch(/^[0-9a-f]{16}$/);
    // bytes that are not a state of that step get the uploader evicted at once
    t.c.checkpointUploaded(uploader, 1, state.subarray(0, 9));
    expect(t.c.members.get(uploader)!.reason).toBe('evicted');
    expect(t.c.checkpoint).toBeNull();
    // next boundary: an honest upload is kept once a majority reports the same hash
    t.finishStep();
    const up2 = voters.find((id) => t.last(id, 'checkpoint-request')?.step === 2 && t.last(id, 'checkpoint-request')?.upload)!;
    const other = voters.find((id) => id !== up2)!;
    const p2 = Float32Array.from([7, 8, 9]);
    t.c.checkpointUploaded(up2, 2, encodeState({ step: 2, params: p2, optimizer: { name: 'sgd', iterations: 2 } }));
    expect(t.c.checkpoint).toBeNull(); // 1 of 2: not a strict majority yet
    t.c.paramHashVote(other, 2, hashFloat32(p2));
    expect(t.c.checkpoint?.step).toBe(2);
  });
});
