/**
 * The dataset registry's shape and its parsers. Bytes come from a `DatasetSource` (fetch in
 * the browser, the file system in Node) so this module does no I/O itself.
 */
import { TabswarmError } from './errors.ts';
import { asWorkerDataset, loadStoredDataset, standardizeFeatures, type StoredDatasetMeta, type TaskKind } from './datasetShards.ts';
import { isBuiltinDatasetId, type DatasetId } from './jobSpec.ts';
import { SOTU_CONTEXT, SOTU_VOCAB, sotuWindows } from './sotu.ts';

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
  /** (x − mean) / std per feature from the statistics the store computed at upload (uploaded datasets only) */
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
  /** the files a client fetches, per split */
  files: Record<Split, string[]>;
}

export const DATASETS: Record<DatasetId, DatasetInfo> = {
  iris: {
    id: 'iris',
    title: 'Iris (150 flowers, 4 features, 3 species)',
    featureShape: [4],
    numClasses: 3,
    trainSize: 120,
    testSize: 30,
    files: { train: ['train.json'], test: ['test.json'] },
  },
  mnist: {
    id: 'mnist',
    title: 'MNIST handwritten digits (28×28, 10 classes)',
    featureShape: [28, 28, 1],
    numClasses: 10,
    trainSize: 60000,
    testSize: 10000,
    files: { train: ['train-images', 'train-labels'], test: ['test-images', 'test-labels'] },
  },
  sotu: {
    id: 'sotu',
    title: `State of the Union addresses, next character from ${SOTU_CONTEXT} (char codes)`,
    featureShape: [SOTU_CONTEXT],
    numClasses: SOTU_VOCAB,
    trainSize: 322202,
    testSize: 14055,
    files: { train: ['train.bin'], test: ['test.bin'] },
  },
};

/** Fetches one registry file; `limit` asks for only the first N samples. */
export type DatasetSource = (id: DatasetId, file: string, limit: number) => Promise<Uint8Array>;

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

/** Cuts an IDX file down to its first `limit` items (header rewritten); 0 keeps all. */
export function limitIdx(b: Uint8Array, limit: number): Uint8Array {
  const dims = b[3]!;
  const headerLen = 4 + 4 * dims;
  const count = readU32BE(b, 4);
  if (!(limit > 0) || limit >= count) return b;
  let item = 1;
  for (let d = 1; d < dims; d++) item *= readU32BE(b, 4 + 4 * d);
  const out = b.slice(0, headerLen + limit * item);
  new DataView(out.buffer).setUint32(4, limit, false);
  return out;
}

interface IrisJson {
  x: number[][];
  y: number[];
}

/** Web Crypto's SHA-256 as lower-case hex (in tabs and in Node ≥ 20 alike). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A split of a job's dataset. Shipped datasets come as their files; an uploaded one (an id from
 * the dataset store) as `meta.json` (GET /api/datasets/:id) and `shards/<sha256>` files, each
 * verified against its name, and only the shards that hold the split's first `limit` samples.
 */
export async function loadDataset(source: DatasetSource, id: DatasetId, split: Split, limit = 0, o: LoadOptions = {}): Promise<Dataset> {
  if (!isBuiltinDatasetId(id)) {
    const meta = JSON.parse(new TextDecoder().decode(await source(id, 'meta.json', 0))) as StoredDatasetMeta;
    const ds = asWorkerDataset(await loadStoredDataset(meta, split, { fetchShard: (hash) => source(id, `shards/${hash}`, 0), sha256Hex }, limit));
    if (o.standardize) standardizeFeatures(ds.x, meta.stats);
    return ds;
  }
  if (o.standardize) throw new TabswarmError('BAD_JOB_SPEC', `standardize: only uploaded datasets carry feature statistics; ${id} is built in`);
  const info = DATASETS[id];
  if (!info) throw new TabswarmError('DATASET_UNKNOWN', `unknown dataset ${String(id)}`);
  if (id === 'iris') {
    const raw = await source(id, info.files[split][0]!, limit);
    const j = JSON.parse(new TextDecoder().decode(raw)) as IrisJson;
    const n = limit > 0 ? Math.min(limit, j.y.length) : j.y.length;
    return { id, size: n, featureShape: info.featureShape, numClasses: info.numClasses, x: Float32Array.from(j.x.slice(0, n).flat()), y: Uint8Array.from(j.y.slice(0, n)) };
  }
  if (id === 'sotu') {
    const w = sotuWindows(await source(id, info.files[split][0]!, limit), limit);
    return { id, size: w.size, featureShape: info.featureShape, numClasses: info.numClasses, x: w.x, y: w.y };
  }
  const [imgBytes, lblBytes] = await Promise.all(info.files[split].map((f) => source(id, f, limit)));
  const img = parseIdxImages(imgBytes!);
  const y = parseIdxLabels(lblBytes!);
  const n = Math.min(img.count, y.length);
  return { id, size: n, featureShape: info.featureShape, numClasses: info.numClasses, x: img.x.subarray(0, n * 784), y: y.subarray(0, n) };
}
