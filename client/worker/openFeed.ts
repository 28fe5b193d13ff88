/**
 * Opens a job's DataFeed: every dataset (the shipped ones too) is a store entry, read shard by
 * shard through the cache (ShardFeed) after its metadata; `whole` downloads every shard of both
 * splits first (WholeFeed: what every tab did before the store, kept for `bench data`).
 */
import { loadDataset, type DatasetSource } from '../../shared/datasets.ts';
import type { StoredDatasetMeta } from '../../shared/datasetShards.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { memoryShardStore, ShardCache } from '../../shared/shardCache.ts';
import { samplePlanFor } from '../../shared/samplePlan.ts';
import { WholeFeed, type DataFeed } from './dataFeed.ts';
import { ShardFeed } from './shardFeed.ts';
import { sha256Hex } from '../../shared/sha256.ts';
export { sha256Hex };

export interface FeedOptions {
  /** the persistent shard cache (default: 256 MiB in memory) */
  cache?: () => Promise<ShardCache>;
  /** a shard's bytes; default: the source's `shards/<hash>` */
  fetchShard?: (datasetId: string, hash: string, peerId: string) => Promise<Uint8Array>;
  prefetchSteps?: number;
  memoryBytes?: number;
  /** download the whole dataset before the first step (`?feed=whole`) */
  whole?: boolean;
}


/** `peerId` names this worker on its shard requests (the server's per-peer counters) */
export async function openFeed(spec: JobSpec, source: DatasetSource, o: FeedOptions = {}, peerId = ''): Promise<DataFeed> {
  const id = spec.dataset.id;
  const meta = JSON.parse(new TextDecoder().decode(await source(id, 'meta.json'))) as StoredDatasetMeta;
  if (o.whole) {
    const load = { standardize: spec.standardize ?? false };
    const [train, test] = await Promise.all([loadDataset(source, id, 'train', spec.dataset.trainSize, load), loadDataset(source, id, 'test', spec.dataset.testSize, load)]);
    return new WholeFeed(samplePlanFor(spec, meta), train, test);
  }
  const cache = o.cache ? await o.cache() : await ShardCache.open(memoryShardStore(), 256 << 20);
  return new ShardFeed({
    meta, spec, cache, sha256Hex,
    fetchShard: (hash) => (o.fetchShard ? o.fetchShard(id, hash, peerId) : source(id, `shards/${hash}`)),
    ...(o.prefetchSteps !== undefined ? { prefetchSteps: o.prefetchSteps } : {}),
    ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}),
  });
}
