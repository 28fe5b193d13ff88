/**
 * Uploaded datasets' shards: the binary format, and the loader that turns a stored dataset's
 * metadata plus its shards (fetched by hash, each hash verified) into samples. Isomorphic and
 * pure: the caller brings the bytes (`fetchShard`) and SHA-256 (`sha256Hex`: Web Crypto's
 * digest is async in the browser, node:crypto on the server).
 *
 * Shard format (version 1), every number little-endian:
 *
 *   offset  size        field
 *   0       4           magic "TSD1" (0x54 0x53 0x44 0x31)
 *   4       1           task: 0 = classification, 1 = regression
 *   5       1           feature rank r (1..8)
 *   6       1           target rank t (0 for classification, 1..8 for regression)
 *   7       1           feature encoding: 0 = float32, 1 = uint8 read as b / 255 (images),
 *                       2 = uint8 read as b (codes); the shipped datasets use 1 and 2
 *   8       4           sample count n (u32)
 *   12      4·r         feature dims (u32 each)
 *   12+4r   4·t         target dims (u32 each)
 *   H = 12 + 4(r + t)   (a multiple of 4, so the arrays below are aligned)
 *   H       E·n·F       features, row-major, F = prod(feature dims); E = 4 (float32) or 1 (uint8)
 *   …       0–3         zero padding to a multiple of 4 (uint8 features only)
 *   …       4·n         classification: class ids, u32
 *           4·n·T       regression: targets, float32, T = prod(target dims)
 *
 * The length is exact (no trailing bytes). A shard is named by the SHA-256 (hex) of all its
 * bytes; its place in the dataset (the sample range) is in the dataset's metadata.
 */
import type { Dataset, Split } from './datasets.ts';
import { TabswarmError } from './errors.ts';

export const SHARD_MAGIC = [0x54, 0x53, 0x44, 0x31] as const;
export const MAX_SHARD_RANK = 8;
/** every `TEST_EVERY`-th sample (index % TEST_EVERY === TEST_EVERY - 1) is a test sample */
export const TEST_EVERY = 10;

export type TaskKind = 'classification' | 'regression';

/** How features are stored: float32, or bytes turned into float32 on decode (exactly: b / 255 rounds once) */
export type FeatureEncoding = 'float32' | 'u8unit' | 'u8';
const ENCODINGS: readonly FeatureEncoding[] = ['float32', 'u8unit', 'u8'];
const featureByte = (e: FeatureEncoding, v: number): number => (e === 'u8unit' ? Math.round(v * 255) : v);
const byteFeature = (e: FeatureEncoding, b: number): number => (e === 'u8unit' ? b / 255 : b);

export interface Shard {
  task: TaskKind;
  featureShape: number[];
  /** [] for classification */
  targetShape: number[];
  count: number;
  /** count × prod(featureShape) */
  x: Float32Array;
  /** classification: class ids (count); regression: count × prod(targetShape) targets */
  y: Uint32Array | Float32Array;
  /** absent: float32 */
  encoding?: FeatureEncoding;
}

export interface ShardRef {
  hash: string;
  /** index of the shard's first sample in the dataset */
  start: number;
  count: number;
  bytes: number;
}

/** What `GET /api/datasets/:id` answers. */
export interface StoredDatasetMeta {
  id: string;
  name: string;
  task: TaskKind;
  featureShape: number[];
  /** classification: the class names, id = index (CSV/JSONL string labels sorted; numeric labels "0".."max") */
  classes: string[] | null;
  numClasses: number | null;
  /** regression: the shape of one target ([1] for a scalar) */
  targetShape: number[] | null;
  size: number;
  trainSize: number;
  testSize: number;
  format: string;
  label: string | null;
  /** bytes of the upload */
  bytes: number;
  /** SHA-256 of the upload */
  uploadHash: string;
  stats: { mean: number[]; std: number[] };
  shards: ShardRef[];
  createdAt: number;
  /**
   * null: every TEST_EVERY-th sample is a test sample (uploads); a number: the samples from
   * this index on are the test split (the shipped datasets keep their published splits)
   */
  testFrom: number | null;
  /** one of the datasets the server ships: imported at its first start, never deleted */
  shipped: boolean;
}

export const prod = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function checkShape(shape: readonly number[], what: string) {
  if (shape.length > MAX_SHARD_RANK || !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= 0xffffffff)) {
    throw new TabswarmError('DATASET_INVALID', `${what} shape [${shape.join(', ')}] is not a shape of 1..${MAX_SHARD_RANK} positive dimensions`);
  }
}

export function shardHeaderBytes(featureRank: number, targetRank: number): number {
  return 12 + 4 * (featureRank + targetRank);
}

export function shardBytes(task: TaskKind, featureShape: readonly number[], targetShape: readonly number[], count: number, encoding: FeatureEncoding = 'float32'): number {
  const featureBytes = encoding === 'float32' ? 4 * count * prod(featureShape) : pad4(count * prod(featureShape));
  const labelBytes = count * (task === 'classification' ? 4 : 4 * prod(targetShape));
  return shardHeaderBytes(featureShape.length, task === 'classification' ? 0 : targetShape.length) + featureBytes + labelBytes;
}

const pad4 = (n: number) => (n + 3) & ~3;

export function encodeShard(s: Shard): Uint8Array {
  checkShape(s.featureShape, 'feature');
  if (s.featureShape.length === 0) throw new TabswarmError('DATASET_INVALID', 'a feature shape needs at least one dimension');
  const tShape = s.task === 'classification' ? [] : s.targetShape;
  if (s.task === 'regression') checkShape(tShape, 'target');
  const F = prod(s.featureShape);
  const T = s.task === 'classification' ? 1 : prod(tShape);
  if (s.x.length !== s.count * F || s.y.length !== s.count * T) throw new TabswarmError('INTERNAL', 'shard arrays do not match its count and shapes');
  const enc = s.encoding ?? 'float32';
  const header = shardHeaderBytes(s.featureShape.length, tShape.length);
  const out = new Uint8Array(shardBytes(s.task, s.featureShape, tShape, s.count, enc));
  const dv = new DataView(out.buffer);
  out.set(SHARD_MAGIC, 0);
  out[4] = s.task === 'classification' ? 0 : 1;
  out[5] = s.featureShape.length;
  out[6] = tShape.length;
  out[7] = ENCODINGS.indexOf(enc);
  dv.setUint32(8, s.count, true);
  [...s.featureShape, ...tShape].forEach((d, i) => dv.setUint32(12 + 4 * i, d, true));
  let o = header;
  if (enc === 'float32') for (let i = 0; i < s.x.length; i++, o += 4) dv.setFloat32(o, s.x[i]!, true);
  else {
    for (let i = 0; i < s.x.length; i++, o++) {
      const b = featureByte(enc, s.x[i]!);
      // a byte encoding must give back exactly the float the caller holds
      if (!(b >= 0 && b <= 255 && Number.isInteger(b)) || Math.fround(byteFeature(enc, b)) !== s.x[i]) throw new TabswarmError('INTERNAL', `feature ${s.x[i]} has no exact ${enc} byte`);
      out[o] = b;
    }
    o = pad4(o - header) + header;
  }
  if (s.task === 'classification') for (let i = 0; i < s.y.length; i++, o += 4) dv.setUint32(o, s.y[i]!, true);
  else for (let i = 0; i < s.y.length; i++, o += 4) dv.setFloat32(o, s.y[i]!, true);
  return out;
}

/** Parses (and fully checks) a shard's bytes; a bad one is DATASET_INVALID naming the byte offset. */
export function decodeShard(b: Uint8Array): Shard {
  const bad = (offset: number, why: string) => new TabswarmError('DATASET_INVALID', `shard: ${why} (byte ${offset})`);
  if (b.length < 12) throw bad(0, `${b.length} bytes is shorter than a shard header`);
  for (let i = 0; i < 4; i++) if (b[i] !== SHARD_MAGIC[i]) throw bad(i, 'wrong magic (not a TSD1 shard)');
  if (b[4] !== 0 && b[4] !== 1) throw bad(4, `unknown task ${b[4]}`);
  const enc = ENCODINGS[b[7]!];
  if (!enc) throw bad(7, `unknown feature encoding ${b[7]}`);
  const task: TaskKind = b[4] === 0 ? 'classification' : 'regression';
  const r = b[5]!;
  const t = b[6]!;
  if (r < 1 || r > MAX_SHARD_RANK) throw bad(5, `feature rank ${r}`);
  if ((task === 'classification' && t !== 0) || (task === 'regression' && (t < 1 || t > MAX_SHARD_RANK))) throw bad(6, `target rank ${t} for ${task}`);
  const header = shardHeaderBytes(r, t);
  if (b.length < header) throw bad(b.length, 'truncated header');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint32(8, true);
  const dims = Array.from({ length: r + t }, (_, i) => dv.getUint32(12 + 4 * i, true));
  const featureShape = dims.slice(0, r);
  const targetShape = dims.slice(r);
  if (dims.some((d) => d === 0)) throw bad(12, 'a zero dimension');
  const want = shardBytes(task, featureShape, targetShape, count, enc);
  if (b.length !== want) throw bad(Math.min(b.length, want), `${b.length} bytes where the header says ${want}`);
  const F = prod(featureShape);
  const x = new Float32Array(count * F);
  let o = header;
  if (enc === 'float32') for (let i = 0; i < x.length; i++, o += 4) x[i] = dv.getFloat32(o, true);
  else {
    for (let i = 0; i < x.length; i++, o++) x[i] = byteFeature(enc, b[o]!);
    o = pad4(o - header) + header;
  }
  let y: Uint32Array | Float32Array;
  if (task === 'classification') {
    y = new Uint32Array(count);
    for (let i = 0; i < count; i++, o += 4) y[i] = dv.getUint32(o, true);
  } else {
    y = new Float32Array(count * prod(targetShape));
    for (let i = 0; i < y.length; i++, o += 4) y[i] = dv.getFloat32(o, true);
  }
  return { task, featureShape, targetShape, count, x, y, ...(enc === 'float32' ? {} : { encoding: enc }) };
}

/** `testFrom`: the metadata's (null: every TEST_EVERY-th sample is a test sample) */
export const isTestSample = (i: number, testFrom: number | null = null) => (testFrom === null ? i % TEST_EVERY === TEST_EVERY - 1 : i >= testFrom);
/** test samples among dataset samples [start, start + count) */
export function testsIn(start: number, count: number, testFrom: number | null = null): number {
  if (testFrom === null) return Math.floor((start + count) / TEST_EVERY) - Math.floor(start / TEST_EVERY);
  return Math.max(0, start + count - Math.max(start, testFrom));
}
export const splitSizes = (size: number, testFrom: number | null = null) => {
  const testSize = testsIn(0, size, testFrom);
  return { trainSize: size - testSize, testSize };
};

export interface StoredDataset {
  id: string;
  task: TaskKind;
  size: number;
  featureShape: number[];
  targetShape: number[];
  numClasses: number;
  x: Float32Array;
  y: Uint32Array | Float32Array;
}

export interface ShardLoaderDeps {
  /** the shard's bytes, e.g. fetch(`/api/datasets/${id}/shards/${hash}`) */
  fetchShard: (hash: string) => Promise<Uint8Array>;
  /** lower-case hex SHA-256, e.g. crypto.subtle.digest('SHA-256', b) as hex */
  sha256Hex: (bytes: Uint8Array) => Promise<string>;
}

/**
 * A stored dataset's `split` samples (in dataset order, the first `limit` of them when
 * limit > 0), fetched shard by shard; each shard's bytes must hash to its name
 * (HASH_MISMATCH otherwise) and agree with the metadata. Only the shards it needs are fetched.
 */
export async function loadStoredDataset(meta: StoredDatasetMeta, split: Split, deps: ShardLoaderDeps, limit = 0): Promise<StoredDataset> {
  const F = prod(meta.featureShape);
  const tShape = meta.task === 'classification' ? [] : (meta.targetShape ?? [1]);
  const T = meta.task === 'classification' ? 1 : prod(tShape);
  const total = split === 'train' ? meta.trainSize : meta.testSize;
  const n = limit > 0 ? Math.min(limit, total) : total;
  const x = new Float32Array(n * F);
  const y = meta.task === 'classification' ? new Uint32Array(n) : new Float32Array(n * T);
  let k = 0;
  for (const ref of meta.shards) {
    if (k >= n) break;
    const bytes = await deps.fetchShard(ref.hash);
    const got = await deps.sha256Hex(bytes);
    if (got !== ref.hash) throw new TabswarmError('HASH_MISMATCH', `shard ${ref.hash} of dataset ${meta.id} hashes to ${got}`);
    const s = decodeShard(bytes);
    const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
    if (s.count !== ref.count || s.task !== meta.task || !same(s.featureShape, meta.featureShape) || !same(s.targetShape, tShape)) {
      throw new TabswarmError('DATASET_INVALID', `shard ${ref.hash} does not match dataset ${meta.id}'s metadata`);
    }
    for (let j = 0; j < s.count && k < n; j++) {
      if (isTestSample(ref.start + j, meta.testFrom ?? null) !== (split === 'test')) continue;
      x.set(s.x.subarray(j * F, (j + 1) * F), k * F);
      y.set(s.y.subarray(j * T, (j + 1) * T), k * T);
      k++;
    }
  }
  if (k !== n) throw new TabswarmError('DATASET_INVALID', `dataset ${meta.id}: its shards hold ${k} ${split} samples, the metadata says ${n}`);
  return { id: meta.id, task: meta.task, size: n, featureShape: meta.featureShape, targetShape: tShape, numClasses: meta.numClasses ?? 0, x, y };
}

/**
 * A stored dataset in the workers' form: class ids as bytes up to 256 classes, as 16-bit
 * integers up to 65,536; regression targets as float32 beside empty class ids.
 */
export function asWorkerDataset(d: StoredDataset): Dataset {
  if (d.task === 'regression') {
    return { id: d.id, size: d.size, featureShape: d.featureShape, numClasses: 0, x: d.x, y: new Uint8Array(0), task: 'regression', targetShape: d.targetShape, targets: d.y as Float32Array };
  }
  if (d.numClasses > 65_536) throw new TabswarmError('DATASET_INVALID', `dataset ${d.id} has ${d.numClasses} classes; workers hold class ids in 16 bits (at most 65,536)`);
  const y = d.numClasses <= 256 ? Uint8Array.from(d.y) : Uint16Array.from(d.y);
  return { id: d.id, size: d.size, featureShape: d.featureShape, numClasses: d.numClasses, x: d.x, y, task: 'classification' };
}

/**
 * (x − mean) / std per feature, in place, each operation rounded to float32 so every engine
 * gets the same bits; a feature of std 0 is only centred.
 */
export function standardizeFeatures(x: Float32Array, stats: { mean: number[]; std: number[] }): void {
  const F = stats.mean.length;
  if (F === 0 || x.length % F !== 0) throw new TabswarmError('DATASET_INVALID', `statistics for ${F} features do not fit ${x.length} values`);
  const fr = Math.fround;
  const mean = stats.mean.map(fr);
  const std = stats.std.map((s) => (fr(s) > 0 ? fr(s) : 1));
  for (let i = 0; i < x.length; i++) {
    const f = i % F;
    x[i] = fr(fr(x[i]! - mean[f]!) / std[f]!);
  }
}
