/**
 * The SQLite store on real files: migrations are versioned and idempotent, a failed migration
 * leaves the previous version, every record round-trips through a close and reopen, rollbacks
 * forget the committed history from a step on, checkpoints are pruned, and a second server
 * cannot open a data directory that is in use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepMetrics } from '../../../server/coordinator.ts';
import { MIGRATIONS, migrate, schemaVersion, type Migration } from '../../../server/store/migrations.ts';
import { StoreError } from '../../../server/store/storeError.ts';
import { createStore, type JobRecord, type Store } from '../../../server/store/store.ts';
import { jobSpecSchema } from '../../../shared/jobSpec.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabswarm-store-'));
  dirs.push(d);
  return d;
};
const open = (dir: string, o: Parameters<typeof createStore>[0] = {}) => {
  const s = createStore({ dir, now: () => 1000, ...o });
  stores.push(s);
  return s;
};
const reopen = (s: Store, dir: string, o: Parameters<typeof createStore>[0] = {}) => {
  s.close();
  return open(dir, o);
};

const spec = jobSpecSchema.parse({
  model: { class_name: 'Sequential', config: { name: 's', layers: [] } },
  optimizer: { name: 'adam', learningRate: 0.01 },
  dataset: { id: 'iris' },
  batchSize: 30,
  steps: 10,
});
const job = (id: string): JobRecord => ({ id, spec, status: 'waiting', tokenHash: 'ab'.repeat(32), createdAt: 5, learningRate: null });
const metric = (step: number, extra: Partial<StepMetrics> = {}): StepMetrics => ({
  step, epoch: 1, members: 2, loss: 1 / (step + 1), accuracy: 0.5, samples: 30, stepMs: 12.5, computeMs: 8, allreduceMs: 3, at: 100 + step, ...extra,
});

describe('migrations', () => {
  it('apply once: reopening applies nothing and keeps the data', () => {
    const dir = tmp();
    const db = new Database(join(dir, 'x.db'));
    expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    db.prepare("INSERT INTO jobs VALUES ('j', '{}', 'waiting', 'h', 1, 1, NULL)").run();
    expect(migrate(db)).toEqual([]);
    expect(migrate(db)).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 1 });
    db.close();
  });

  it('a later migration applies on top of an existing database; a failing one leaves the previous version and no partial table', () => {
    const db = new Database(':memory:');
    migrate(db);
    const v = MIGRATIONS.length;
    const good: Migration = { version: v + 1, name: 'add notes', up: (d) => void d.exec('CREATE TABLE notes (x TEXT)') };
    const bad: Migration = { version: v + 2, name: 'broken', up: (d) => void d.exec('CREATE TABLE half (x TEXT); SELECT * FROM no_such_table') };
    expect(migrate(db, [...MIGRATIONS, good])).toEqual([v + 1]);
    let err: unknown;
    try {
      migrate(db, [...MIGRATIONS, good, bad]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).storeCode).toBe('STORE_MIGRATION');
    expect(schemaVersion(db)).toBe(v + 1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('refuses a database written by a newer server, and misnumbered migrations', () => {
    const db = new Database(':memory:');
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    expect(() => migrate(db)).toThrow(expect.objectContaining({ storeCode: 'STORE_SCHEMA_TOO_NEW' }) as Error);
    expect(() => migrate(new Database(':memory:'), [{ version: 2, name: 'x', up: () => {} }])).toThrow(expect.objectContaining({ storeCode: 'STORE_MIGRATION' }) as Error);
    db.close();
  });
});

describe('store', () => {
  it('round-trips a job with its metrics, events, members, checkpoint and final params through a reopen', () => {
    const dir = tmp();
    let s = open(dir);
    expect(s.schemaVersion).toBe(MIGRATIONS.length);
    s.createJob(job('j1'));
    s.createJob({ ...job('j2'), createdAt: 6 });
    s.updateJob('j1', { status: 'running', learningRate: 0.005 });
    for (let i = 0; i < 5; i++) s.putMetrics('j1', metric(i));
    s.setTestAccuracy('j1', 3, 0.875);
    s.addEvent('j1', { at: 7, kind: 'join', peerId: 'p1', detail: 'joined' });
    s.addEvent('j1', { at: 8, kind: 'epoch', detail: 'epoch 1' });
    s.upsertMember('j1', { peerId: 'p1', state: 'joining', joinedAt: 7, leftAt: null, reason: null, backend: null, adapter: null, userAgent: null });
    s.upsertMember('j1', { peerId: 'p1', state: 'active', joinedAt: 7, leftAt: null, reason: null, backend: 'webgl', adapter: 'gpu', userAgent: 'UA' });
    const state = Uint8Array.from({ length: 1001 }, (_, i) => i % 251);
    s.saveCheckpoint('j1', { step: 4, paramHash: '0123456789abcdef', state });
    const params = Float32Array.from([1.5, -2.25, Math.PI, 0]);
    s.saveFinalParams('j1', { step: 5, paramHash: 'fedcba9876543210', params });

    s = reopen(s, dir);
    const [j1, j2] = s.loadJobs();
    expect(j2!.id).toBe('j2');
    expect(j2!.checkpoint).toBeNull();
    expect(j1!.spec).toEqual(spec);
    expect(j1!).toMatchObject({ id: 'j1', status: 'running', learningRate: 0.005, tokenHash: 'ab'.repeat(32), createdAt: 5 });
    expect(j1!.metrics).toEqual([0, 1, 2, 3, 4].map((i) => metric(i, i === 3 ? { testAccuracy: 0.875 } : {})));
    expect(j1!.events).toEqual([{ at: 7, kind: 'join', peerId: 'p1', detail: 'joined' }, { at: 8, kind: 'epoch', detail: 'epoch 1' }]);
    expect(s.members('j1')).toEqual([{ peerId: 'p1', state: 'active', joinedAt: 7, leftAt: null, reason: null, backend: 'webgl', adapter: 'gpu', userAgent: 'UA' }]);
    expect(j1!.checkpoint!.step).toBe(4);
    expect(j1!.checkpoint!.paramHash).toBe('0123456789abcdef');
    expect([...j1!.checkpoint!.state]).toEqual([...state]);
    expect(j1!.finalParams!.step).toBe(5);
    expect([...j1!.finalParams!.params]).toEqual([...params]);
  });

  it("keeps a regression job's train and test MAE / RMSE through a reopen", () => {
    const dir = tmp();
    let s = open(dir);
    s.createJob(job('r'));
    s.putMetrics('r', metric(0, { accuracy: 0, mae: 0.5, rmse: 0.75 }));
    s.putMetrics('r', metric(1, { accuracy: 0, mae: 0.25, rmse: 0.375 }));
    s.setTestAccuracy('r', 1, 0, { mae: 0.3, rmse: 0.4 });
    s = reopen(s, dir);
    expect(s.loadJobs()[0]!.metrics).toEqual([
      metric(0, { accuracy: 0, mae: 0.5, rmse: 0.75 }),
      metric(1, { accuracy: 0, mae: 0.25, rmse: 0.375, testAccuracy: 0, testMae: 0.3, testRmse: 0.4 }),
    ]);
  });

  it('a rollback deletes the metrics from its step on; a redone step replaces rather than duplicates', () => {
    const s = open(tmp());
    s.createJob(job('j'));
    for (let i = 0; i < 8; i++) s.putMetrics('j', metric(i));
    s.deleteMetricsFrom('j', 5);
    expect(s.metrics('j').map((m) => m.step)).toEqual([0, 1, 2, 3, 4]);
    s.putMetrics('j', metric(4, { loss: 9 }));
    expect(s.metrics('j').map((m) => [m.step, m.loss])).toEqual([[0, 1], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 9]]);
  });

  it('keeps only the newest checkpoints per job', () => {
    const s = open(tmp(), { keepCheckpoints: 2 });
    s.createJob(job('a'));
    s.createJob(job('b'));
    for (const step of [5, 10, 15]) s.saveCheckpoint('a', { step, paramHash: '0'.repeat(16), state: new Uint8Array([step]) });
    s.saveCheckpoint('b', { step: 5, paramHash: '1'.repeat(16), state: new Uint8Array([1]) });
    const rows = new Database(s.path, { readonly: true, fileMustExist: true });
    s.close();
    expect(rows.prepare('SELECT job_id, step FROM checkpoints ORDER BY job_id, step').all()).toEqual([
      { job_id: 'a', step: 10 }, { job_id: 'a', step: 15 }, { job_id: 'b', step: 5 },
    ]);
    rows.close();
  });

  it('closes the members of a previous process and limits the events loaded', () => {
    const dir = tmp();
    let s = open(dir, { eventLimit: 3 });
    s.createJob(job('j'));
    for (let i = 0; i < 5; i++) s.addEvent('j', { at: i, kind: 'status', detail: `e${i}` });
    s.upsertMember('j', { peerId: 'a', state: 'active', joinedAt: 1, leftAt: null, reason: null, backend: 'cpu', adapter: '', userAgent: '' });
    s.upsertMember('j', { peerId: 'b', state: 'left', joinedAt: 1, leftAt: 2, reason: 'left', backend: 'cpu', adapter: '', userAgent: '' });
    expect(s.closeMembers('j', 'server-restart', 50)).toBe(1);
    s = reopen(s, dir, { eventLimit: 3 });
    expect(s.loadJobs()[0]!.events.map((e) => e.detail)).toEqual(['e2', 'e3', 'e4']);
    expect(s.members('j').map((m) => [m.peerId, m.state, m.reason, m.leftAt])).toEqual([['a', 'dropped', 'server-restart', 50], ['b', 'left', 'left', 2]]);
  });

  it('skips (and reports) a job whose stored spec no longer validates', () => {
    const dir = tmp();
    const s = open(dir);
    s.createJob(job('good'));
    s.createJob(job('bad'));
    s.close();
    const raw = new Database(join(dir, 'tabswarm.db'));
    raw.prepare("UPDATE jobs SET spec = '{\"batchSize\": -1}' WHERE id = 'bad'").run();
    raw.close();
    const corrupt: string[] = [];
    const again = open(dir);
    expect(again.loadJobs((id, e) => corrupt.push(`${id}:${e.storeCode}`)).map((j) => j.id)).toEqual(['good']);
    expect(corrupt).toEqual(['bad:STORE_CORRUPT']);
  });

  it('a second store on the same directory fails with STORE_LOCKED until the first closes', () => {
    const dir = tmp();
    const first = open(dir);
    expect(() => createStore({ dir })).toThrow(expect.objectContaining({ storeCode: 'STORE_LOCKED' }) as Error);
    first.close();
    const second = open(dir);
    expect(second.loadJobs()).toEqual([]);
  });

  it('an in-memory store works the same and leaves no file', () => {
    const s = createStore({ memory: true });
    stores.push(s);
    expect(s.path).toBe(':memory:');
    s.createJob(job('m'));
    s.putMetrics('m', metric(0));
    expect(s.loadJobs()[0]!.metrics).toEqual([metric(0)]);
  });
});

describe('store compaction', () => {
  it('3,000 events and 1,000 gone members of one job leave at most keepEvents events and keepGoneMembers members (+ one batch)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabswarm-compact-'));
    const s = createStore({ dir, now: () => 1, keepEvents: 500, eventLimit: 100, keepGoneMembers: 200 });
    s.createJob(job('flood'));
    for (let i = 0; i < 3_000; i++) s.addEvent('flood', { at: i, kind: 'abort', detail: `abort ${i}` });
    for (let i = 0; i < 1_000; i++) s.upsertMember('flood', { peerId: `p${i}`, state: 'left', joinedAt: i, leftAt: i + 1, reason: 'left', backend: null, adapter: null, userAgent: null });
    const loaded = s.loadJobs()[0]!;
    expect(loaded.events.at(-1)!.detail).toBe('abort 2999'); // the newest survive
    expect(s.members('flood').length).toBeLessThanOrEqual(200 + 16);
    expect(s.members('flood').at(-1)!.peerId).toBe('p999');
    const path = s.path;
    s.close();
    const db = new Database(path, { readonly: true });
    const rows = (db.prepare("SELECT count(*) AS n FROM events WHERE job_id = 'flood'").get() as { n: number }).n;
    db.close();
    rmSync(dir, { recursive: true, force: true });
    expect(rows).toBeGreaterThanOrEqual(500);
    expect(rows).toBeLessThanOrEqual(500 + 64);
  });
});
