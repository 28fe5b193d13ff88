/**
 * A `DatasetSource` in Node (the single-process reference, prediction inputs, benches, tests):
 * a dataset's `meta.json` and `shards/<sha256>` as a worker would fetch them. With the server's
 * dataset store, from the store; without one, the shipped datasets from their built catalogue
 * (server/datasets/shipped.ts), so code that has no server still reads MNIST the one way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetSource } from '../shared/datasets.ts';
import { TabswarmError } from '../shared/errors.ts';
import type { StoredDatasetMeta } from '../shared/datasetShards.ts';
import { isBuiltinDatasetId } from '../shared/jobSpec.ts';
import { toMeta, type DatasetStore } from './datasets/datasetStore.ts';
import { shippedCatalog } from './datasets/shipped.ts';

const HASH = /^[0-9a-f]{64}$/;

export function createDatasetFiles(stored?: Pick<DatasetStore, 'get' | 'shard'>): { source: DatasetSource } {
  const encode = (meta: StoredDatasetMeta) => new TextEncoder().encode(JSON.stringify(meta));
  const source: DatasetSource = async (id, file) => {
    const hash = file.startsWith('shards/') ? file.slice('shards/'.length) : null;
    if (file !== 'meta.json' && !hash) throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in dataset ${id}`);
    if (stored) return hash ? stored.shard(id, hash) : encode(stored.get(id));
    if (!isBuiltinDatasetId(id)) throw new TabswarmError('DATASET_UNKNOWN', `no dataset ${id} without a dataset store`);
    const c = await shippedCatalog();
    const { record } = c.entries[id];
    if (!hash) return encode(toMeta({ ...record, createdAt: 0 }));
    if (!HASH.test(hash) || !record.shards.some((s) => s.hash === hash)) throw new TabswarmError('DATASET_UNKNOWN', `dataset ${id} has no shard ${hash.slice(0, 64)}`);
    return new Uint8Array(await readFile(join(c.dir, 'shards', hash)));
  };
  return { source };
}
