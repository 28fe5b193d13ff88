/**
 * What a prediction reads, over a real server, real HTTP uploads and sockets, with scripted
 * members (ProtocolClient) that fetch each unit's inputs from the server as a tab does and run
 * the model on them: in-memory inputs (a tf.Tensor, or a TypedArray with its shape) uploaded by
 * `swarm.predict` and predicted in input order; a dataset of regression targets predicted with
 * its MAE and RMSE in the view, or with its labels ignored.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../client/api/index.ts';
import type { TabswarmServer } from '../../../server/app.ts';
import { PredictInputs } from '../../../shared/predictInputs.ts';
import type { ServerMessage } from '../../../shared/protocol.ts';
import { ProtocolClient } from '../server/protocolClient.ts';
import { call, startServer } from '../server/serverHarness.ts';
import { httpSource, savedMlp } from './predictFixtures.ts';

type Unit = Extract<ServerMessage, { type: 'unit' }>;
let s: TabswarmServer;

beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.close());

/** Seeded values in [-2, 2). */
const values = (n: number, seed: number) => {
  let v = seed;
  return Float32Array.from({ length: n }, () => ((v = (v * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 4);
};

const predictRows = async (model: tf.LayersModel, x: Float32Array, shape: number[]) => {
  const y = model.predict(tf.tensor(x, shape)) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  y.dispose();
  return out;
};

/** A member that joins, then answers each unit with `model.predict` on the inputs it fetched for it, until units-done. */
async function computingMember(jobId: string, model: tf.LayersModel) {
  const c = await ProtocolClient.connect(s.url);
  const w = await c.join(jobId);
  c.ready();
  await c.next('predict-model');
  const inputs = new PredictInputs(httpSource(s.url), w.spec.dataset.id, w.spec.predict!);
  for (;;) {
    const m = await c.until('a unit or units-done', () => {
      const i = c.inbox.findIndex((x) => x.type === 'unit' || x.type === 'units-done');
      return i < 0 ? undefined : c.inbox.splice(i, 1)[0]!;
    }, 20_000);
    if (m.type !== 'unit') break;
    const u = m as Unit;
    const rows = await inputs.rows(u.start, u.count);
    const out = await predictRows(model, rows.x, [u.count, ...rows.featureShape]);
    expect((await c.upload(u.uploadId, new Uint8Array(out.buffer))).status).toBe(200);
  }
  c.close();
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('prediction inputs', () => {
  it('a tf.Tensor and a TypedArray with its shape: uploaded, predicted, the outputs in input order (short last unit)', async () => {
    const { model } = await savedMlp([4], 8, 3);
    const x = values(23 * 4, 11);
    const ref = await predictRows(model, x, [23, 4]);
    const swarm = connect(s.url);
    const input = tf.tensor(x, [23, 4]);
    const p = await swarm.predict(model, input, { unitSize: 7 });
    input.dispose();
    expect(p.inputs?.id).toMatch(/^ds_/);
    const run = s.jobs.get(p.id).coordinator.prediction!;
    expect(run.book.units.map((u) => u.count)).toEqual([7, 7, 7, 2]);
    await computingMember(p.id, model);
    const v = await p.waitUntilDone({ timeoutMs: 20_000 });
    expect(v.prediction).toMatchObject({ unitsDone: 4, samplesDone: 23, correct: null, accuracy: null, mae: null, rmse: null });
    const t = await p.tensor(tf);
    expect(t.shape).toEqual([23, 3]);
    expect(maxAbsDiff(Float32Array.from(t.dataSync()), ref)).toBeLessThanOrEqual(1e-6);
    t.dispose();

    // rows reversed: a different upload, whose outputs come back reversed too
    const rev = new Float32Array(x.length);
    for (let i = 0; i < 23; i++) rev.set(x.subarray((22 - i) * 4, (23 - i) * 4), i * 4);
    const q = await swarm.predict(model, { data: rev, shape: [23, 4] }, { unitSize: 10 });
    expect(q.inputs?.id).not.toBe(p.inputs?.id);
    await computingMember(q.id, model);
    await q.waitUntilDone({ timeoutMs: 20_000 });
    const o = await q.outputs();
    for (let i = 0; i < 23; i++) expect(maxAbsDiff(o.data.subarray(i * 3, i * 3 + 3), ref.subarray((22 - i) * 3, (23 - i) * 3))).toBeLessThanOrEqual(1e-6);
  });

  it('bad in-memory inputs are refused before anything is uploaded', async () => {
    const { model } = await savedMlp([4], 8, 3);
    const swarm = connect(s.url);
    const before = (await swarm.datasets.list()).length;
    await expect(swarm.predict(model, { data: new Float32Array(10), shape: [3, 4] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(swarm.predict(model, { data: Float32Array.of(1, NaN, 2, 3), shape: [1, 4] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(swarm.predict(model, { data: new Float32Array(4), shape: [4] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect((await swarm.datasets.list()).length).toBe(before);
  });

  it('regression targets: the MAE and RMSE of the gathered predictions in the view; a model of another output size needs labels: false', async () => {
    const n = 31;
    const x = values(n * 3, 5);
    const target = values(n, 9);
    const csv = ['a,b,c,y', ...Array.from({ length: n }, (_, i) => [...x.subarray(i * 3, i * 3 + 3), target[i]].join(','))].join('\n');
    const swarm = connect(s.url);
    const ds = await swarm.datasets.add(csv, { format: 'csv', label: 'y', task: 'regression' });
    expect(ds.task).toBe('regression');
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 4, activation: 'tanh' }), tf.layers.dense({ units: 1 })] });
    const ref = await predictRows(model, Float32Array.from(x), [n, 3]);
    const p = await swarm.predict(model, ds.id, { unitSize: 8 });
    await computingMember(p.id, model);
    const v = await p.waitUntilDone({ timeoutMs: 20_000 });
    const o = await p.outputs();
    expect(maxAbsDiff(o.data, ref)).toBeLessThanOrEqual(1e-6);
    // stored values are float32: the targets as the store holds them
    const t = Float32Array.from(target);
    let abs = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      abs += Math.abs(o.data[i]! - t[i]!);
      sq += (o.data[i]! - t[i]!) ** 2;
    }
    expect(v.prediction).toMatchObject({ unitsDone: 4, samplesDone: n, correct: null, accuracy: null });
    expect(v.prediction!.mae).toBeCloseTo(abs / n, 5);
    expect(v.prediction!.rmse).toBeCloseTo(Math.sqrt(sq / n), 5);

    // the test split (read whole, not by shard): the metrics against its targets as a member reads them
    const tp = await swarm.predict(model, ds.id, { split: 'test', unitSize: 4 });
    await computingMember(tp.id, model);
    const tv = await tp.waitUntilDone({ timeoutMs: 20_000 });
    const to = await tp.outputs();
    const info = await new PredictInputs(httpSource(s.url), ds.id, { split: 'test', limit: 0 }).info();
    const tt = (await new PredictInputs(httpSource(s.url), ds.id, { split: 'test', limit: 0 }).rows(0, info.size)).targets!;
    expect(tt.length).toBe(to.rows);
    expect(tv.prediction!.mae).toBeCloseTo(to.data.reduce((a, v, i) => a + Math.abs(v - tt[i]!), 0) / to.rows, 5);

    // a classifier's 3 outputs against 1 target: refused with its code, accepted with the labels ignored
    const { model: classifier } = await savedMlp([3], 4, 3);
    await expect(swarm.predict(classifier, ds.id)).rejects.toMatchObject({ code: 'TASK_MISMATCH' });
    const q = await swarm.predict(classifier, ds.id, { unitSize: 16, labels: false });
    await computingMember(q.id, classifier);
    const w = await q.waitUntilDone({ timeoutMs: 20_000 });
    expect(w.prediction).toMatchObject({ unitsDone: 2, samplesDone: n, mae: null, rmse: null, accuracy: null });
    expect((await call(s.url, 'GET', `/api/jobs/${q.id}`)).body).toMatchObject({ status: 'done' });
  });
});
