/**
 * Prediction jobs over a real server, real sockets and real HTTP uploads, with scripted
 * members (ProtocolClient) that upload the single-process outputs — or something else:
 * outputs in input order with a short last unit, each unit stored once, a dropped member's
 * units reissued, uploads from the wrong hands (a unit not yours, the wrong size, twice)
 * refused, and with `replicas: 2` an altered copy outvoted, its sender flagged and dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import type { ServerMessage } from '../../../shared/protocol.ts';
import { waitFor } from '../../../bench/src/pageHooks.ts';
import { ProtocolClient } from '../server/protocolClient.ts';
import { call, startServer } from '../server/serverHarness.ts';
import * as tf from '@tensorflow/tfjs';
import { connect } from '../../../client/api/index.ts';
import { modelBody, npyPayload, predictAll, savedMlp } from './predictFixtures.ts';

type Unit = Extract<ServerMessage, { type: 'unit' }>;
let s: TabswarmServer;
let ref: Awaited<ReturnType<typeof predictAll>>;
let body: ReturnType<typeof modelBody>;
let tfModel: tf.LayersModel;
const K = 3;

beforeAll(async () => {
  s = await startServer();
  const { model, saved } = await savedMlp([4], 8, K);
  body = modelBody(saved);
  tfModel = model;
  ref = await predictAll(model, createDatasetFiles().source, 'iris', 'test');
});
afterAll(() => s.close());

async function predictJob(extra: Record<string, unknown> = {}) {
  const r = await call(s.url, 'POST', '/api/jobs', { json: { kind: 'predict', model: body, dataset: 'iris', split: 'test', unitSize: 7, ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as unknown as { id: string; ownerToken: string };
}

const slice = (u: Unit) => new Uint8Array(ref.out.slice(u.start * K, (u.start + u.count) * K).buffer);
const nextUnit = (c: ProtocolClient) =>
  c.until('a unit', () => {
    const i = c.inbox.findIndex((m) => m.type === 'unit');
    return i < 0 ? undefined : (c.inbox.splice(i, 1)[0] as Unit);
  }, 20_000);

/** Answers units with `outputs(unit)` until `units-done` (or `stopAfter` units). */
async function serve(c: ProtocolClient, outputs: (u: Unit) => Uint8Array = slice, stopAfter = Infinity) {
  let n = 0;
  while (n < stopAfter) {
    const m = await c.until('a unit or units-done', () => {
      const i = c.inbox.findIndex((x) => x.type === 'unit' || x.type === 'units-done');
      return i < 0 ? (c.disconnected ? ({ type: 'units-done' } as const) : undefined) : c.inbox.splice(i, 1)[0]!;
    }, 20_000);
    if (m.type !== 'unit') return n;
    await c.upload(m.uploadId, outputs(m));
    n++;
  }
  return n;
}

async function member(jobId: string) {
  const c = await ProtocolClient.connect(s.url);
  const w = await c.join(jobId);
  expect(w.spec.kind).toBe('predict');
  c.ready();
  const model = await c.next('predict-model');
  expect(model.weights.byteLength).toBe((4 * 8 + 8 + 8 * K + K) * 4);
  return c;
}

async function download(id: string, token: string, format: string) {
  const r = await fetch(`${s.url}/api/jobs/${id}/predictions?format=${format}`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return new Uint8Array(await r.arrayBuffer());
}

const view = async (id: string) => (await call(s.url, 'GET', `/api/jobs/${id}`)).body as { status: string; prediction: Record<string, number | null> };

describe('prediction jobs', () => {
  it('a member that joined before the end and got ready after it is told units-done, not left waiting', async () => {
    const job = await predictJob();
    const late = await ProtocolClient.connect(s.url);
    await late.join(job.id); // joined, not ready yet (a tab still loading)
    const a = await member(job.id);
    await serve(a);
    await waitFor('prediction done', async () => (await view(job.id)).status === 'done', 20_000, 50);
    late.ready();
    await late.until('units-done', () => late.inbox.find((m) => m.type === 'units-done'), 20_000);
    a.close();
    late.close();
  });

  it('two members: outputs in input order (short last unit), each unit once, as npy, CSV and JSON Lines', async () => {
    const job = await predictJob();
    const run = s.jobs.get(job.id).coordinator.prediction!;
    expect(run.book.units.map((u) => u.count)).toEqual([7, 7, 7, 7, 2]);
    const writes: number[] = [];
    const write = run.setup.output.write.bind(run.setup.output);
    run.setup.output.write = (start, out) => (writes.push(start), write(start, out));
    const [a, b] = [await member(job.id), await member(job.id)];
    const pending = await fetch(`${s.url}/api/jobs/${job.id}/predictions`, { headers: { authorization: `Bearer ${job.ownerToken}` } });
    await Promise.all([serve(a), serve(b)]);
    expect(pending.status).toBe(409);
    expect(writes.sort((x, y) => x - y)).toEqual([0, 7, 14, 21, 28]);
    expect(npyPayload(await download(job.id, job.ownerToken, 'npy'))).toEqual(ref.out);
    const csv = new TextDecoder().decode(await download(job.id, job.ownerToken, 'csv')).trim().split('\n');
    expect(csv[0]).toBe('y0,y1,y2');
    expect(Float32Array.from(csv.slice(1).flatMap((l) => l.split(',').map(Number)))).toEqual(ref.out);
    const jsonl = new TextDecoder().decode(await download(job.id, job.ownerToken, 'jsonl')).trim().split('\n');
    expect(Float32Array.from(jsonl.flatMap((l) => JSON.parse(l) as number[]))).toEqual(ref.out);
    const v = await view(job.id);
    let correct = 0;
    for (let i = 0; i < ref.size; i++) {
      const row = Array.from(ref.out.subarray(i * K, (i + 1) * K));
      if (row.indexOf(Math.max(...row)) === ref.labels![i]) correct++;
    }
    expect(v).toMatchObject({ status: 'done', prediction: { unitsDone: 5, samplesDone: 30, correct, disagreements: 0, flagged: 0 } });
    expect((await fetch(`${s.url}/api/jobs/${job.id}/predictions`)).status).toBe(401);
    a.close();
    b.close();
  });

  it('a member that drops mid-unit: its units go to another, and its old upload id is refused', async () => {
    const job = await predictJob();
    const a = await member(job.id);
    const held = await nextUnit(a);
    a.close();
    const c = s.jobs.get(job.id).coordinator;
    await waitFor('the server to see the member gone', () => [...c.members.values()].every((m) => m.state === 'left' || m.state === 'dropped'), 10_000);
    const late = await a.upload(held.uploadId, slice(held));
    expect(late.body.error?.code).toBe('UPLOAD_REJECTED');
    const b = await member(job.id);
    await serve(b);
    expect(npyPayload(await download(job.id, job.ownerToken, 'npy'))).toEqual(ref.out);
    const p = (await view(job.id)).prediction;
    expect(p).toMatchObject({ unitsDone: 5, samplesDone: 30 });
    expect(p.reissued).toBeGreaterThan(0);
    b.close();
  });

  it('uploads from the wrong hands: twice, unit-failed about a unit not yours, too short, too long', async () => {
    const job = await predictJob();
    // all three join first: a member dropped for what it sent bars its address for a while
    const [a, b, c] = [await member(job.id), await member(job.id), await member(job.id)];
    const [u0, u1] = [await nextUnit(a), await nextUnit(a)];
    expect((await a.upload(u0.uploadId, slice(u0))).status).toBe(200);
    expect((await a.upload(u0.uploadId, slice(u0))).body.error?.code).toBe('UPLOAD_REJECTED');
    a.send({ type: 'unit-failed', unit: u0.unit, code: 'X', message: 'not mine any more' });
    expect((await a.next('error')).code).toBe('NOT_ALLOWED');
    const short = slice(u1).slice(0, u1.count * K * 4 - 4);
    expect((await a.upload(u1.uploadId, short)).body.error?.code).toBe('UPLOAD_REJECTED');
    await a.until('a dropped', () => (a.disconnected ? true : undefined));
    const u2 = await nextUnit(b);
    const long = new Uint8Array(u2.count * K * 4 + 4);
    expect((await b.upload(u2.uploadId, long)).body.error?.code).toBe('UPLOAD_REJECTED');
    await b.until('b dropped', () => (b.disconnected ? true : undefined));
    await serve(c);
    expect(npyPayload(await download(job.id, job.ownerToken, 'npy'))).toEqual(ref.out);
    expect((await view(job.id)).prediction).toMatchObject({ unitsDone: 5, samplesDone: 30 });
    c.close();
  });

  it('replicas 2: an altered copy is outvoted by a third member, its sender flagged and dropped', async () => {
    const job = await predictJob({ replicas: 2 });
    const [a, liar, c] = [await member(job.id), await member(job.id), await member(job.id)];
    const altered = (u: Unit) => {
      const b = slice(u);
      new Float32Array(b.buffer)[0]! += 0.25;
      return b;
    };
    await serve(liar, altered, 1);
    await Promise.all([serve(a), serve(c)]);
    expect(liar.disconnected).toBe(true);
    expect(npyPayload(await download(job.id, job.ownerToken, 'npy'))).toEqual(ref.out);
    const v = await view(job.id);
    expect(v.prediction).toMatchObject({ unitsDone: 5, flagged: 1, disagreements: 1 });
    const events = (await call(s.url, 'GET', `/api/jobs/${job.id}`, { token: job.ownerToken })).body.events as { detail: string; peerId?: string }[];
    expect(events.some((e) => e.detail.startsWith('flagged') && e.peerId !== undefined)).toBe(true);
    a.close();
    c.close();
  });

  it('the client API: swarm.predict(model, dataset) → outputs in input order, as a tensor and as a stream of batches', async () => {
    const swarm = connect(s.url);
    const p = await swarm.predict(tfModel, 'iris', { split: 'test', unitSize: 7, replicas: 1 });
    expect(p.joinUrl).toContain(p.id);
    const a = await member(p.id);
    await serve(a);
    const v = await p.waitUntilDone({ timeoutMs: 20_000 });
    expect(v.prediction).toMatchObject({ unitsDone: 5, samplesDone: 30 });
    const t = await p.tensor(tf);
    expect(t.shape).toEqual([30, K]);
    expect(Float32Array.from(t.dataSync())).toEqual(ref.out);
    t.dispose();
    const starts: number[] = [];
    const rows: number[] = [];
    for await (const b of p.batches(8)) {
      starts.push(b.start);
      rows.push(...b.data);
    }
    expect(starts).toEqual([0, 8, 16, 24]);
    expect(Float32Array.from(rows)).toEqual(ref.out);
    a.close();
  });
});
