/**
 * Datasets as workers hold them, the catalogue of the datasets the server ships (imported into
 * its dataset store on first start: server/datasets/shipped.ts), the IDX parsers that import
 * uses, and the loader every job's data goes through. Bytes come from a `DatasetSource`
 * (fetch in the browser, the store in Node) so this module does no I/O itself.
 */
import { TabswarmError } from './errors.ts';
import { asWorkerDataset, loadStoredDataset, standardizeFeatures, type StoredDatasetMeta, type TaskKind } from './datasetShards.ts';
import type { DatasetId } from './jobSpec.ts';
import { SOTU_CONTEXT, SOTU_VOCAB } from './sotu.ts';
import { sha256Hex } from './sha256.ts';

export interface Dataset {
  id: DatasetId;
  size: number;
  featureShape: number[];
  numClasses: number;
  /** size × prod(featureShape) features, row-major */
  x: Float32Array;
  /** class index per sample (classification; empty for regression): bytes up to 256 classes, else 16 bits */
  y: Uint8Array | Uint16Array;
  /** absent: classification */
  task?: TaskKind;
  /** regression: the shape of one sample's target */
  targetShape?: number[];
  /** regression: size × prod(targetShape) targets, row-major */
  targets?: Float32Array;
}

export interface LoadOptions {
  /** (x − mean) / std per feature from the statistics the store computed when it took the dataset in */
  standardize?: boolean;
}

export type Split = 'train' | 'test';

export interface DatasetInfo {
  id: DatasetId;
  title: string;
  featureShape: number[];
  numClasses: number;
  trainSize: number;
  testSize: number;
}

export const DATASETS: Record<DatasetId, DatasetInfo> = {
  iris: {
    id: 'iris',
    title: 'Iris (150 flowers, 4 features, 3 species)',
    featureShape: [4],
    numClasses: 3,
    trainSize: 120,
    testSize: 30,
  },
  mnist: {
    id: 'mnist',
    title: 'MNIST handwritten digits (28×28, 10 classes)',
    featureShape: [28, 28, 1],
    numClasses: 10,
    trainSize: 60000,
    testSize: 10000,
  },
  sotu: {
    id: 'sotu',
    title: `State of the Union addresses, next character from ${SOTU_CONTEXT} (char codes)`,
    featureShape: [SOTU_CONTEXT],
    numClasses: SOTU_VOCAB,
    trainSize: 322202,
    testSize: 14055,
  },
};

/** Fetches one file of a stored dataset: `meta.json` or `shards/<sha256>`. */
export type DatasetSource = (id: DatasetId, file: string) => Promise<Uint8Array>;

function readU32BE(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** IDX images (magic 2051) → floats in [0, 1]. */
export function parseIdxImages(b: Uint8Array): { count: number; x: Float32Array; rows: number; cols: number } {
  if (b.length < 16 || readU32BE(b, 0) !== 2051) throw new TabswarmError('BAD_REQUEST', 'not an IDX image file');
  const count = readU32BE(b, 4);
  const rows = readU32BE(b, 8);
  const cols = readU32BE(b, 12);
  if (b.length < 16 + count * rows * cols) throw new TabswarmError('BAD_REQUEST', 'IDX image file is truncated');
  const x = new Float32Array(count * rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = b[16 + i]! / 255;
  return { count, x, rows, cols };
}

/** IDX labels (magic 2049). */
export function parseIdxLabels(b: Uint8Array): Uint8Array {
  if (b.length < 8 || readU32BE(b, 0) !== 2049) throw new TabswarmError('BAD_REQUEST', 'not an IDX label file');
  const count = readU32BE(b, 4);
  if (b.length < 8 + count) throw new TabswarmError('BAD_REQUEST', 'IDX label file is truncated');
  return b.slice(8, 8 + count);
}


/**
 * A split of a job's dataset, shipped or uploaded alike: `meta.json` (GET /api/datasets/:id) and
 * `shards/<sha256>` files, each verified against its name, and only the shards that hold the
 * split's first `limit` samples.
 */
export async function loadDataset(source: DatasetSource, id: DatasetId, split: Split, limit = 0, o: LoadOptions = {}): Promise<Dataset> {
  const meta = JSON.parse(new TextDecoder().decode(await source(id, 'meta.json'))) as StoredDatasetMeta;
  const ds = asWorkerDataset(await loadStoredDataset(meta, split, { fetchShard: (hash) => source(id, `shards/${hash}`), sha256Hex }, limit));
  if (o.standardize) standardizeFeatures(ds.x, meta.stats);
  return ds;
}
