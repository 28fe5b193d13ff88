/**
 * How a worker reads samples: a DataFeed hands out the samples a step or an evaluation part
 * needs: read shard by shard, only the shards needed, through a bounded cache (ShardFeed), or
 * held whole (WholeFeed, every shard downloaded first: the old path, for `bench data`).
 */
import type { Dataset, Split } from '../../shared/datasets.ts';
import type { SamplePlan } from '../../shared/shardPlan.ts';

export interface FeedStats {
  /** shards (and their bytes) fetched from the server */
  fetched: number;
  fetchedBytes: number;
  /** shards read from the persistent cache */
  cacheHits: number;
  /** shards refused for a hash mismatch */
  hashMismatches: number;
  /** bytes of decoded samples held in memory now, and the most ever */
  memoryBytes: number;
  peakMemoryBytes: number;
}

export interface DataFeed {
  readonly plan: SamplePlan;
  readonly trainSize: number;
  readonly testSize: number;
  /** a dataset to calibrate backends on (its first samples are enough) */
  calibration(): Dataset;
  /** samples `indices` of `split`: a dataset and where they are in it */
  take(split: Split, indices: ArrayLike<number>): Promise<{ ds: Dataset; idx: ArrayLike<number> }>;
  /** samples [start, end) of `split`: a dataset and where the range is in it */
  range(split: Split, start: number, end: number): Promise<{ ds: Dataset; start: number; end: number }>;
  /** starts fetching what the next steps will likely read (this worker's slice [start, start+count)) */
  prefetch(step: number, start: number, count: number): void;
  /** shard indices held in the cache (empty for a whole dataset) */
  held(): number[];
  stats(): FeedStats;
}

/** A dataset downloaded whole before the first step (the path every job took before shards). */
export class WholeFeed implements DataFeed {
  private readonly bytes: number;
  constructor(readonly plan: SamplePlan, private readonly train: Dataset, private readonly test: Dataset) {
    this.bytes = train.x.byteLength + train.y.byteLength + test.x.byteLength + test.y.byteLength;
  }
  get trainSize() {
    return this.train.size;
  }
  get testSize() {
    return this.test.size;
  }
  calibration() {
    return this.train;
  }
  async take(split: Split, indices: ArrayLike<number>) {
    return { ds: split === 'train' ? this.train : this.test, idx: indices };
  }
  async range(split: Split, start: number, end: number) {
    return { ds: split === 'train' ? this.train : this.test, start, end };
  }
  prefetch() {}
  held() {
    return [];
  }
  stats(): FeedStats {
    // downloaded whole before the first step (not shard by shard): only what it holds counts here
    return { fetched: 0, fetchedBytes: 0, cacheHits: 0, hashMismatches: 0, memoryBytes: this.bytes, peakMemoryBytes: this.bytes };
  }
}
