/**
 * Uploaded datasets: an upload is streamed to a temp file (hashed on the way, bounded), parsed
 * into content-addressed shards in a staging directory, then committed — shard files moved
 * into the shard directory, metadata written to SQLite in one transaction. Anything that
 * fails before the commit removes the staging directory: no temp file, no shard, no row.
 *
 * On disk, under ROOT (DATA_DIR/datasets, or a temp directory for an in-memory store):
 *   shards/ab/abcdef…   a shard, named by the SHA-256 of its bytes (shared/datasetShards.ts)
 *   tmp/<random>/       one upload in progress (the upload, staged shards); swept at start
 * Identical uploads (same bytes, format and label) are one dataset: the second answers the
 * first's id. Commits and deletes run one at a time, so a delete never removes a shard file a
 * commit is about to name.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { access, copyFile, link, mkdir, mkdtemp, readFile, rename, rm, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeShard, prod, splitSizes, type StoredDatasetMeta } from '../../shared/datasetShards.ts';
import { TabswarmError } from '../../shared/errors.ts';
import type { DatasetRecord, DatasetRows } from '../store/datasets.ts';
import type { DatasetTask } from '../vetting/vetTask.ts';
import { FORMATS, ingest, type DatasetFormat } from './ingest.ts';
import { DEFAULT_SHARD_BYTES, ShardWriter } from './shardWriter.ts';

export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;
/** all stored shards together (`tabswarm serve --dataset-quota`) */
export const DEFAULT_QUOTA_BYTES = 20 * 1024 ** 3;
const HASH = /^[0-9a-f]{64}$/;

export interface DatasetStoreOptions {
  /** DATA_DIR/datasets; absent: a temp directory removed at close (an in-memory store) */
  root?: string;
  rows: DatasetRows;
  now: () => number;
  maxUploadBytes?: number;
  shardBytes?: number;
  /** the store's total: stored shards plus an upload in progress may not exceed it (QUOTA_EXCEEDED) */
  quotaBytes?: number;
}

export interface UploadQuery {
  format: string | null;
  label: string | null;
  name: string | null;
  /** 'regression' | 'classification' | null (inferred from the labels) */
  task?: string | null;
}

export interface UploadResult {
  /** false: an identical upload was already stored (no owner token then) */
  created: boolean;
  ownerToken?: string;
  meta: StoredDatasetMeta;
}

export const PREVIEW_MAX_ROWS = 100;
/** features a preview holds at most (rows are cut to fit: 64 MNIST images, say) */
export const PREVIEW_MAX_VALUES = 1 << 16;

export interface DatasetPreview {
  id: string;
  task: StoredDatasetMeta['task'];
  featureShape: number[];
  targetShape: number[] | null;
  label: string | null;
  /** feature values as stored; y: a class id (with its name) or the target values */
  rows: { x: number[]; y: number | number[]; class?: string }[];
  /** shards read to answer (the first ones, never more than the rows need) */
  shardsRead: number;
}

export type DatasetSummary = Omit<StoredDatasetMeta, 'stats' | 'shards' | 'classes'> & { shardCount: number };

export interface DatasetStore {
  readonly dirs: { root: string; tmp: string; shards: string };
  readonly maxUploadBytes: number;
  readonly quotaBytes: number;
  /** bytes of the stored shards */
  usedBytes(): number;
  upload(req: IncomingMessage, q: UploadQuery): Promise<UploadResult>;
  list(): DatasetSummary[];
  /** DATASET_UNKNOWN when there is none */
  get(id: string): StoredDatasetMeta;
  /** the first `rows` samples (at most PREVIEW_MAX_ROWS, and PREVIEW_MAX_VALUES features in all), read from the first shard(s) only */
  preview(id: string, rows: number): Promise<DatasetPreview>;
  /** the shard's bytes, when `hash` is one of dataset `id`'s shards */
  shard(id: string, hash: string): Promise<Uint8Array>;
  /**
   * Takes in a dataset built elsewhere (a shipped one: server/datasets/shipped.ts): each shard
   * file is hard-linked into the shard directory (copied across file systems), then the row is
   * written. A dataset already stored is left as it is (false).
   */
  adopt(rec: DatasetRecord, files: readonly { hash: string; file: string }[]): Promise<boolean>;
  /** owner only (the token from the upload); DATASET_IN_USE while `inUse(id)` */
  delete(id: string, token: string | undefined, inUse?: (id: string) => boolean): Promise<void>;
  close(): void;
}

const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');

export function toMeta(r: DatasetRecord): StoredDatasetMeta {
  return {
    id: r.id, name: r.name, task: r.task, featureShape: r.featureShape, classes: r.classes, numClasses: r.classes ? r.classes.length : null,
    targetShape: r.targetShape, size: r.size, ...splitSizes(r.size, r.testFrom), format: r.format, label: r.label, bytes: r.bytes, uploadHash: r.uploadHash,
    stats: r.stats, shards: r.shards, createdAt: r.createdAt, testFrom: r.testFrom, shipped: r.shipped,
  };
}

export function createDatasetStore(o: DatasetStoreOptions): DatasetStore {
  const memory = o.root === undefined;
  const root = o.root ?? mkdtempSync(join(tmpdir(), 'tabswarm-datasets-'));
  const dirs = { root, tmp: join(root, 'tmp'), shards: join(root, 'shards') };
  const maxUploadBytes = o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const shardBytes = o.shardBytes ?? DEFAULT_SHARD_BYTES;
  const quotaBytes = o.quotaBytes ?? DEFAULT_QUOTA_BYTES;
  /** bytes of uploads being received or staged now: they count against the quota until they commit or fail */
  let inFlight = 0;
  const overQuota = (extra: number, what: string) =>
    new TabswarmError('QUOTA_EXCEEDED', `${what} of ${extra} bytes would bring the dataset store to ${o.rows.storedBytes() + inFlight + extra} bytes, over its quota of ${quotaBytes}; delete datasets first`);
  // leftovers of a process that died mid-upload or mid-commit
  rmSync(dirs.tmp, { recursive: true, force: true });
  mkdirSync(dirs.tmp, { recursive: true });
  mkdirSync(dirs.shards, { recursive: true });
  sweepShards();

  function shardFile(hash: string) {
    return join(dirs.shards, hash.slice(0, 2), hash);
  }

  /** shard files no row names (a commit cut short) */
  function sweepShards() {
    const used = o.rows.allHashes();
    for (const sub of readdirSync(dirs.shards)) {
      for (const f of readdirSync(join(dirs.shards, sub))) if (!used.has(f)) rmSync(join(dirs.shards, sub, f), { force: true });
    }
  }

  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  /** streams the body to `file`: its SHA-256 and length */
  async function receive(req: IncomingMessage, file: string, release: (() => void)[]): Promise<{ hash: string; bytes: number }> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxUploadBytes) {
      throw new TabswarmError('DATASET_TOO_LARGE', `upload of ${declared} bytes is over the limit of ${maxUploadBytes}`);
    }
    // before a byte is written: what is stored, plus uploads under way, plus this one
    if (Number.isFinite(declared) && o.rows.storedBytes() + inFlight + declared > quotaBytes) throw overQuota(declared, 'an upload');
    const room = quotaBytes - o.rows.storedBytes() - inFlight;
    // held until the upload commits or fails, so two uploads at once cannot both take the last room
    const reserved = Number.isFinite(declared) ? declared : 0;
    inFlight += reserved;
    release.push(() => (inFlight -= reserved));
    const h = createHash('sha256');
    let bytes = 0;
    const out = createWriteStream(file);
    const incomplete = () => new TabswarmError('DATASET_INCOMPLETE', `the upload ended after ${bytes} bytes, before its body was complete`);
    try {
      // by hand rather than pipeline(): over the limit, the request is left paused, not
      // destroyed, so the refusal can still be answered (on a connection then closed)
      await new Promise<void>((resolve, reject) => {
        const stop = (e?: unknown) => {
          req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('close', onClose).off('error', stop);
          req.pause();
          if (e !== undefined) reject(e);
        };
        const onData = (c: Buffer) => {
          bytes += c.length;
          if (bytes > maxUploadBytes) return stop(new TabswarmError('DATASET_TOO_LARGE', `upload is over the limit of ${maxUploadBytes} bytes`));
          if (bytes > room) return stop(overQuota(bytes, 'an upload (without a content-length)'));
          h.update(c);
          if (!out.write(c)) {
            req.pause();
            out.once('drain', () => req.resume());
          }
        };
        const onEnd = () => {
          stop();
          out.end(() => resolve());
        };
        const onAborted = () => stop(incomplete());
        const onClose = () => {
          if (!req.complete) stop(incomplete());
        };
        req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('close', onClose).on('error', stop);
        out.on('error', stop);
      });
    } finally {
      if (!out.writableFinished) out.destroy();
    }
    if (!req.complete) throw new TabswarmError('DATASET_INCOMPLETE', `the upload ended after ${bytes} bytes, before its body was complete`);
    if (bytes === 0) throw new TabswarmError('DATASET_INVALID', 'empty file');
    return { hash: h.digest('hex'), bytes };
  }

  /**
   * Puts each shard file in place (`put`; one already there is the same bytes: content-addressed),
   * then writes the row; on any failure the files placed here are removed again.
   */
  async function placeAndInsert(rec: DatasetRecord, files: readonly { hash: string; file: string }[], put: (file: string, dest: string, hash: string) => Promise<void>): Promise<void> {
    const placed: string[] = [];
    try {
      for (const s of files) {
        const dest = shardFile(s.hash);
        if (await access(dest).then(() => true, () => false)) continue;
        await mkdir(join(dirs.shards, s.hash.slice(0, 2)), { recursive: true });
        await put(s.file, dest, s.hash);
        placed.push(dest);
      }
      o.rows.insert(rec);
    } catch (e) {
      await Promise.all(placed.map((f) => unlink(f).catch(() => {})));
      throw e;
    }
  }

  async function commit(rec: DatasetRecord, staged: { hash: string; file: string }[]): Promise<UploadResult | null> {
    return serial(async () => {
      const existing = o.rows.get(rec.id);
      if (existing) return { created: false, meta: toMeta(existing) };
      // the shards as stored (float32) may be larger than the upload (bytes in an .npy, say)
      const fresh = rec.shards.filter((s) => !o.rows.allHashes().has(s.hash)).reduce((a, s) => a + s.bytes, 0);
      if (o.rows.storedBytes() + fresh > quotaBytes) {
        throw new TabswarmError('QUOTA_EXCEEDED', `dataset's ${fresh} bytes of shards would bring the dataset store to ${o.rows.storedBytes() + fresh} bytes, over its quota of ${quotaBytes}; delete datasets first`);
      }
      await placeAndInsert(rec, staged, (file, dest) => rename(file, dest));
      return null;
    });
  }

  return {
    dirs,
    maxUploadBytes,
    quotaBytes,
    usedBytes: () => o.rows.storedBytes(),
    async upload(req, q) {
      const format = q.format;
      if (!format || !(FORMATS as readonly string[]).includes(format)) throw new TabswarmError('BAD_REQUEST', `format must be one of ${FORMATS.join(', ')}`);
      const name = (q.name ?? 'dataset').slice(0, 120);
      // only the row formats read a label column: elsewhere it must not split identical uploads
      q = { ...q, label: format === 'csv' || format === 'npy' ? q.label : null };
      if (q.label !== null && q.label.length > 256) throw new TabswarmError('BAD_REQUEST', 'label is longer than 256 characters');
      const task = q.task ?? null;
      if (task !== null && task !== 'regression' && task !== 'classification') throw new TabswarmError('BAD_REQUEST', 'task must be regression or classification (or absent: inferred from the labels)');
      const work = await mkdtemp(join(dirs.tmp, 'up-'));
      const release: (() => void)[] = [];
      try {
        const file = join(work, 'upload');
        const up = await receive(req, file, release);
        // the task is part of what was asked for only when given (older ids stay the same)
        const dedupKey = createHash('sha256').update(`${up.hash}\0${format}\0${q.label ?? ''}${task ? `\0${task}` : ''}`).digest('hex');
        const id = `ds_${dedupKey.slice(0, 24)}`;
        const known = o.rows.get(id);
        if (known) return { created: false, meta: toMeta(known) };
        const staging = join(work, 'shards');
        await mkdir(staging);
        let writer: ShardWriter | null = null;
        await ingest(file, {
          format: format as DatasetFormat,
          label: q.label,
          task,
          writer: (layout) => (writer = new ShardWriter(staging, layout, shardBytes)),
        });
        const w = await (writer as ShardWriter | null)!.finish();
        const ownerToken = randomBytes(24).toString('base64url');
        const rec: DatasetRecord = {
          id, name, tokenHash: hashToken(ownerToken), task: w.layout.task, featureShape: w.layout.featureShape, classes: w.layout.classes,
          targetShape: w.layout.task === 'regression' ? w.layout.targetShape : null, size: w.size, format, label: q.label, bytes: up.bytes,
          uploadHash: up.hash, dedupKey, stats: w.stats, createdAt: o.now(), shards: w.shards.map(({ hash, start, count, bytes }) => ({ hash, start, count, bytes })),
          testFrom: null, shipped: false,
        };
        const raced = await commit(rec, w.shards);
        if (raced) return raced;
        return { created: true, ownerToken, meta: toMeta(rec) };
      } finally {
        release.forEach((f) => f());
        await rm(work, { recursive: true, force: true });
      }
    },
    adopt(rec, files) {
      return serial(async () => {
        if (o.rows.get(rec.id)) return false;
        await placeAndInsert(rec, files, async (file, dest, hash) => {
          // via a temp name, so a crash never leaves a partial file under a shard's name
          const tmp = join(dirs.tmp, `adopt-${hash}`);
          await link(file, tmp).catch(() => copyFile(file, tmp));
          await rename(tmp, dest);
        });
        return true;
      });
    },
    list() {
      return o.rows.list(false).map((r) => {
        const { stats: _s, shards, classes: _c, ...rest } = toMeta(r);
        return { ...rest, shardCount: shards.length };
      });
    },
    get(id) {
      const r = o.rows.get(id);
      if (!r) throw new TabswarmError('DATASET_UNKNOWN', `no dataset ${id}`);
      return toMeta(r);
    },
    async preview(id, want) {
      const r = o.rows.get(id);
      if (!r) throw new TabswarmError('DATASET_UNKNOWN', `no dataset ${id}`);
      const F = prod(r.featureShape);
      const n = Math.min(want, PREVIEW_MAX_ROWS, r.size, Math.max(1, Math.floor(PREVIEW_MAX_VALUES / F)));
      const rows: DatasetPreview['rows'] = [];
      let shardsRead = 0;
      for (const ref of r.shards) {
        if (rows.length >= n) break;
        const s = decodeShard(new Uint8Array(await readFile(shardFile(ref.hash))));
        shardsRead++;
        const T = s.task === 'classification' ? 1 : prod(s.targetShape);
        for (let j = 0; j < s.count && rows.length < n; j++) {
          const x = Array.from(s.x.subarray(j * F, (j + 1) * F));
          if (s.task === 'classification') rows.push({ x, y: s.y[j]!, ...(r.classes ? { class: r.classes[s.y[j]!] ?? '' } : {}) });
          else rows.push({ x, y: Array.from(s.y.subarray(j * T, (j + 1) * T)) });
        }
      }
      return { id, task: r.task, featureShape: r.featureShape, targetShape: r.targetShape, label: r.label, rows, shardsRead };
    },
    async shard(id, hash) {
      const r = o.rows.get(id);
      if (!r) throw new TabswarmError('DATASET_UNKNOWN', `no dataset ${id}`);
      if (!HASH.test(hash) || !r.shards.some((s) => s.hash === hash)) throw new TabswarmError('DATASET_UNKNOWN', `dataset ${id} has no shard ${hash.slice(0, 64)}`);
      return new Uint8Array(await readFile(shardFile(hash)));
    },
    delete(id, token, inUse) {
      return serial(async () => {
        const r = o.rows.get(id);
        if (!r) throw new TabswarmError('DATASET_UNKNOWN', `no dataset ${id}`);
        if (r.shipped) throw new TabswarmError('NOT_ALLOWED', `dataset ${id} ships with the server and cannot be deleted`);
        const a = Buffer.from(hashToken(token ?? ''), 'hex');
        const b = Buffer.from(r.tokenHash, 'hex');
        if (!token || a.length !== b.length || !timingSafeEqual(a, b)) throw new TabswarmError('UNAUTHORIZED', `deleting dataset ${id} needs its owner token (Authorization: Bearer TOKEN)`);
        if (inUse?.(id)) throw new TabswarmError('DATASET_IN_USE', `a job that is not finished trains on dataset ${id}`);
        for (const h of o.rows.delete(id)) await unlink(shardFile(h)).catch(() => {});
      });
    },
    close() {
      if (memory) rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * What a job spec's vetting needs of a stored dataset (server/vetting/vetSpec.ts's
 * DatasetShapeLookup): its feature shape and its task — class count or target shape. The
 * loss is checked against them in server/vetting/vetTask.ts.
 */
export function datasetShapeLookup(store: DatasetStore): (id: string) => DatasetTask | undefined {
  return (id) => {
    let m: StoredDatasetMeta;
    try {
      m = store.get(id);
    } catch {
      return undefined;
    }
    return { featureShape: m.featureShape, task: m.task, classes: m.numClasses, targetShape: m.task === 'regression' ? (m.targetShape ?? [1]) : null };
  };
}
