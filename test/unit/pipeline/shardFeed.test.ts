import { describe, expect, it, vi } from 'vitest';
import { encodeShard, splitSizes, type StoredDatasetMeta, loadStoredDataset } from '../../../shared/datasetShards.ts';
import { memoryShardStore, ShardCache } from '../../../shared/shardCache.ts';
import { ShardPlan } from '../../../shared/shardPlan.ts';
import { ShardFeed } from '../../../client/worker/shardFeed.ts';
import { sha256Hex } from '../../../client/worker/openFeed.ts';

/** a classification dataset of `sizes` shards; feature 0 of sample i is i, its class i % 3 */
async function dataset(sizes: number[]) {
  const files = new Map<string, Uint8Array>();
  const shards: StoredDatasetMeta['shards'] = [];
  let at = 0;
  for (const count of sizes) {
    const x = new Float32Array(count * 2);
    const y = new Uint32Array(count);
    for (let j = 0; j < count; j++) {
      x[2 * j] = at + j;
      x[2 * j + 1] = -(at + j);
      y[j] = (at + j) % 3;
    }
    const b = encodeShard({ task: 'classification', featureShape: [2], targetShape: [], count, x, y });
    const hash = await sha256Hex(b);
    files.set(hash, b);
    shards.push({ hash, start: at, count, bytes: b.length });
    at += count;
  }
  const meta: StoredDatasetMeta = {
    id: 'ds_000000000000000000000001', name: 't', task: 'classification', featureShape: [2], classes: ['a', 'b', 'c'], numClasses: 3, targetShape: null,
    size: at, ...splitSizes(at), format: 'csv', label: 'y', bytes: 0, uploadHash: '', stats: { mean: [0, 0], std: [1, 1] }, shards, createdAt: 0, testFrom: null, shipped: false,
  };
  return { meta, files };
}

const spec = (batchSize: number) => ({ batchSize, seed: 3, dataset: { trainSize: 0, testSize: 0 } });

async function feed(meta: StoredDatasetMeta, files: Map<string, Uint8Array>, o: { budget?: number; tamper?: (hash: string, n: number) => boolean; prefetchSteps?: number } = {}) {
  const fetched: string[] = [];
  const cache = await ShardCache.open(memoryShardStore(), o.budget ?? 1 << 30);
  const f = new ShardFeed({
    meta, spec: spec(20), cache, sha256Hex,
    fetchShard: async (hash) => {
      fetched.push(hash);
      const b = Uint8Array.from(files.get(hash)!);
      if (o.tamper?.(hash, fetched.filter((h) => h === hash).length)) b[b.length - 1] ^= 1;
      return b;
    },
    prefetchSteps: o.prefetchSteps ?? 0,
  });
  return { f, fetched, cache };
}

describe('ShardFeed', () => {
  it('reads exactly the values of the whole dataset, fetching only the shards that hold them', async () => {
    const { meta, files } = await dataset([50, 50, 50, 50, 37]);
    const whole = await loadStoredDataset(meta, 'train', { fetchShard: async (h) => files.get(h)!, sha256Hex });
    const wholeTest = await loadStoredDataset(meta, 'test', { fetchShard: async (h) => files.get(h)!, sha256Hex });
    const { f, fetched } = await feed(meta, files);
    expect([f.trainSize, f.testSize]).toEqual([whole.size, wholeTest.size]);
    const idx = f.plan.indices(4, 0, 7);
    const { ds, idx: local } = await f.take('train', idx);
    Array.from(idx).forEach((k, i) => {
      expect(ds.x[local[i]! * 2]).toBe(whole.x[k * 2]);
      expect(ds.y[local[i]!]).toBe(whole.y[k]);
    });
    expect(new Set(fetched).size).toBe((f.plan as ShardPlan).shardsOf(4, 0, 7).length);
    expect(new Set(fetched).size).toBeLessThan(meta.shards.length);
    // a test range: only the shards holding it
    const r = await f.range('test', 0, 5);
    expect(Array.from(r.ds.x.subarray(0, 10))).toEqual(Array.from(wholeTest.x.subarray(0, 10)));
    expect(f.stats().fetched).toBe(fetched.length);
  });

  it('refuses a tampered shard (HASH_MISMATCH): fetched once more, then failed with the code', async () => {
    const { meta, files } = await dataset([30, 30]);
    const once = await feed(meta, files, { tamper: (_h, n) => n === 1 });
    await once.f.take('train', [0, 1, 40]);
    expect(once.f.stats()).toMatchObject({ hashMismatches: 2, fetched: 4 });
    const always = await feed(meta, files, { tamper: (h) => h === meta.shards[1]!.hash });
    await expect(always.f.take('train', [0, 40])).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(always.cache.has(meta.shards[1]!.hash)).toBe(false);
  });

  it('a cached shard altered at rest is dropped and fetched afresh', async () => {
    const { meta, files } = await dataset([30, 30]);
    const store = memoryShardStore();
    const cache = await ShardCache.open(store, 1 << 20);
    let n = 0;
    const f = new ShardFeed({ meta, spec: spec(20), cache, sha256Hex, fetchShard: async (h) => (n++, Uint8Array.from(files.get(h)!)) });
    await f.take('train', [0]);
    await f.settled(); // the cache write runs beside the step
    store.map.get(meta.shards[0]!.hash)![20] ^= 0xff;
    const g = new ShardFeed({ meta, spec: spec(20), cache, sha256Hex, fetchShard: async (h) => (n++, Uint8Array.from(files.get(h)!)) });
    const { ds } = await g.take('train', [1]);
    expect(ds.x[0]).toBe(1);
    expect(n).toBe(2);
  });

  it('a dataset 4× the cache budget trains through: every step reads right, the cache stays in budget', async () => {
    const { meta, files } = await dataset(Array.from({ length: 16 }, () => 40));
    const total = meta.shards.reduce((a, s) => a + s.bytes, 0);
    const { f, cache } = await feed(meta, files, { budget: Math.floor(total / 4) });
    const whole = await loadStoredDataset(meta, 'train', { fetchShard: async (h) => files.get(h)!, sha256Hex });
    for (let step = 0; step < 40; step++) {
      const idx = f.plan.indices(step);
      const { ds, idx: local } = await f.take('train', idx);
      Array.from(idx).forEach((k, i) => expect(ds.x[local[i]! * 2]).toBe(whole.x[k * 2]));
      expect(cache.stats().bytes).toBeLessThanOrEqual(total / 4);
    }
    expect(cache.stats().evictions).toBeGreaterThan(0);
  });

  it('prefetch fetches the next steps\' shards of the slice\'s lanes before they are asked for, and no other', async () => {
    const { meta, files } = await dataset(Array.from({ length: 24 }, () => 40));
    const { f, fetched } = await feed(meta, files, { prefetchSteps: 2 });
    const plan = f.plan as ShardPlan;
    // the positions of lanes 0 and 1 in a batch: the slice a member keeps while a window lasts
    const lanes01 = (step: number) => {
      const { lane } = plan.layout(step);
      const n = lane.filter((l) => l <= 1).length;
      return { start: 0, count: n };
    };
    const s0 = lanes01(0);
    await f.take('train', plan.indices(0, s0.start, s0.count));
    const first = fetched.length;
    f.prefetch(0, s0.start, s0.count);
    const want = new Set([1, 2].flatMap((k) => { const s = lanes01(k); return plan.shardsOf(k, s.start, s.count); }).map((s) => meta.shards[s]!.hash));
    await vi.waitFor(() => expect([...want].every((h) => fetched.includes(h))).toBe(true));
    // nothing outside those lanes
    const took = new Set(plan.shardsOf(0, s0.start, s0.count).map((s) => meta.shards[s]!.hash));
    expect(fetched.slice(first).every((h) => want.has(h) && !took.has(h))).toBe(true);
    const before = fetched.length;
    for (const k of [1, 2]) {
      const s = lanes01(k);
      await f.take('train', plan.indices(k, s.start, s.count));
    }
    expect(fetched.length).toBe(before); // nothing left to fetch
  });
});
