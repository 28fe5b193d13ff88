/**
 * PUT /api/uploads/:id from the wrong hands: an id nobody was given, an id used once already, a
 * body larger than the job's state, and a checkpoint from a member the round no longer wants.
 * Each is refused with UPLOAD_REJECTED; only the member asked, once, gets its bytes taken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { encodeState } from '../../../shared/stateCodec.ts';
import { ProtocolClient } from './protocolClient.ts';
import { createJob, startServer } from './serverHarness.ts';

let s: TabswarmServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.close());

const state = (step: number, params: Float32Array) => encodeState({ step, params, optimizer: { name: 'sgd', iterations: step } });

describe('uploads', () => {
  it('unknown, replayed and oversized uploads are refused; the asked member uploads once', async () => {
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 50, minWorkers: 1, checkpointEvery: 2 });
    const w = await ProtocolClient.connect(s.url);
    await w.join(job.id);
    w.ready();
    const P = s.jobs.get(job.id).vetted.trainableParams;
    const params = new Float32Array(P).fill(0.5);
    const H = '0123456789abcdef';
    for (let i = 0; i < 2; i++) {
      const st = await w.next('step');
      w.send({ type: 'reduced', step: st.step, epoch: st.epoch, hash: H, paramHash: H, computeMs: 1, allreduceMs: 1, loss: 1, correct: 1, count: 1 });
      await w.next('commit');
    }
    const req = await w.next('checkpoint-request');
    expect(req).toMatchObject({ step: 2, upload: true });
    const stranger = await ProtocolClient.connect(s.url);
    // an id nobody was given
    expect((await stranger.upload('A'.repeat(32), state(2, params))).body.error?.code).toBe('UPLOAD_REJECTED');
    // larger than this job's state may be: refused, and the id is spent
    const big = new Uint8Array(12 * P + 4096 + 1);
    expect((await stranger.upload(req.uploadId!, big)).body.error?.code).toBe('UPLOAD_REJECTED');
    expect(s.jobs.get(job.id).coordinator.checkpoint).toBeNull();
    // the next round's id, used once by its holder, then replayed
    for (let i = 0; i < 2; i++) {
      const st = await w.next('step');
      w.send({ type: 'reduced', step: st.step, epoch: st.epoch, hash: H, paramHash: H, computeMs: 1, allreduceMs: 1, loss: 1, correct: 1, count: 1 });
      await w.next('commit');
    }
    const req2 = await w.next('checkpoint-request');
    const ok = await w.upload(req2.uploadId!, state(4, params));
    expect(ok.status).toBe(200);
    expect(s.jobs.get(job.id).coordinator.checkpoint?.step).toBe(4);
    expect((await stranger.upload(req2.uploadId!, state(4, new Float32Array(P)))).body.error?.code).toBe('UPLOAD_REJECTED');
    expect(s.jobs.get(job.id).coordinator.checkpoint?.step).toBe(4);
    w.close();
    stranger.close();
  });
});
