/**
 * The coordinator's judgements that strangers could abuse or faults could get wrong: what a
 * member's reports may decide, how a stall or a pause is judged, and how a job still
 * delivers its weights when members go at the end. Driven by hand (no sockets).
 */
import { describe, expect, it } from 'vitest';
import { hashFloat32 } from '../../../shared/hash.ts';
import { encodeState } from '../../../shared/stateCodec.ts';
import { coordinatorHarness, H } from './coordinatorHarness.ts';

const floats = (...xs: number[]) => Float32Array.from(xs);
const bytes = (p: Float32Array) => new Uint8Array(p.buffer.slice(0));

/** Runs the job to its end with `ids` as members; returns who was asked to upload the final weights. */
function runToDone(t: ReturnType<typeof coordinatorHarness>, ids: string[]) {
  for (const id of ids) t.add(id);
  for (let s = 0; s < t.spec.steps; s++) t.finishStep();
  expect(t.c.status).toBe('done');
  const uploader = ids.find((id) => t.last(id, 'done')?.upload)!;
  return { uploader, uploadId: t.last(uploader, 'done')!.uploadId! };
}

describe('coordinator: what one member may decide', () => {
  it('metrics come from the reduced vector all agree on: a reporter with forged loss/correct/count is an outlier and evicted', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    t.report('a', { loss: 30, correct: 10, count: 30 });
    t.report('b', { loss: 1e300, correct: 1e12, count: 30 });
    t.report('c', { loss: 30, correct: 10, count: 30 });
    expect(t.c.members.get('b')!.reason).toBe('evicted');
    expect(t.c.metrics).toEqual([]);
    t.report('a', { loss: 30, correct: 10, count: 30 });
    t.report('c', { loss: 30, correct: 10, count: 30 });
    expect(t.c.metrics[0]).toMatchObject({ step: 0, loss: 1, accuracy: 10 / 30, samples: 30 });
  });

  it('a speed claim is clamped to 4× the median of what others hold; the slice follows what the server measured', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    t.add('a', 100);
    t.add('b', 100);
    t.add('liar', 1e300);
    expect(t.c.members.get('liar')!.samplesPerSec).toBe(400);
    const s = t.lastStep('a')!;
    expect(s.slices.find((x) => x.peerId === 'liar')!.count).toBeLessThan(t.spec.batchSize);
  });

  it('a member cannot commit a step alone by reporting twice or for another member', () => {
    const t = coordinatorHarness({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    t.report('a');
    t.report('a');
    expect(t.c.step).toBe(0);
    t.report('b');
    expect(t.c.step).toBe(1);
  });

  it('a self-reported failure costs only its sender; k accusations remove at most k honest members and their k accusers', () => {
    const t = coordinatorHarness({ minWorkers: 6 });
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const id of ids) t.add(id);
    const s = t.lastStep('a')!;
    // two liars (b, d) each reject the frames of their honest predecessor
    t.c.stepFailed('b', s.step, s.epoch, 'FRAME_OUT_OF_BOUNDS', 'lie', 'a');
    const s2 = t.lastStep('c')!;
    t.c.stepFailed('d', s2.step, s2.epoch, 'FRAME_OUT_OF_BOUNDS', 'lie', 'c');
    const gone = ids.filter((id) => t.c.members.get(id)!.state === 'dropped');
    expect(gone.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(t.c.members.get('b')!.reason).toBe('accuser');
    expect(t.c.members.get('d')!.reason).toBe('accuser');
    expect(t.lastStep('e')!.ring).toEqual(['e', 'f']);
  });
});

describe('coordinator: faults judged on evidence', () => {
  it('a server that stood still for 15 s drops nobody: heartbeats queued meanwhile are read first', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    t.finishStep();
    t.advance(1000, ['a', 'b', 'c']);
    t.stall(15_000);
    for (const id of ['a', 'b', 'c']) t.c.touch(id); // the queued heartbeats
    t.advance(2000, ['a', 'b', 'c']);
    expect([...t.c.members.values()].map((m) => m.state)).toEqual(['active', 'active', 'active']);
    t.finishStep();
    expect(t.c.step).toBe(2);
  });

  it('without the pause, the same 15 s of silence is a heartbeat timeout', () => {
    const t = coordinatorHarness({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    t.advance(6000, ['a']);
    expect(t.c.members.get('b')!.reason).toBe('heartbeat-timeout');
  });

  it('a member that computed but stalls in the all-reduce is dropped at the deadline when a majority reported', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    for (let i = 0; i < 6; i++) t.finishStep(); // step times of 0 ms: the deadline falls to its minimum
    const s = t.lastStep('a')!;
    t.report('a');
    t.report('b');
    t.c.computed('c', s.step, s.epoch);
    t.advance(3500, ['a', 'b', 'c']);
    expect(t.c.members.get('c')!.reason).toBe('step-deadline');
    expect(t.lastStep('a')).toMatchObject({ step: s.step, ring: ['a', 'b'] });
  });

  it('a ring where all computed and nobody finished: the silent member goes, or with everyone alive the step is redone on fresh links', () => {
    const t = coordinatorHarness({ minWorkers: 3, steps: 30 });
    for (const id of ['a', 'b', 'c']) t.add(id);
    for (let i = 0; i < 6; i++) t.finishStep();
    let s = t.lastStep('a')!;
    for (const id of ['a', 'b', 'c']) t.c.computed(id, s.step, s.epoch);
    t.advance(5000, ['a', 'b']); // c froze after computing
    expect(t.c.members.get('c')!.reason).toBe('step-deadline');
    t.finishStep(); // the new ring formation step, then a few quick ones
    for (let i = 0; i < 6; i++) t.finishStep();
    s = t.lastStep('a')!;
    for (const id of ['a', 'b']) t.c.computed(id, s.step, s.epoch);
    t.advance(30_000, ['a', 'b']);
    expect([...t.c.members.values()].filter((m) => m.state === 'active').map((m) => m.id)).toEqual(['a', 'b']);
    expect(t.c.events.some((e) => /passed its deadline/.test(e.detail))).toBe(true);
  });
});

describe('coordinator: a job always delivers its weights', () => {
  it('the final uploader leaving before its upload: the next agreeing finisher is asked, and its upload is served', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    const { uploader, uploadId } = runToDone(t, ['a', 'b', 'c']);
    const p = floats(1, 2, 3);
    const others = ['a', 'b', 'c'].filter((id) => id !== uploader);
    for (const id of others) t.c.final(id, { step: 10, paramHash: hashFloat32(p), eval: null });
    t.c.remove(uploader, 'disconnect');
    const next = others.find((id) => t.last(id, 'done')?.upload)!;
    expect(next).toBeDefined();
    expect(t.last(next, 'done')!.uploadId).not.toBe(uploadId);
    expect(t.c.finalUploaded(uploader, 10, bytes(p))).toBe(false); // gone: its ticket is worthless
    expect(t.c.finalUploaded(next, 10, bytes(p))).toBe(true);
    expect(t.c.finalParams).toMatchObject({ step: 10, source: 'final', paramHash: hashFloat32(p) });
    expect(t.c.committedParamHash()).toBe(hashFloat32(p));
  });

  it('every finisher gone: the last agreed checkpoint is served, with the reason stated', () => {
    const t = coordinatorHarness({ minWorkers: 1, steps: 4, checkpointEvery: 2 });
    t.add('a');
    t.finishStep();
    t.finishStep();
    const cp = floats(7, 8);
    t.c.checkpointUploaded('a', 2, encodeState({ step: 2, params: cp, optimizer: { name: 'sgd', iterations: 2 } }));
    expect(t.c.checkpoint?.step).toBe(2);
    t.finishStep();
    t.finishStep();
    expect(t.c.status).toBe('done');
    t.c.remove('a', 'disconnect');
    expect(t.c.finalParams).toMatchObject({ step: 2, source: 'checkpoint', paramHash: hashFloat32(cp) });
    expect(t.c.failure).toMatch(/checkpoint of step 2, not of step 4/);
  });

  it('an upload the majority contradicts evicts its sender and the next finisher is asked', () => {
    const t = coordinatorHarness({ minWorkers: 3 });
    const { uploader } = runToDone(t, ['a', 'b', 'c']);
    const honest = floats(1, 2, 3);
    for (const id of ['a', 'b', 'c']) t.c.final(id, { step: 10, paramHash: hashFloat32(honest), eval: null });
    t.c.finalUploaded(uploader, 10, bytes(floats(6, 6, 6)));
    expect(t.c.finalParams).toBeNull();
    expect(t.c.members.get(uploader)!.reason).toBe('evicted');
    const next = ['a', 'b', 'c'].find((id) => id !== uploader && t.last(id, 'done')?.upload)!;
    t.c.finalUploaded(next, 10, bytes(honest));
    expect(t.c.finalParams?.paramHash).toBe(hashFloat32(honest));
  });

  it('finals from members that did not train to the end do not count', () => {
    const t = coordinatorHarness({ minWorkers: 2 });
    const { uploader } = runToDone(t, ['a', 'b']);
    t.add('stranger'); // joins after done (the socket layer refuses this; the coordinator must not care either)
    t.c.final('stranger', { step: 10, paramHash: H('f'), eval: null });
    expect(t.c.finish()!.reported.has('stranger')).toBe(false);
    expect(t.c.committedParamHash()).toBe(H('a'));
    expect(uploader).toBeDefined();
  });
});

describe('coordinator: bounded memory', () => {
  it('300 join/leave cycles keep at most maxGoneMembers members and maxEvents events; eventsAfter still counts every event', () => {
    const t = coordinatorHarness({ minWorkers: 1 }, { maxGoneMembers: 50, maxEvents: 100 });
    t.add('keeper');
    for (let i = 0; i < 300; i++) {
      t.add(`p${i}`);
      t.c.remove(`p${i}`, 'left');
    }
    expect(t.c.members.size).toBeLessThanOrEqual(51);
    expect(t.c.members.get('keeper')!.state).toBe('active');
    expect(t.c.events.length).toBe(100);
    expect(t.c.eventSeq).toBeGreaterThan(600);
    expect(t.c.eventsAfter(t.c.eventSeq - 3)).toEqual(t.c.events.slice(-3));
  });
});

describe('coordinator: failures are contained', () => {
  it('an exception inside the step timer quarantines the job: status failed, reason kept, members told', () => {
    const t = coordinatorHarness({ minWorkers: 2 });
    t.add('a');
    t.add('b');
    const a = t.c.members.get('a')!;
    a.handle = { ...a.handle, disconnect: () => { throw new Error('boom'); } }; // a bug deep in a drop
    t.advance(6000, ['b']);
    expect(t.c.status).toBe('failed');
    expect(t.c.failure).toMatch(/internal error in the step timer/);
    expect(t.last('b', 'error')).toMatchObject({ code: 'JOB_FAILED' });
    expect(t.disconnected.has('b')).toBe(true);
  });
});
