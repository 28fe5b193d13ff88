/**
 * Tasks in the dataset store and at job creation, over a real server (HTTP, SQLite, files):
 * `?task=` decides how numeric labels are read, npz float targets are regression, the store's
 * total quota refuses an upload with QUOTA_EXCEEDED and leaves nothing behind, the preview
 * route reads the first rows only, and a job whose loss does not fit its dataset is a 400.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions, TabswarmServer } from '../../../server/app.ts';
import { npy, zip } from '../../unit/datasets/fixtures.ts';
import { call, startServer } from './serverHarness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function server(o: ServerOptions = {}): Promise<TabswarmServer> {
  const s = await startServer({ rateLimits: { createJobPerIp: { burst: 1000, perSec: 100 } }, ...o });
  cleanups.push(() => s.close());
  return s;
}
type Up = { status: number; body: Record<string, unknown> & { id: string; error?: { code: string; message: string } } };
async function upload(s: TabswarmServer, body: Uint8Array | string, query: string): Promise<Up> {
  const r = await fetch(`${s.url}/api/datasets?${query}`, { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
  return { status: r.status, body: (await r.json()) as Up['body'] };
}
const files = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

const intCsv = 'a,b,count\n' + Array.from({ length: 30 }, (_, i) => `${i * 0.5},${i % 7},${(i * 3) % 11}`).join('\n') + '\n';

describe('tasks of uploaded datasets', () => {
  it('?task=regression reads integer labels as targets; absent, they are class ids; ?task=classification refuses non-integers', async () => {
    const s = await server();
    const inferred = await upload(s, intCsv, 'format=csv&label=count');
    expect(inferred.body).toMatchObject({ task: 'classification', numClasses: 11 });
    const reg = await upload(s, intCsv, 'format=csv&label=count&task=regression');
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ task: 'regression', targetShape: [1], numClasses: null });
    expect(reg.body.id).not.toBe(inferred.body.id);
    const floatCsv = 'a,y\n1,0.5\n2,1.5\n';
    const bad = await upload(s, floatCsv, 'format=csv&label=y&task=classification');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'DATASET_INVALID', message: expect.stringMatching(/task=classification: a label is not an integer/) });
    const odd = await upload(s, floatCsv, 'format=csv&label=y&task=ranking');
    expect(odd.body.error?.code).toBe('BAD_REQUEST');
    expect(s.datasets.list().filter((d) => !d.shipped)).toHaveLength(2);
  });

  it('npz: float y of any shape is a regression target; integer y (more than 256 classes) class ids', async () => {
    const s = await server();
    const x = Array.from({ length: 12 * 2 }, (_, i) => i / 4);
    const yf = Array.from({ length: 12 * 6 }, (_, i) => i * 0.25);
    const r = await upload(s, zip([{ name: 'x.npy', data: npy(x, [12, 2]) }, { name: 'y.npy', data: npy(yf, [12, 2, 3]) }]), 'format=npz');
    expect(r.body).toMatchObject({ task: 'regression', targetShape: [2, 3] });
    const yi = Array.from({ length: 12 }, (_, i) => i * 40);
    const c = await upload(s, zip([{ name: 'x.npy', data: npy(x, [12, 2]) }, { name: 'y.npy', data: npy(yi, [12], '<i4') }]), 'format=npz');
    expect(c.body).toMatchObject({ task: 'classification', numClasses: 441 });
  });

  it('the preview reads the first rows of the first shard(s), bounded', async () => {
    const s = await server({ datasets: { shardBytes: 64 } });
    const up = await upload(s, intCsv, 'format=csv&label=count&task=regression');
    const p = await call(s.url, 'GET', `/api/datasets/${up.body.id}/preview?rows=4`);
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ id: up.body.id, task: 'regression', featureShape: [2], targetShape: [1], label: 'count' });
    expect(p.body.rows).toEqual([
      { x: [0, 0], y: [0] },
      { x: [0.5, 1], y: [3] },
      { x: [1, 2], y: [6] },
      { x: [1.5, 3], y: [9] },
    ]);
    expect((p.body.shardsRead as number)).toBeLessThan((up.body.shards as unknown[]).length);
    expect((await call(s.url, 'GET', `/api/datasets/${up.body.id}/preview?rows=1000`)).body.rows).toHaveLength(30);
    expect((await call(s.url, 'GET', `/api/datasets/${up.body.id}/preview?rows=x`)).body.error?.code).toBe('BAD_REQUEST');
    expect((await call(s.url, 'GET', '/api/datasets/ds_0123456789abcdef01234567/preview')).status).toBe(404);
  });
});

describe('the store quota', () => {
  it('an upload that would bring the store over its quota is QUOTA_EXCEEDED before it is stored; nothing is left behind', async () => {
    const s = await server({ datasets: { quotaBytes: 4096 } });
    const first = await upload(s, intCsv, 'format=csv&label=count');
    expect(first.status).toBe(201);
    const used = s.datasets.usedBytes();
    expect(used).toBeGreaterThan(0);
    const before = files(s.datasets.dirs.shards).length;
    // declared length over the room left: refused before a byte is written
    const big = 'a,y\n' + '1,2\n'.repeat(1200);
    const r = await upload(s, big, 'format=csv&label=y');
    expect(r.status).toBe(507);
    expect(r.body.error).toMatchObject({ code: 'QUOTA_EXCEEDED', message: expect.stringMatching(/over its quota of 4096/) });
    // a small upload whose float32 shards outgrow the room: refused at commit
    const bytesNpy = npy(Array.from({ length: 250 * 4 }, (_, i) => i % 200), [250, 4], '|u1');
    const r2 = await upload(s, bytesNpy, 'format=npy');
    expect(bytesNpy.length).toBeLessThan(4096 - used);
    expect(r2.body.error?.code).toBe('QUOTA_EXCEEDED');
    expect(s.datasets.list().filter((d) => !d.shipped).map((d) => d.id)).toEqual([first.body.id]);
    expect(files(s.datasets.dirs.shards)).toHaveLength(before);
    expect(readdirSync(s.datasets.dirs.tmp)).toEqual([]);
    expect(s.datasets.usedBytes()).toBe(used);
    // after a delete there is room again
    await call(s.url, 'DELETE', `/api/datasets/${first.body.id}`, { token: first.body.ownerToken as string });
    expect((await upload(s, bytesNpy, 'format=npy')).status).toBe(201);
  });
});

describe('job creation on an uploaded dataset', () => {
  it('a loss of the other task is a 400 TASK_MISMATCH; the right one is created', async () => {
    const s = await server();
    const reg = await upload(s, intCsv, 'format=csv&label=count&task=regression');
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });
    const model = m.toJSON(undefined, false);
    m.dispose();
    const body = { model, optimizer: { name: 'sgd', learningRate: 0.01 }, dataset: { id: reg.body.id }, batchSize: 8, steps: 3 };
    const wrong = await call(s.url, 'POST', '/api/jobs', { json: { ...body, loss: 'sparseCategoricalCrossentropy' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: 'TASK_MISMATCH', message: expect.stringMatching(/holds regression targets/) });
    const ok = await call(s.url, 'POST', '/api/jobs', { json: { ...body, loss: 'meanSquaredError', standardize: true } });
    expect(ok.status).toBe(201);
    const view = await call(s.url, 'GET', `/api/jobs/${ok.body.id}`);
    expect(view.body).toMatchObject({ task: 'regression', test: { accuracy: null, mae: null, rmse: null } });
  });
});
