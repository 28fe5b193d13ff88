/**
 * Stored datasets' rows (migration 2; 4 adds the split rule and the shipped flag): one
 * `datasets` row per dataset (shapes, classes or target shape, statistics as JSON) and its
 * shards in `dataset_shards` (hash, sample range).
 * Shard files live on disk (server/datasets/); a hash no row names any more is garbage.
 */
import type Database from 'better-sqlite3';
import type { ShardRef, TaskKind } from '../../shared/datasetShards.ts';
import { StoreError } from './storeError.ts';

export interface DatasetRecord {
  id: string;
  name: string;
  tokenHash: string;
  task: TaskKind;
  featureShape: number[];
  classes: string[] | null;
  targetShape: number[] | null;
  size: number;
  format: string;
  label: string | null;
  bytes: number;
  uploadHash: string;
  dedupKey: string;
  stats: { mean: number[]; std: number[] };
  createdAt: number;
  shards: ShardRef[];
  /** null: every 10th sample is a test sample; else the first test sample (shared/datasetShards.ts) */
  testFrom: number | null;
  /** one of the datasets the server ships (imported at start): never deleted, not in the quota */
  shipped: boolean;
}

export interface DatasetRows {
  insert(d: DatasetRecord): void;
  get(id: string): DatasetRecord | undefined;
  /** every dataset, oldest first; `withStats` false leaves the statistics out ({ mean: [], std: [] }) */
  list(withStats?: boolean): DatasetRecord[];
  /** removes the dataset; answers the shard hashes no other dataset uses */
  delete(id: string): string[];
  /** every shard hash some dataset uses */
  allHashes(): Set<string>;
  /** bytes of every distinct shard of an uploaded dataset (what the store's quota counts) */
  storedBytes(): number;
}

interface Row {
  id: string; name: string; token_hash: string; task: string; feature_shape: string; classes: string | null; target_shape: string | null;
  size: number; format: string; label: string | null; bytes: number; upload_hash: string; dedup_key: string; stats: string | null; created_at: number;
  test_from: number | null; shipped: number;
}

export function createDatasetRows(db: Database.Database): DatasetRows {
  const q = {
    insert: db.prepare(`INSERT INTO datasets (id, name, token_hash, task, feature_shape, classes, target_shape, size, format, label, bytes, upload_hash, dedup_key, stats, created_at, test_from, shipped)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertShard: db.prepare('INSERT INTO dataset_shards (dataset_id, idx, hash, start, count, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
    get: db.prepare('SELECT * FROM datasets WHERE id = ?'),
    list: db.prepare('SELECT * FROM datasets ORDER BY created_at, id'),
    listLight: db.prepare("SELECT id, name, token_hash, task, feature_shape, classes, target_shape, size, format, label, bytes, upload_hash, dedup_key, NULL AS stats, created_at, test_from, shipped FROM datasets ORDER BY created_at, id"),
    shards: db.prepare('SELECT hash, start, count, bytes FROM dataset_shards WHERE dataset_id = ? ORDER BY idx'),
    delete: db.prepare('DELETE FROM datasets WHERE id = ?'),
    used: db.prepare('SELECT 1 FROM dataset_shards WHERE hash = ? LIMIT 1'),
    hashes: db.prepare('SELECT DISTINCT hash FROM dataset_shards'),
    storedBytes: db.prepare(`SELECT COALESCE(SUM(bytes), 0) AS n FROM (SELECT s.hash, MAX(s.bytes) AS bytes FROM dataset_shards s
      JOIN datasets d ON d.id = s.dataset_id WHERE d.shipped = 0 GROUP BY s.hash)`),
  };
  const json = <T>(r: Row, v: string | null, what: string): T => {
    try {
      return JSON.parse(v ?? 'null') as T;
    } catch (e) {
      throw new StoreError('STORE_CORRUPT', `dataset ${r.id}: ${what} does not decode`, e);
    }
  };
  const decode = (r: Row): DatasetRecord => ({
    id: r.id, name: r.name, tokenHash: r.token_hash, task: r.task as TaskKind, featureShape: json(r, r.feature_shape, 'feature_shape'),
    classes: json(r, r.classes, 'classes'), targetShape: json(r, r.target_shape, 'target_shape'), size: r.size, format: r.format, label: r.label,
    bytes: r.bytes, uploadHash: r.upload_hash, dedupKey: r.dedup_key, stats: r.stats === null ? { mean: [], std: [] } : json(r, r.stats, 'stats'), createdAt: r.created_at,
    shards: q.shards.all(r.id) as ShardRef[], testFrom: r.test_from, shipped: r.shipped === 1,
  });
  const insert = db.transaction((d: DatasetRecord) => {
    q.insert.run(d.id, d.name, d.tokenHash, d.task, JSON.stringify(d.featureShape), d.classes && JSON.stringify(d.classes), d.targetShape && JSON.stringify(d.targetShape),
      d.size, d.format, d.label, d.bytes, d.uploadHash, d.dedupKey, JSON.stringify(d.stats), d.createdAt, d.testFrom, d.shipped ? 1 : 0);
    d.shards.forEach((s, i) => q.insertShard.run(d.id, i, s.hash, s.start, s.count, s.bytes));
  });
  const del = db.transaction((id: string) => {
    const hashes = (q.shards.all(id) as ShardRef[]).map((s) => s.hash);
    q.delete.run(id);
    return [...new Set(hashes)].filter((h) => !q.used.get(h));
  });
  return {
    insert: (d) => void insert.immediate(d),
    get: (id) => {
      const r = q.get.get(id) as Row | undefined;
      return r && decode(r);
    },
    list: (withStats = true) => ((withStats ? q.list : q.listLight).all() as Row[]).map(decode),
    delete: (id) => del.immediate(id),
    allHashes: () => new Set((q.hashes.all() as { hash: string }[]).map((r) => r.hash)),
    storedBytes: () => (q.storedBytes.get() as { n: number }).n,
  };
}
