/**
 * Versioned schema migrations. The database's `PRAGMA user_version` is the number of
 * migrations applied; each migration runs in its own transaction together with the version
 * bump, so a failed migration leaves the previous version intact. Never edit a released
 * migration: append a new one.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from './storeError.ts';

export interface Migration {
  version: number;
  name: string;
  up: (db: BetterSqlite3.Database) => void;
}

const sql = (text: string) => (db: BetterSqlite3.Database) => void db.exec(text);

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, members, events, metrics, checkpoints, final params',
    up: sql(`
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        learning_rate REAL
      );
      CREATE TABLE members (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        peer_id TEXT NOT NULL,
        state TEXT NOT NULL,
        joined_at REAL NOT NULL,
        left_at REAL,
        reason TEXT,
        backend TEXT,
        adapter TEXT,
        user_agent TEXT,
        PRIMARY KEY (job_id, peer_id)
      );
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        peer_id TEXT,
        detail TEXT NOT NULL
      );
      CREATE INDEX events_by_job ON events (job_id, id);
      CREATE TABLE metrics (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        members INTEGER NOT NULL,
        loss REAL NOT NULL,
        accuracy REAL NOT NULL,
        samples INTEGER NOT NULL,
        step_ms REAL NOT NULL,
        compute_ms REAL NOT NULL,
        allreduce_ms REAL NOT NULL,
        at REAL NOT NULL,
        test_accuracy REAL,
        PRIMARY KEY (job_id, step)
      ) WITHOUT ROWID;
      CREATE TABLE checkpoints (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        param_hash TEXT NOT NULL,
        state BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (job_id, step)
      );
      CREATE TABLE final_params (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        param_hash TEXT NOT NULL,
        params BLOB NOT NULL,
        created_at REAL NOT NULL
      );
    `),
  },
  {
    version: 2,
    name: 'uploaded datasets and their content-addressed shards',
    up: sql(`
      CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        task TEXT NOT NULL CHECK (task IN ('classification', 'regression')),
        feature_shape TEXT NOT NULL,
        classes TEXT,
        target_shape TEXT,
        size INTEGER NOT NULL,
        format TEXT NOT NULL,
        label TEXT,
        bytes INTEGER NOT NULL,
        upload_hash TEXT NOT NULL,
        dedup_key TEXT NOT NULL UNIQUE,
        stats TEXT NOT NULL,
        created_at REAL NOT NULL
      );
      CREATE TABLE dataset_shards (
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        start INTEGER NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, idx)
      ) WITHOUT ROWID;
      CREATE INDEX dataset_shards_by_hash ON dataset_shards (hash);
    `),
  },
  {
    version: 3,
    name: "a regression job's metrics: train and test MAE / RMSE",
    up: sql(`
      ALTER TABLE metrics ADD COLUMN mae REAL;
      ALTER TABLE metrics ADD COLUMN rmse REAL;
      ALTER TABLE metrics ADD COLUMN test_mae REAL;
      ALTER TABLE metrics ADD COLUMN test_rmse REAL;
    `),
  },
  {
    version: 4,
    name: 'the shipped datasets as store entries: a split rule, and a flag (not counted in the quota, never deleted)',
    up: sql(`
      ALTER TABLE datasets ADD COLUMN test_from INTEGER;
      ALTER TABLE datasets ADD COLUMN shipped INTEGER NOT NULL DEFAULT 0;
    `),
  },
];

export function schemaVersion(db: BetterSqlite3.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies the migrations the database has not seen yet; returns the versions applied. Idempotent. */
export function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new StoreError('STORE_MIGRATION', `migration #${i} has version ${m.version}, expected ${i + 1}`);
  });
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new StoreError('STORE_SCHEMA_TOO_NEW', `database schema is version ${current}; this server knows up to ${migrations.length}`);
  }
  const applied: number[] = [];
  for (const m of migrations.slice(current)) {
    const run = db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    });
    try {
      run.immediate();
    } catch (e) {
      throw new StoreError('STORE_MIGRATION', `migration ${m.version} (${m.name}) failed: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    applied.push(m.version);
  }
  return applied;
}
