/**
 * A stored dataset read shard by shard: only the shards that hold the samples asked for are
 * fetched, each checked against its SHA-256 name (HASH_MISMATCH, fetched once more, then
 * failed), kept in the bounded persistent cache (shared/shardCache.ts) across steps and
 * sessions, and decoded into a bounded in-memory LRU. `prefetch` fetches the shards the next
 * steps' slice will likely read (the plan is a function of the job, the slice usually stays)
 * while the current step computes.
 */
import { asWorkerDataset, decodeShard, isTestSample, standardizeFeatures, prod, testsIn, type Shard, type StoredDatasetMeta } from '../../shared/datasetShards.ts';
import type { Dataset, Split } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import type { ShardCache } from '../../shared/shardCache.ts';
import { ShardPlan, testCounts, trainCounts, upcomingShards, type SamplePlan } from '../../shared/shardPlan.ts';
import { samplePlanFor } from '../../shared/samplePlan.ts';
import type { DataFeed, FeedStats } from './dataFeed.ts';

export interface ShardFeedDeps {
  meta: StoredDatasetMeta;
  /** `steps`: the job's last step bounds prefetch (nothing is fetched for steps that never come) */
  spec: { batchSize: number; seed: number; steps?: number; dataset: { trainSize: number; testSize: number }; standardize?: boolean };
  /** the shard's bytes from the server */
  fetchShard(hash: string): Promise<Uint8Array>;
  sha256Hex(bytes: Uint8Array): Promise<string>;
  cache: ShardCache;
  /** decoded samples held in memory (default 64 MiB; the shards of a step are held whatever it says) */
  memoryBytes?: number;
  /** how many steps ahead to prefetch (default PREFETCH_STEPS; 0: none) */
  prefetchSteps?: number;
}

interface Decoded {
  shard: Shard;
  /** per split: the shard's local sample offsets of that split, in order */
  train: Uint32Array;
  test: Uint32Array;
  bytes: number;
}

/** Steps of lookahead for prefetch by default (see `bench data` for what others measured). */
export const PREFETCH_STEPS = 2;

const prefix = (xs: number[]) => {
  let at = 0;
  return xs.map((c) => ((at += c), at - c));
};

export class ShardFeed implements DataFeed {
  readonly plan: SamplePlan;
  readonly trainSize: number;
  readonly testSize: number;
  private readonly counts: Record<Split, number[]>;
  private readonly starts: Record<Split, number[]>;
  private readonly byHash: Map<string, number>;
  private readonly memory = new Map<number, Decoded>();
  private readonly loading = new Map<number, Promise<Decoded>>();
  private memoryUsed = 0;
  private prefetching = 0;
  /** the latest background cache write: the cache runs its writes in order, so this one settles last (`settled`) */
  private persisting: Promise<unknown> = Promise.resolve();
  private readonly s = { fetched: 0, fetchedBytes: 0, cacheHits: 0, hashMismatches: 0, peakMemoryBytes: 0, evalFetched: 0, evalFetchedBytes: 0, evictions: 0 };

  constructor(private readonly d: ShardFeedDeps) {
    const { meta, spec } = d;
    const testFrom = meta.testFrom ?? null;
    this.counts = { train: trainCounts(meta.shards, spec.dataset.trainSize, testFrom), test: testCounts(meta.shards, spec.dataset.testSize, testFrom) };
    this.starts = { train: prefix(this.counts.train), test: prefix(this.counts.test) };
    this.trainSize = this.counts.train.reduce((a, b) => a + b, 0);
    this.testSize = this.counts.test.reduce((a, b) => a + b, 0);
    this.byHash = new Map(meta.shards.map((s, i) => [s.hash, i]));
    this.plan = samplePlanFor(spec, meta);
  }

  /** (shard, the k-th sample of the split in that shard) of the split's sample `i` */
  private locate(split: Split, i: number): { shard: number; k: number } {
    const starts = this.starts[split];
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    // skip shards with no sample of the split starting at the same index
    while (lo < starts.length - 1 && this.counts[split][lo] === 0) lo++;
    if (!(i >= 0 && i < starts[lo]! + this.counts[split][lo]!)) throw new RangeError(`${split} sample ${i} is outside the dataset`);
    return { shard: lo, k: i - starts[lo]! };
  }

  calibration(): Dataset {
    // zeros of the right shape: a backend's speed does not depend on the values, and a real
    // shard fetched just to calibrate would be one this tab may never train on
    const { meta } = this.d;
    const n = Math.min(32, this.d.spec.batchSize);
    return asWorkerDataset({ id: meta.id, task: meta.task, size: n, featureShape: meta.featureShape, targetShape: meta.targetShape ?? [], numClasses: meta.numClasses ?? 0, x: new Float32Array(n * prod(meta.featureShape)), y: new Uint32Array(n) });
  }

  async take(split: Split, indices: ArrayLike<number>): Promise<{ ds: Dataset; idx: ArrayLike<number> }> {
    const { meta } = this.d;
    const n = indices.length;
    const where = Array.from(indices, (i) => this.locate(split, i));
    const shards = [...new Set(where.map((w) => w.shard))];
    const loaded = new Map(await Promise.all(shards.map(async (s) => [s, await this.load(s, split)] as const)));
    const F = prod(meta.featureShape);
    const tShape = meta.task === 'classification' ? [] : (meta.targetShape ?? [1]);
    const T = meta.task === 'classification' ? 1 : prod(tShape);
    const x = new Float32Array(n * F);
    const y = meta.task === 'classification' ? new Uint32Array(n) : new Float32Array(n * T);
    where.forEach(({ shard, k }, i) => {
      const dec = loaded.get(shard)!;
      const j = dec[split][k]!;
      x.set(dec.shard.x.subarray(j * F, (j + 1) * F), i * F);
      y.set(dec.shard.y.subarray(j * T, (j + 1) * T), i * T);
    });
    // the upload's statistics, in float32, as every replica and the reference apply them
    if (this.d.spec.standardize) {
      if (!meta.stats) throw new TabswarmError('BAD_JOB_SPEC', `standardize: dataset ${meta.id} carries no feature statistics`);
      standardizeFeatures(x, meta.stats);
    }
    const ds = asWorkerDataset({ id: meta.id, task: meta.task, size: n, featureShape: meta.featureShape, targetShape: tShape, numClasses: meta.numClasses ?? 0, x, y });
    return { ds, idx: Uint32Array.from({ length: n }, (_, i) => i) };
  }

  async range(split: Split, start: number, end: number): Promise<{ ds: Dataset; start: number; end: number }> {
    const hi = Math.min(end, split === 'train' ? this.trainSize : this.testSize);
    const { ds } = await this.take(split, Uint32Array.from({ length: Math.max(0, hi - start) }, (_, i) => start + i));
    return { ds, start: 0, end: ds.size };
  }

  prefetch(step: number, start: number, count: number): void {
    const steps = this.d.spec.steps;
    const k = Math.min(this.d.prefetchSteps ?? PREFETCH_STEPS, steps !== undefined ? steps - 1 - step : Infinity);
    if (!(this.plan instanceof ShardPlan) || k <= 0 || count <= 0) return;
    // the shards of the lanes the slice keeps (shared/shardPlan.ts upcomingShards)
    const want = upcomingShards(this.plan, step, start, count, k);
    for (const s of want) {
      if (this.memory.has(s) || this.loading.has(s) || this.prefetching >= 4) continue;
      this.prefetching++;
      void this.load(s).catch(() => {}).finally(() => this.prefetching--);
    }
  }

  /** Resolves once the cache writes started so far are done. */
  settled(): Promise<void> {
    return this.persisting.then(() => {});
  }

  held(): number[] {
    return this.d.cache.keys().map((h) => this.byHash.get(h)).filter((i): i is number => i !== undefined).sort((a, b) => a - b).slice(0, 4096);
  }

  /** FeedStats, and of those fetches the ones a test read (an evaluation part) made */
  stats(): FeedStats & { evalFetched: number; evalFetchedBytes: number; evictions: number } {
    return { ...this.s, evictions: this.d.cache.stats().evictions, memoryBytes: this.memoryUsed };
  }

  /** The shard, decoded: from memory, the cache, or the server (one load per shard at a time). */
  private load(index: number, split: Split = 'train'): Promise<Decoded> {
    const hit = this.memory.get(index);
    if (hit) {
      this.memory.delete(index);
      this.memory.set(index, hit);
      return Promise.resolve(hit);
    }
    let p = this.loading.get(index);
    if (!p) {
      p = this.fetchVerified(index, split).then((bytes) => this.keep(index, bytes)).finally(() => this.loading.delete(index));
      this.loading.set(index, p);
    }
    return p;
  }

  private async fetchVerified(index: number, split: Split): Promise<Uint8Array> {
    const { hash } = this.d.meta.shards[index]!;
    const cached = await this.d.cache.get(hash);
    if (cached) {
      if ((await this.d.sha256Hex(cached)) === hash) {
        this.s.cacheHits++;
        return cached;
      }
      await this.d.cache.remove(hash); // altered at rest: fetched afresh
    }
    let got = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const bytes = await this.d.fetchShard(hash);
      this.s.fetched++;
      this.s.fetchedBytes += bytes.length;
      if (split === 'test') {
        this.s.evalFetched++;
        this.s.evalFetchedBytes += bytes.length;
      }
      got = await this.d.sha256Hex(bytes);
      if (got === hash) {
        // kept for later steps and sessions in the background: the step that waits for this
        // shard need not also wait for the cache's serialized writes (measured: `bench data`)
        this.persisting = this.d.cache.put(hash, bytes).catch(() => false);
        return bytes;
      }
      this.s.hashMismatches++;
    }
    throw new TabswarmError('HASH_MISMATCH', `shard ${hash} of dataset ${this.d.meta.id} hashes to ${got} (twice): refused`);
  }

  private keep(index: number, bytes: Uint8Array): Decoded {
    const { meta } = this.d;
    const ref = meta.shards[index]!;
    const shard = decodeShard(bytes);
    const tShape = meta.task === 'classification' ? [] : (meta.targetShape ?? [1]);
    const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    if (shard.count !== ref.count || shard.task !== meta.task || !same(shard.featureShape, meta.featureShape) || !same(shard.targetShape, tShape)) {
      throw new TabswarmError('DATASET_INVALID', `shard ${ref.hash} does not match dataset ${meta.id}'s metadata`);
    }
    const train: number[] = [];
    const test: number[] = [];
    for (let j = 0; j < shard.count; j++) (isTestSample(ref.start + j, meta.testFrom ?? null) ? test : train).push(j);
    const dec: Decoded = { shard, train: Uint32Array.from(train), test: Uint32Array.from(test), bytes: shard.x.byteLength + shard.y.byteLength };
    this.memory.set(index, dec);
    this.memoryUsed += dec.bytes;
    this.s.peakMemoryBytes = Math.max(this.s.peakMemoryBytes, this.memoryUsed);
    const budget = this.d.memoryBytes ?? 64 << 20;
    for (const [i, old] of this.memory) {
      if (this.memoryUsed <= budget || i === index) break;
      this.memory.delete(i);
      this.memoryUsed -= old.bytes;
    }
    return dec;
  }
}
