/**
 * Jobs survive a server restart on the same data directory (in-process servers, real SQLite,
 * real socket.io; protocol-speaking workers instead of browsers, so it runs in seconds):
 * the job comes back at its last checkpoint, the steps committed after it are forgotten and
 * redone, a rejoining worker is synced from the stored checkpoint, the finished job's
 * committed-step history is 0..steps-1 exactly once, and a finished job's status, history and
 * final weights — plus a paused job's status and the owner's learning rate — persist too.
 */
import { PROTOCOL_VERSION } from '../../../shared/protocol.ts';
import { decodeState } from '../../../shared/stateCodec.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { createStore } from '../../../server/store/store.ts';
import { ProtocolClient, runWorker } from './protocolClient.ts';
import { call, createJob, startServer } from './serverHarness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function dataDir() {
  const d = mkdtempSync(join(tmpdir(), 'tabswarm-persist-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
async function server(dir: string): Promise<TabswarmServer> {
  const s = await startServer({ dataDir: dir });
  cleanups.push(() => s.close());
  return s;
}
async function worker(s: TabswarmServer, jobId: string) {
  const c = await ProtocolClient.connect(s.url);
  cleanups.push(() => c.close());
  await c.join(jobId);
  c.ready();
  return c;
}

describe('persistence across restarts', () => {
  it('resumes at the last checkpoint, redoes only the steps after it, and ends with every step committed once', async () => {
    const dir = dataDir();
    let s = await server(dir);
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 20, checkpointEvery: 5, evalEvery: 5 });
    const w1 = await worker(s, job.id);
    await runWorker(w1, { stopAfterStep: 11 }); // commits 0..11; checkpoints at 5 and 10; evaluations at 4 and 9
    const before = await call(s.url, 'GET', `/api/jobs/${job.id}`);
    expect(before.body).toMatchObject({ step: 12, checkpointStep: 10, status: 'running' });
    await s.close();
    const rows = createStore({ dir });
    expect(rows.members(job.id)).toEqual([
      expect.objectContaining({ state: 'dropped', reason: 'disconnect', backend: 'cpu', adapter: 'test adapter', userAgent: 'protocol-client' }),
    ]);
    expect(rows.metrics(job.id).filter((m) => m.testAccuracy !== undefined).map((m) => m.step)).toEqual([4, 9]);
    rows.close();

    s = await server(dir);
    const back = await call(s.url, 'GET', `/api/jobs/${job.id}/metrics`, { token: job.ownerToken });
    expect((back.body.metrics as { step: number }[]).map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const restart = (back.body.events as { kind: string; detail: string }[]).filter((e) => e.kind === 'rollback').at(-1)!;
    expect(restart.detail).toContain('the checkpoint at step 10');
    expect(restart.detail).toContain('2 committed step(s) will be redone');
    const view = await call(s.url, 'GET', `/api/jobs/${job.id}`, { token: job.ownerToken });
    expect(view.body).toMatchObject({ status: 'waiting', step: 10, checkpointStep: 10 });
    expect((view.body.events as { kind: string }[]).some((e) => e.kind === 'join')).toBe(true); // history before the restart

    const w2 = await worker(s, job.id);
    const sync = await w2.next('sync-state');
    expect(sync.step).toBe(10);
    expect(decodeState(sync.state)).toMatchObject({ step: 10, optimizer: { iterations: 10 } }); // the checkpoint the first worker uploaded
    w2.inbox.unshift(sync);
    const { committed } = await runWorker(w2);
    expect(committed).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const finalView = await waitForView(s, job.id, (v) => v.hasWeights === true);
    expect(finalView).toMatchObject({ status: 'done', step: 20 });
    const m = await call(s.url, 'GET', `/api/jobs/${job.id}/metrics`);
    expect((m.body.metrics as { step: number }[]).map((x) => x.step)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await s.close();
    const final = createStore({ dir });
    expect(final.metrics(job.id).filter((x) => x.testAccuracy !== undefined).map((x) => x.step)).toEqual([4, 9, 14, 19]); // 19: after 'done'
    final.close();

    s = await server(dir);
    const again = await call(s.url, 'GET', `/api/jobs/${job.id}`);
    expect(again.body).toMatchObject({ status: 'done', step: 20, hasWeights: true });
    const m2 = await call(s.url, 'GET', `/api/jobs/${job.id}/metrics`);
    expect((m2.body.metrics as { step: number }[]).map((x) => x.step)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const weights = await fetch(`${s.url}/api/jobs/${job.id}/weights`, { headers: { authorization: `Bearer ${job.ownerToken}` } });
    expect(weights.status).toBe(200);
    expect([...new Float32Array(await weights.arrayBuffer())]).toEqual([1, 2, 3]);
    const late = await ProtocolClient.connect(s.url);
    cleanups.push(() => late.close());
    late.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: job.id });
    expect((await late.next('error')).message).toContain('is done');
  });

  it('a job restarted before its first checkpoint starts again from step 0', async () => {
    const dir = dataDir();
    let s = await server(dir);
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 10, checkpointEvery: 5 });
    await runWorker(await worker(s, job.id), { stopAfterStep: 2 });
    await s.close();
    s = await server(dir);
    expect((await call(s.url, 'GET', `/api/jobs/${job.id}`)).body).toMatchObject({ step: 0, checkpointStep: null, status: 'waiting' });
    expect((await call(s.url, 'GET', `/api/jobs/${job.id}/metrics`)).body.metrics).toEqual([]);
    const { committed } = await runWorker(await worker(s, job.id));
    expect(committed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps a paused job paused and the learning rate the owner set; the owner token still works', async () => {
    const dir = dataDir();
    let s = await server(dir);
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 10 });
    expect((await call(s.url, 'POST', `/api/jobs/${job.id}/learning-rate`, { token: job.ownerToken, json: { learningRate: 0.0125 } })).status).toBe(200);
    expect((await call(s.url, 'POST', `/api/jobs/${job.id}/pause`, { token: job.ownerToken })).body).toMatchObject({ status: 'paused' });
    await s.close();
    s = await server(dir);
    expect((await call(s.url, 'GET', '/api/jobs')).body.jobs).toEqual([expect.objectContaining({ id: job.id, status: 'paused' })]);
    expect((await call(s.url, 'GET', `/api/jobs/${job.id}`)).body).toMatchObject({ status: 'paused', learningRate: 0.0125 });
    expect((await call(s.url, 'POST', `/api/jobs/${job.id}/resume`, { token: 'not-the-token' })).status).toBe(401);
    expect((await call(s.url, 'POST', `/api/jobs/${job.id}/resume`, { token: job.ownerToken })).body).toMatchObject({ status: 'waiting' });
    const w = await worker(s, job.id);
    const step = await w.next('step');
    expect(step.learningRate).toBe(0.0125);
  });
});

async function waitForView(s: TabswarmServer, id: string, pred: (v: Record<string, unknown>) => boolean) {
  // polls the REST view (not a sleep: returns as soon as it holds)
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = (await call(s.url, 'GET', `/api/jobs/${id}`)).body;
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`job view never matched: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
