/**
 * Opens a job's DataFeed: a shipped dataset is downloaded whole (WholeFeed); a stored one is
 * read shard by shard through the cache (ShardFeed), after its metadata.
 */
import { loadDataset, type DatasetSource } from '../../shared/datasets.ts';
import type { StoredDatasetMeta } from '../../shared/datasetShards.ts';
import { isBuiltinDatasetId, type JobSpec } from '../../shared/jobSpec.ts';
import { memoryShardStore, ShardCache } from '../../shared/shardCache.ts';
import { samplePlanFor } from '../../shared/samplePlan.ts';
import { WholeFeed, type DataFeed } from './dataFeed.ts';
import { ShardFeed } from './shardFeed.ts';

export interface FeedOptions {
  /** the persistent shard cache (default: 256 MiB in memory) */
  cache?: () => Promise<ShardCache>;
  /** a shard's bytes; default: the source's `shards/<hash>` */
  fetchShard?: (datasetId: string, hash: string, peerId: string) => Promise<Uint8Array>;
  prefetchSteps?: number;
  memoryBytes?: number;
}

/** Web Crypto's SHA-256 as lower-case hex (tabs and Node ≥ 20 alike). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `peerId` names this worker on its shard requests (the server's per-peer counters) */
export async function openFeed(spec: JobSpec, source: DatasetSource, o: FeedOptions = {}, peerId = ''): Promise<DataFeed> {
  const id = spec.dataset.id;
  if (isBuiltinDatasetId(id)) {
    const load = { standardize: spec.standardize ?? false };
    const [train, test] = await Promise.all([loadDataset(source, id, 'train', spec.dataset.trainSize, load), loadDataset(source, id, 'test', spec.dataset.testSize, load)]);
    return new WholeFeed(samplePlanFor(spec, train.size), train, test);
  }
  const meta = JSON.parse(new TextDecoder().decode(await source(id, 'meta.json', 0))) as StoredDatasetMeta;
  const cache = o.cache ? await o.cache() : await ShardCache.open(memoryShardStore(), 256 << 20);
  return new ShardFeed({
    meta, spec, cache, sha256Hex,
    fetchShard: (hash) => (o.fetchShard ? o.fetchShard(id, hash, peerId) : source(id, `shards/${hash}`, 0)),
    ...(o.prefetchSteps !== undefined ? { prefetchSteps: o.prefetchSteps } : {}),
    ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}),
  });
}
