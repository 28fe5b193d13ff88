/**
 * The server's durable state in SQLite (better-sqlite3): jobs (spec, status, owner-token
 * hash), members and the event log, per-step metrics, checkpoints (weights + optimizer
 * state; the step is also the batch-plan position, since batches are a pure function of the
 * job's seed and the step) and final parameters. Every write is one transaction.
 *
 * Durability: WAL with synchronous=NORMAL — a committed write survives the process being
 * killed (SIGKILL); only an OS crash or power loss may lose the last few transactions.
 * The data directory is held with an exclusive lock, so a second server on the same
 * directory fails at start instead of running the same jobs twice.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { jobSpecSchema, type JobSpec } from '../../shared/jobSpec.ts';
import type { Checkpoint, JobEvent, JobStatus, StepMetrics } from '../coordinator.ts';
import { createDatasetRows, type DatasetRows } from './datasets.ts';
import { MIGRATIONS, migrate, schemaVersion, type Migration } from './migrations.ts';
import { StoreError } from './storeError.ts';

export interface JobRecord {
  id: string;
  spec: JobSpec;
  status: JobStatus;
  tokenHash: string;
  createdAt: number;
  /** set once the owner changes it; null = the spec's */
  learningRate: number | null;
}

export interface MemberRecord {
  peerId: string;
  state: string;
  joinedAt: number;
  leftAt: number | null;
  reason: string | null;
  backend: string | null;
  adapter: string | null;
  userAgent: string | null;
}

export interface FinalParams {
  step: number;
  paramHash: string;
  params: Float32Array;
}

export interface StoredJob extends JobRecord {
  /** the latest checkpoint, or null */
  checkpoint: Checkpoint | null;
  /** every committed step still on record, in step order */
  metrics: StepMetrics[];
  /** the newest `eventLimit` events, oldest first */
  events: JobEvent[];
  finalParams: FinalParams | null;
}

export interface Store {
  /** the database file, or ':memory:' */
  readonly path: string;
  readonly schemaVersion: number;
  createJob(j: JobRecord): void;
  updateJob(id: string, patch: { status?: JobStatus; learningRate?: number }): void;
  addEvent(jobId: string, e: JobEvent): void;
  upsertMember(jobId: string, m: MemberRecord): void;
  /** members not yet gone are marked dropped with `reason` (e.g. after a server restart) */
  closeMembers(jobId: string, reason: string, at: number): number;
  members(jobId: string): MemberRecord[];
  /** insert or replace the metrics of `m.step` */
  putMetrics(jobId: string, m: StepMetrics): void;
  /** a step's test evaluation; `errs`: a regression's test MAE and RMSE */
  setTestAccuracy(jobId: string, step: number, testAccuracy: number, errs?: { mae: number; rmse: number }): void;
  /** a rollback: forget the committed history from `step` on */
  deleteMetricsFrom(jobId: string, step: number): void;
  metrics(jobId: string): StepMetrics[];
  /** keeps the newest `keepCheckpoints` per job */
  saveCheckpoint(jobId: string, c: Checkpoint): void;
  saveFinalParams(jobId: string, f: FinalParams): void;
  /** every job that decodes; one that does not is reported to `onCorrupt` and skipped */
  loadJobs(onCorrupt?: (jobId: string, e: StoreError) => void): StoredJob[];
  /** uploaded datasets' rows (server/store/datasets.ts) */
  readonly datasets: DatasetRows;
  close(): void;
}

export interface StoreOptions {
  /** data directory; the database is `DIR/tabswarm.db`. Default `./data` */
  dir?: string;
  /** an in-memory database instead (nothing survives the process) */
  memory?: boolean;
  now?: () => number;
  keepCheckpoints?: number;
  eventLimit?: number;
  /** events kept per job when the log is compacted (default 5000) */
  keepEvents?: number;
  /** members that left or were dropped kept per job (default 1000) */
  keepGoneMembers?: number;
  migrations?: readonly Migration[];
}

interface MetricsRow {
  step: number; epoch: number; members: number; loss: number; accuracy: number; samples: number;
  step_ms: number; compute_ms: number; allreduce_ms: number; at: number; test_accuracy: number | null;
  mae: number | null; rmse: number | null; test_mae: number | null; test_rmse: number | null;
}

const toMetrics = (r: MetricsRow): StepMetrics => ({
  step: r.step, epoch: r.epoch, members: r.members, loss: r.loss, accuracy: r.accuracy, samples: r.samples,
  stepMs: r.step_ms, computeMs: r.compute_ms, allreduceMs: r.allreduce_ms, at: r.at,
  ...(r.test_accuracy === null ? {} : { testAccuracy: r.test_accuracy }),
  ...(r.mae === null || r.rmse === null ? {} : { mae: r.mae, rmse: r.rmse }),
  ...(r.test_mae === null || r.test_rmse === null ? {} : { testMae: r.test_mae, testRmse: r.test_rmse }),
});

/** An aligned copy of a blob as float32 values. */
function floats(b: Buffer): Float32Array {
  if (b.byteLength % 4 !== 0) throw new StoreError('STORE_CORRUPT', `float32 blob of ${b.byteLength} bytes`);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

function openDatabase(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 250 });
    if (file !== ':memory:') {
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.exec('BEGIN EXCLUSIVE; COMMIT;'); // takes the lock now, not at the first write
    }
  } catch (e) {
    const busy = e instanceof Error && /SQLITE_BUSY|database is locked/i.test(`${(e as { code?: string }).code ?? ''} ${e.message}`);
    if (busy) throw new StoreError('STORE_LOCKED', `${file} is held by another tabswarm server`, e);
    throw e;
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}

export function createStore(o: StoreOptions = {}): Store {
  const now = o.now ?? Date.now;
  const keep = Math.max(1, o.keepCheckpoints ?? 2);
  const eventLimit = o.eventLimit ?? 1000;
  /** what compaction keeps per job (the store bound: a log of a stranger's churn cannot grow without end) */
  const keepEvents = Math.max(eventLimit, o.keepEvents ?? 5000);
  const keepGoneMembers = o.keepGoneMembers ?? 1000;
  let writes = 0;
  let path = ':memory:';
  if (!o.memory) {
    const dir = resolve(o.dir ?? './data');
    mkdirSync(dir, { recursive: true });
    path = join(dir, 'tabswarm.db');
  }
  const db = openDatabase(path);
  try {
    migrate(db, o.migrations ?? MIGRATIONS);
  } catch (e) {
    db.close();
    throw e;
  }

  const q = {
    insertJob: db.prepare('INSERT INTO jobs (id, spec, status, token_hash, created_at, updated_at, learning_rate) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    setStatus: db.prepare('UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?'),
    setLr: db.prepare('UPDATE jobs SET learning_rate = ?, updated_at = ? WHERE id = ?'),
    jobs: db.prepare('SELECT id, spec, status, token_hash, created_at, learning_rate FROM jobs ORDER BY created_at, id'),
    addEvent: db.prepare('INSERT INTO events (job_id, at, kind, peer_id, detail) VALUES (?, ?, ?, ?, ?)'),
    // compaction: only the newest events and gone members of a job are kept
    pruneEvents: db.prepare('DELETE FROM events WHERE job_id = ? AND id <= (SELECT id FROM events WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)'),
    pruneMembers: db.prepare(`DELETE FROM members WHERE job_id = ? AND state IN ('left', 'dropped') AND rowid NOT IN
      (SELECT rowid FROM members WHERE job_id = ? AND state IN ('left', 'dropped') ORDER BY left_at DESC, rowid DESC LIMIT ?)`),
    events: db.prepare('SELECT at, kind, peer_id, detail FROM (SELECT id, at, kind, peer_id, detail FROM events WHERE job_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id'),
    upsertMember: db.prepare(`INSERT INTO members (job_id, peer_id, state, joined_at, left_at, reason, backend, adapter, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (job_id, peer_id) DO UPDATE SET state = excluded.state, left_at = excluded.left_at, reason = excluded.reason,
      backend = excluded.backend, adapter = excluded.adapter, user_agent = excluded.user_agent`),
    closeMembers: db.prepare("UPDATE members SET state = 'dropped', reason = ?, left_at = ? WHERE job_id = ? AND state NOT IN ('left', 'dropped')"),
    members: db.prepare('SELECT peer_id, state, joined_at, left_at, reason, backend, adapter, user_agent FROM members WHERE job_id = ? ORDER BY joined_at, peer_id'),
    putMetrics: db.prepare(`INSERT OR REPLACE INTO metrics (job_id, step, epoch, members, loss, accuracy, samples, step_ms, compute_ms, allreduce_ms, at, test_accuracy, mae, rmse, test_mae, test_rmse)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    setAcc: db.prepare('UPDATE metrics SET test_accuracy = ?, test_mae = ?, test_rmse = ? WHERE job_id = ? AND step = ?'),
    deleteMetrics: db.prepare('DELETE FROM metrics WHERE job_id = ? AND step >= ?'),
    metrics: db.prepare('SELECT step, epoch, members, loss, accuracy, samples, step_ms, compute_ms, allreduce_ms, at, test_accuracy, mae, rmse, test_mae, test_rmse FROM metrics WHERE job_id = ? ORDER BY step'),
    putCheckpoint: db.prepare('INSERT OR REPLACE INTO checkpoints (job_id, step, param_hash, state, created_at) VALUES (?, ?, ?, ?, ?)'),
    pruneCheckpoints: db.prepare('DELETE FROM checkpoints WHERE job_id = ? AND step NOT IN (SELECT step FROM checkpoints WHERE job_id = ? ORDER BY step DESC LIMIT ?)'),
    lastCheckpoint: db.prepare('SELECT step, param_hash, state FROM checkpoints WHERE job_id = ? ORDER BY step DESC LIMIT 1'),
    putFinal: db.prepare('INSERT OR REPLACE INTO final_params (job_id, step, param_hash, params, created_at) VALUES (?, ?, ?, ?, ?)'),
    final: db.prepare('SELECT step, param_hash, params FROM final_params WHERE job_id = ?'),
  };
  const tx = <A extends unknown[]>(fn: (...a: A) => void) => {
    const t = db.transaction(fn);
    return (...a: A) => void t.immediate(...a);
  };
  const readMetrics = (jobId: string) => (q.metrics.all(jobId) as MetricsRow[]).map(toMetrics);
  const readMembers = (jobId: string): MemberRecord[] =>
    (q.members.all(jobId) as Record<string, string | number | null>[]).map((r) => ({
      peerId: r.peer_id as string, state: r.state as string, joinedAt: r.joined_at as number, leftAt: r.left_at as number | null,
      reason: r.reason as string | null, backend: r.backend as string | null, adapter: r.adapter as string | null, userAgent: r.user_agent as string | null,
    }));

  function loadJob(r: { id: string; spec: string; status: string; token_hash: string; created_at: number; learning_rate: number | null }): StoredJob {
    let spec: JobSpec;
    try {
      const parsed = jobSpecSchema.safeParse(JSON.parse(r.spec));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid');
      spec = parsed.data;
    } catch (e) {
      throw new StoreError('STORE_CORRUPT', `job ${r.id}: stored spec does not validate`, e);
    }
    const cp = q.lastCheckpoint.get(r.id) as { step: number; param_hash: string; state: Buffer } | undefined;
    const fp = q.final.get(r.id) as { step: number; param_hash: string; params: Buffer } | undefined;
    const events = (q.events.all(r.id, eventLimit) as { at: number; kind: JobEvent['kind']; peer_id: string | null; detail: string }[]).map((e) => ({
      at: e.at, kind: e.kind, detail: e.detail, ...(e.peer_id ? { peerId: e.peer_id } : {}),
    }));
    return {
      id: r.id, spec, status: r.status as JobStatus, tokenHash: r.token_hash, createdAt: r.created_at, learningRate: r.learning_rate,
      checkpoint: cp ? { step: cp.step, paramHash: cp.param_hash, state: new Uint8Array(cp.state) } : null,
      metrics: readMetrics(r.id),
      events,
      finalParams: fp ? { step: fp.step, paramHash: fp.param_hash, params: floats(fp.params) } : null,
    };
  }

  let datasetRows: DatasetRows | undefined;
  return {
    path,
    get datasets() {
      return (datasetRows ??= createDatasetRows(db)); // lazily: a store migrated by a custom list may lack the tables
    },
    get schemaVersion() {
      return schemaVersion(db);
    },
    createJob: tx((j: JobRecord) => {
      q.insertJob.run(j.id, JSON.stringify(j.spec), j.status, j.tokenHash, j.createdAt, now(), j.learningRate);
    }),
    updateJob: tx((id: string, patch: { status?: JobStatus; learningRate?: number }) => {
      if (patch.status !== undefined) q.setStatus.run(patch.status, now(), id);
      if (patch.learningRate !== undefined) q.setLr.run(patch.learningRate, now(), id);
    }),
    addEvent: tx((jobId: string, e: JobEvent) => {
      q.addEvent.run(jobId, e.at, e.kind, e.peerId ?? null, e.detail);
      // compacted in batches: every 64th insert trims the job's log to its newest `keepEvents`
      if (++writes % 64 === 0) q.pruneEvents.run(jobId, jobId, keepEvents);
    }),
    upsertMember: tx((jobId: string, m: MemberRecord) => {
      q.upsertMember.run(jobId, m.peerId, m.state, m.joinedAt, m.leftAt, m.reason, m.backend, m.adapter, m.userAgent);
      if (m.leftAt !== null && ++writes % 16 === 0) q.pruneMembers.run(jobId, jobId, keepGoneMembers);
    }),
    closeMembers: (jobId, reason, at) => db.transaction(() => q.closeMembers.run(reason, at, jobId).changes).immediate(),
    members: readMembers,
    putMetrics: tx((jobId: string, m: StepMetrics) => {
      q.putMetrics.run(jobId, m.step, m.epoch, m.members, m.loss, m.accuracy, m.samples, m.stepMs, m.computeMs, m.allreduceMs, m.at, m.testAccuracy ?? null,
        m.mae ?? null, m.rmse ?? null, m.testMae ?? null, m.testRmse ?? null);
    }),
    setTestAccuracy: tx((jobId: string, step: number, acc: number, errs?: { mae: number; rmse: number }) => {
      q.setAcc.run(acc, errs?.mae ?? null, errs?.rmse ?? null, jobId, step);
    }),
    deleteMetricsFrom: tx((jobId: string, step: number) => {
      q.deleteMetrics.run(jobId, step);
    }),
    metrics: readMetrics,
    saveCheckpoint: tx((jobId: string, c: Checkpoint) => {
      q.putCheckpoint.run(jobId, c.step, c.paramHash, Buffer.from(c.state.buffer, c.state.byteOffset, c.state.byteLength), now());
      q.pruneCheckpoints.run(jobId, jobId, keep);
    }),
    saveFinalParams: tx((jobId: string, f: FinalParams) => {
      q.putFinal.run(jobId, f.step, f.paramHash, Buffer.from(f.params.buffer, f.params.byteOffset, f.params.byteLength), now());
    }),
    loadJobs: (onCorrupt) =>
      db
        .transaction(() =>
          (q.jobs.all() as Parameters<typeof loadJob>[0][]).flatMap((r) => {
            try {
              return [loadJob(r)];
            } catch (e) {
              if (!(e instanceof StoreError)) throw e;
              onCorrupt?.(r.id, e);
              return [];
            }
          }),
        )
        .deferred(),
    close: () => {
      if (db.open) db.close();
    },
  };
}
