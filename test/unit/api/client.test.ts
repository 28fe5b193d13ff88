/**
 * The job owner's client API (client/api/) against a real in-process server, with
 * ProtocolClient members that commit steps without training (no browser needed).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, connect, type StepMetricsWire, type Swarm } from '../../../client/api/index.ts';
import type { TabswarmServer } from '../../../server/app.ts';
import { ProtocolClient, runWorker } from '../../integration/server/protocolClient.ts';
import { startServer } from '../../integration/server/serverHarness.ts';

let s: TabswarmServer;
let swarm: Swarm;
const sockets: ProtocolClient[] = [];
beforeAll(async () => {
  s = await startServer();
  swarm = connect(s.url);
});
afterAll(async () => {
  for (const c of sockets) c.close();
  await s.close();
});

async function member(jobId: string): Promise<ProtocolClient> {
  const c = await ProtocolClient.connect(s.url);
  sockets.push(c);
  await c.join(jobId);
  c.ready();
  return c;
}

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof ApiError ? `${e.code} ${e.status}` : `not an ApiError: ${String(e)}`));

describe('client API', () => {
  it('createJob → steps() yields every committed step in order, once → waitUntilDone → weights()', async () => {
    const job = await swarm.createJob({ preset: 'iris-mlp', steps: 6, minWorkers: 1, checkpointEvery: 3 });
    expect(job.id).toMatch(/\S/);
    expect(job.joinUrl).toBe(`${s.url}/?job=${job.id}`);
    expect(job.dashboardUrl).toContain(`#token=${job.ownerToken}`);
    const w = await member(job.id);
    const worker = runWorker(w);
    const seen: StepMetricsWire[] = [];
    for await (const m of job.steps({ intervalMs: 20, maxIntervalMs: 200 })) seen.push(m);
    expect(seen.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen[0]).toMatchObject({ members: 1, samples: expect.any(Number), allreduceMs: expect.any(Number) });
    const done = await job.waitUntilDone({ timeoutMs: 20_000, intervalMs: 20 });
    expect(done).toMatchObject({ status: 'done', owner: true, hasWeights: true, step: 6 });
    await worker;
    expect([...(await job.weights())]).toEqual([1, 2, 3]);
    // the swarm's final evaluation: the one finisher scored 1 of its 2 test samples right
    expect(await job.evaluate({ timeoutMs: 5000 })).toEqual({ task: 'classification', accuracy: 0.5, mae: null, rmse: null });
    // a spectator's handle sees the public view and the same steps
    const spectator = swarm.job(job.id);
    expect(await spectator.view()).toMatchObject({ owner: false, status: 'done' });
    const again: number[] = [];
    for await (const m of spectator.steps({ from: 4 })) again.push(m.step);
    expect(again).toEqual([4, 5]);
    expect((await swarm.jobs()).map((j) => j.id)).toContain(job.id);
  });

  it('pause / resume / setLearningRate / stop; steps() ends on stop', async () => {
    const job = await swarm.createJob({ preset: 'iris-mlp', steps: 100_000, minWorkers: 1 });
    const w = await member(job.id);
    const worker = runWorker(w, { stopAfterStep: 3 }); // then it answers nothing more
    const it = job.steps({ intervalMs: 20, maxIntervalMs: 100 });
    expect((await it.next()).value).toMatchObject({ step: 0 });
    expect((await worker).committed).toEqual([0, 1, 2, 3]);
    expect((await job.pause()).status).toBe('paused');
    expect((await job.view()).status).toBe('paused');
    expect((await job.resume()).status).toBe('running');
    expect(await job.setLearningRate(0.05)).toMatchObject({ learningRate: 0.05 });
    expect((await job.view()).learningRate).toBe(0.05);
    expect(await code(job.setLearningRate(-1))).toBe('BAD_REQUEST 400');
    expect(await code(job.weights())).toBe('WEIGHTS_PENDING 409');
    expect((await job.stop()).status).toBe('stopped');
    const rest: number[] = [];
    for await (const m of { [Symbol.asyncIterator]: () => it }) rest.push(m.step);
    expect(rest).toEqual([1, 2, 3]);
    expect((await job.waitUntilDone({ timeoutMs: 5000 })).status).toBe('stopped');
    expect(await code(job.evaluate({ timeoutMs: 5000 }))).toBe('WRONG_STATE 0');
    w.close();
  });

  it('REST errors are ApiErrors with the server code', async () => {
    const job = await swarm.createJob({ preset: 'iris-mlp', steps: 5 });
    expect(await code(swarm.job('no-such-job').view())).toBe('UNKNOWN_JOB 404');
    expect(await code(swarm.job(job.id, 'not-the-token').pause())).toBe('UNAUTHORIZED 401');
    expect(await code(swarm.job(job.id, 'not-the-token').view())).toBe('UNAUTHORIZED 401');
    expect(await code(swarm.createJob({ preset: 'nope' as 'iris-mlp' }))).toBe('BAD_JOB_SPEC 400');
    expect(await code(swarm.datasets.get('ds_000000000000000000000000'))).toBe('DATASET_UNKNOWN 404');
    // no token: refused before any request
    expect(await code((swarm.job(job.id) as unknown as { stop(): Promise<unknown> }).stop())).toBe('UNAUTHORIZED 0');
    expect(await code(connect('http://127.0.0.1:1').jobs())).toBe('NETWORK 0');
    const err = await swarm.job('no-such-job').view().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/^UNKNOWN_JOB: /);
  });

  it('waitUntilDone is bounded, and its error says what timed out', async () => {
    const job = await swarm.createJob({ preset: 'iris-mlp', steps: 5, minWorkers: 3 });
    const err = await job.waitUntilDone({ timeoutMs: 150, intervalMs: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('TIMEOUT');
    expect((err as ApiError).message).toContain(`waiting for job ${job.id} to finish timed out after 150 ms (at step 0/5, status waiting`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect(await code(job.waitUntilDone({ timeoutMs: 10_000, signal: ac.signal }))).toBe('ABORTED 0');
  });

  it('datasets.add / list / get, then fit() with a LayersModel and model(tf) loads its weights', async () => {
    const rows = ['a,b,label', ...Array.from({ length: 60 }, (_, i) => `${i % 3},${(i * 7) % 5},${['x', 'y', 'z'][i % 3]}`)];
    const ds = await swarm.datasets.add(rows.join('\n') + '\n', { format: 'csv', label: 'label', name: 'tiny' });
    expect(ds).toMatchObject({ id: expect.stringMatching(/^ds_/), ownerToken: expect.any(String), deduplicated: false, size: 60, numClasses: 3 });
    expect((await swarm.datasets.add(new TextEncoder().encode(rows.join('\n') + '\n'), { format: 'csv', label: 'label' })).deduplicated).toBe(true);
    expect((await swarm.datasets.list()).map((d) => d.id)).toContain(ds.id);
    expect(await swarm.datasets.get(ds.id)).toMatchObject({ id: ds.id, featureShape: [2] });
    expect(await code(swarm.datasets.add('not,a\ncsv', { format: 'npy' }))).toMatch(/^DATASET_INVALID 400$/);

    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 4, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const job = await swarm.fit({ model, dataset: ds.id, optimizer: 'sgd', learningRate: 0.1, batchSize: 12, steps: 3 });
    model.dispose();
    const view = await job.view();
    expect(view.spec).toMatchObject({ dataset: { id: ds.id }, optimizer: { name: 'sgd', learningRate: 0.1 }, batchSize: 12, steps: 3, model: { class_name: 'Sequential' } });
    // at step 0 the model is the seeded initial weights every member starts from
    const loaded = await job.model(tf);
    const y = loaded.predict(tf.tensor2d([[1, 2]])) as tf.Tensor;
    expect(y.shape).toEqual([1, 3]);
    const p = [...(await y.data())] as number[];
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const art = await job.artifacts();
    expect(art.step).toBe(0);
    expect(art.weights.byteLength).toBe(4 * (2 * 4 + 4 + 4 * 3 + 3));
    loaded.dispose();
    y.dispose();
  });
});
