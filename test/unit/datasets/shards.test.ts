/** The shard format and the isomorphic loader (shared/datasetShards.ts). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard, loadStoredDataset, asWorkerDataset, type StoredDatasetMeta } from '../../../shared/datasetShards.ts';

const sha = async (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('shards', () => {
  it('round-trips classification and regression shards, byte-exact length', () => {
    const c = { task: 'classification' as const, featureShape: [2, 2, 1], targetShape: [], count: 2, x: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8.5]), y: Uint32Array.from([3, 0]) };
    const b = encodeShard(c);
    expect(b.length).toBe(12 + 12 + 4 * 8 + 4 * 2);
    expect(decodeShard(b)).toEqual(c);
    const r = { task: 'regression' as const, featureShape: [3], targetShape: [2], count: 1, x: Float32Array.from([1, -2, 3]), y: Float32Array.from([0.25, -7]) };
    expect(decodeShard(encodeShard(r))).toEqual(r);
  });
  it('byte encodings (the shipped datasets): u8unit decodes b / 255, u8 the byte; padded to 4; a float with no exact byte is refused', () => {
    const bytes = [0, 1, 128, 254, 255];
    const img = { task: 'classification' as const, featureShape: [5], targetShape: [], count: 1, x: Float32Array.from(bytes, (b) => b / 255), y: Uint32Array.from([7]), encoding: 'u8unit' as const };
    const b = encodeShard(img);
    expect(b.length).toBe(12 + 4 + 8 + 4); // 5 feature bytes padded to 8
    expect(b[7]).toBe(1);
    expect(decodeShard(b)).toEqual(img);
    const codes = { ...img, x: Float32Array.from([0, 1, 2, 96, 3]), encoding: 'u8' as const };
    expect(decodeShard(encodeShard(codes))).toEqual(codes);
    expect(() => encodeShard({ ...img, x: Float32Array.from([0.5, 0, 0, 0, 0]) })).toThrow(/no exact u8unit byte/);
    expect(() => encodeShard({ ...codes, x: Float32Array.from([256, 0, 0, 0, 0]) })).toThrow(/no exact u8 byte/);
    const unknown = b.slice();
    unknown[7] = 9;
    expect(() => decodeShard(unknown)).toThrow(/unknown feature encoding 9 \(byte 7\)/);
  });
  it('refuses a wrong magic or a wrong length, naming the byte', () => {
    const b = encodeShard({ task: 'classification', featureShape: [1], targetShape: [], count: 1, x: Float32Array.from([1]), y: Uint32Array.from([0]) });
    expect(() => decodeShard(b.subarray(0, b.length - 1))).toThrow(/DATASET_INVALID: shard: 23 bytes where the header says 24 \(byte 23\)/);
    const bad = b.slice();
    bad[2] = 0;
    expect(() => decodeShard(bad)).toThrow(/wrong magic.*byte 2/);
  });

  function dataset(n: number, per: number) {
    const shards: Record<string, Uint8Array> = {};
    const refs = [];
    for (let start = 0; start < n; start += per) {
      const count = Math.min(per, n - start);
      const x = Float32Array.from({ length: count * 2 }, (_, i) => start * 2 + i);
      const y = Uint32Array.from({ length: count }, (_, i) => (start + i) % 3);
      const bytes = encodeShard({ task: 'classification', featureShape: [2], targetShape: [], count, x, y });
      const hash = createHash('sha256').update(bytes).digest('hex');
      shards[hash] = bytes;
      refs.push({ hash, start, count, bytes: bytes.length });
    }
    const meta: StoredDatasetMeta = {
      id: 'ds_000000000000000000000000', name: 't', task: 'classification', featureShape: [2], classes: ['0', '1', '2'], numClasses: 3, targetShape: null,
      size: n, trainSize: n - Math.floor(n / 10), testSize: Math.floor(n / 10), format: 'csv', label: 'y', bytes: 0, uploadHash: '', stats: { mean: [], std: [] }, shards: refs, createdAt: 0, testFrom: null, shipped: false,
    };
    return { meta, shards };
  }

  it('loads a split across shards in order, verifying every hash', async () => {
    const { meta, shards } = dataset(25, 7);
    const fetched: string[] = [];
    const deps = { fetchShard: async (h: string) => (fetched.push(h), shards[h]!), sha256Hex: sha };
    const train = await loadStoredDataset(meta, 'train', deps);
    const test = await loadStoredDataset(meta, 'test', deps);
    const trainIdx = Array.from({ length: 25 }, (_, i) => i).filter((i) => i % 10 !== 9);
    expect(train.size).toBe(23);
    expect([...train.y]).toEqual(trainIdx.map((i) => i % 3));
    expect([...train.x.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect([...test.x]).toEqual([18, 19, 38, 39]);
    expect(asWorkerDataset(test)).toMatchObject({ size: 2, numClasses: 3, y: Uint8Array.from([0, 1]) });
    fetched.length = 0;
    expect((await loadStoredDataset(meta, 'train', deps, 5)).size).toBe(5);
    expect(fetched).toHaveLength(1); // only the shards it needs
  });

  it('a shard whose bytes do not hash to its name is HASH_MISMATCH', async () => {
    const { meta, shards } = dataset(5, 5);
    const h = meta.shards[0]!.hash;
    const tampered = shards[h]!.slice();
    tampered[20] ^= 1;
    await expect(loadStoredDataset(meta, 'train', { fetchShard: async () => tampered, sha256Hex: sha })).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
  });
});
