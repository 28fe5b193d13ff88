/**
 * HTTP routes: the REST API, the dataset registry and the built pages. Every error is a
 * JSON body `{ error: { code, message } }` with a fitting status; nothing here throws.
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { DATASETS } from '../shared/datasets.ts';
import { TabswarmError, errorCode, type ErrorCode } from '../shared/errors.ts';
import * as tf from '@tensorflow/tfjs';
import { PRESET_NAMES, presetSpec } from '../shared/presets.ts';
import { specFromBody, vetSpec, type Job, type JobRegistry } from './jobs.ts';
import type { DatasetShapeLookup } from './vetting/vetSpec.ts';
import type { VettingLimits } from './vetting/limits.ts';
import type { Logger } from './log.ts';
import { requireOwner } from './ownerRoutes.ts';
import type { Guards } from './security/guards.ts';
import { readBytes, type UploadTable } from './uploads.ts';
import { API_HEADERS, BASE_HEADERS, pageHeaders } from './security/headers.ts';
import { jobListEntry, privateJobView, publicJobView } from './jobViews.ts';
import { METRICS_CONTENT_TYPE } from './metrics.ts';
import type { PredictionRoutes } from './prediction/routes.ts';

const MAX_BODY = 1024 * 1024;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.map': 'application/json',
};
const STATUS: Partial<Record<ErrorCode, number>> = {
  DATASET_INVALID: 400, DATASET_INCOMPLETE: 400, DATASET_TOO_LARGE: 413, DATASET_IN_USE: 409, QUOTA_EXCEEDED: 507, TASK_MISMATCH: 400,
  BAD_REQUEST: 400, BAD_JOB_SPEC: 400, MODEL_REJECTED: 400, UPLOAD_REJECTED: 400, WEIGHTS_PENDING: 409, PREDICTIONS_PENDING: 409, WEIGHTS_UNAVAILABLE: 404, JOB_FAILED: 409, UNKNOWN_JOB: 404, DATASET_UNKNOWN: 404, UNAUTHORIZED: 401, NOT_ALLOWED: 403, RATE_LIMITED: 429, TIMEOUT: 504,
};

export interface HttpDeps {
  jobs: JobRegistry;
  distDir: string;
  log: Logger;
  publicUrl: (req: IncomingMessage) => string;
  /** owner-only routes under /api/jobs/:id/… (server/ownerRoutes.ts); true when handled */
  ownerRoutes?: (req: IncomingMessage, res: ServerResponse, job: Job, rest: string[]) => Promise<boolean>;
  /** rate limits (server/security/guards.ts) */
  guards?: Guards;
  /** origins besides our own that pages may connect to (for their CSP) */
  connectOrigins?: string[];
  /** one-time upload ids for checkpoints and final weights (server/uploads.ts) */
  uploads?: UploadTable;
  /** uploaded datasets: the routes under /api/datasets (server/datasets/routes.ts) */
  storedDatasets?: (req: IncomingMessage, res: ServerResponse, rest: string[], url: URL) => Promise<void>;
  /** an uploaded dataset's shape for vetting job specs (server/datasets/datasetStore.ts) */
  datasetShape?: DatasetShapeLookup;
  /** caps on a job's model (server/vetting/limits.ts); default DEFAULT_VETTING_LIMITS */
  vettingLimits?: VettingLimits;
  /** GET /metrics: the Prometheus exposition text (server/metrics.ts); public, no ids or tokens */
  metrics?: () => Promise<string>;
  /** counts every error answered, by code (server/metrics.ts) */
  countError?: (code: string) => void;
  /** prediction jobs (server/prediction/routes.ts): POST /api/jobs with kind 'predict', GET …/predictions */
  predictions?: PredictionRoutes;
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const data = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...BASE_HEADERS, ...headers });
  res.end(data);
}

function sendError(res: ServerResponse, err: unknown, countError?: (code: string) => void) {
  const code = errorCode(err);
  countError?.(code);
  const message = err instanceof TabswarmError ? err.message : 'internal error';
  send(res, STATUS[code] ?? 500, { error: { code, message } });
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (Number(req.headers['content-length']) > MAX_BODY) throw new TabswarmError('BAD_REQUEST', `body larger than ${MAX_BODY} bytes`);
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new TabswarmError('BAD_REQUEST', `body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new TabswarmError('BAD_REQUEST', 'body is not valid JSON');
  }
}

/** Private fields need the owner token; a wrong token is refused rather than silently downgraded. */
function isOwnerRequest(jobs: JobRegistry, job: Job, req: IncomingMessage): boolean {
  if (req.headers.authorization === undefined) return false;
  requireOwner(jobs, job, req);
  return true;
}

export function createHttpHandler(d: HttpDeps) {
  let presetSpecs: Record<string, unknown> | undefined;
  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      let url: URL;
      try {
        const target = req.url ?? '/';
        url = new URL(`http://x${target.startsWith('/') ? '' : '/'}${target}`); // '//host/…' stays a path
      } catch {
        throw new TabswarmError('BAD_REQUEST', 'bad request target');
      }
      const parts = url.pathname.split('/').filter(Boolean);
      if (parts[0] === 'api') return await api(req, res, parts.slice(1), url);
      if (url.pathname === '/metrics' && req.method === 'GET' && d.metrics) return send(res, 200, await d.metrics(), { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new TabswarmError('BAD_REQUEST', `no route ${req.method} ${url.pathname}`);
      return await serveStatic(res, url.pathname);
    } catch (e) {
      if (!(e instanceof TabswarmError)) d.log('error', 'http handler failed', { err: String(e), url: req.url });
      sendError(res, e, d.countError);
    }
  };

  async function api(req: IncomingMessage, res: ServerResponse, p: string[], url: URL) {
    for (const [k, v] of Object.entries(API_HEADERS)) res.setHeader(k, v);
    if (p[0] === 'health') return send(res, 200, { ok: true });
    if (p[0] === 'presets' && req.method === 'GET') {
      presetSpecs ??= Object.fromEntries(PRESET_NAMES.map((n) => [n, presetSpec(tf, n)]));
      return send(res, 200, { presets: PRESET_NAMES, datasets: Object.values(DATASETS), specs: presetSpecs });
    }
    if (p[0] === 'datasets' && d.storedDatasets) return await d.storedDatasets(req, res, p.slice(1), url);
    if (p[0] === 'uploads' && p.length === 2 && req.method === 'PUT' && d.uploads) return await upload(req, res, p[1]!);
    if (p[0] !== 'jobs') throw new TabswarmError('BAD_REQUEST', `no route ${url.pathname}`);
    if (p.length === 1 && req.method === 'POST') {
      if (d.guards && !d.guards.createJob(req.socket.remoteAddress)) throw new TabswarmError('RATE_LIMITED', 'too many jobs created from this address; try again later');
      // a JSON content type keeps cross-site HTML forms (no preflight) from creating jobs
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new TabswarmError('BAD_REQUEST', 'content-type must be application/json');
      const body = await readJson(req);
      if (d.predictions && typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'predict') return await d.predictions.create(req, res, body);
      const spec = specFromBody(body);
      const { job, ownerToken } = d.jobs.create(spec, await vetSpec(tf, spec, d.vettingLimits, d.datasetShape));
      const base = d.publicUrl(req);
      d.log('info', 'job created', { jobId: job.id, name: spec.name, steps: spec.steps });
      return send(res, 201, {
        id: job.id, ownerToken, joinUrl: `${base}/?job=${job.id}`, dashboardUrl: `${base}/dashboard.html?job=${job.id}#token=${ownerToken}`,
      });
    }
    if (p.length === 1 && req.method === 'GET') return send(res, 200, { jobs: [...d.jobs.jobs.values()].map(jobListEntry) });
    const job = d.jobs.get(p[1] ?? '');
    if (p.length === 2 && req.method === 'GET') return send(res, 200, isOwnerRequest(d.jobs, job, req) ? privateJobView(job) : publicJobView(job));
    if (p.length > 2 && d.ownerRoutes && (await d.ownerRoutes(req, res, job, p.slice(2)))) return;
    if (p[2] === 'predictions' && p.length === 3 && req.method === 'GET' && d.predictions) return await d.predictions.download(req, res, job, url);
    if (p[2] === 'metrics' && req.method === 'GET') {
      const owner = isOwnerRequest(d.jobs, job, req); // the event log names peers and adapters: owner only
      // ?from=N: only steps N and later (a follower's poll, client/api/)
      const from = Number(url.searchParams.get('from') ?? 0);
      if (!Number.isInteger(from) || from < 0) throw new TabswarmError('BAD_REQUEST', 'from must be a non-negative integer');
      const metrics = from === 0 ? job.coordinator.metrics : job.coordinator.metrics.filter((m) => m.step >= from);
      return send(res, 200, { metrics, status: job.coordinator.status, ...(owner ? { events: job.coordinator.events } : {}) });
    }
    if (p[2] === 'weights' && req.method === 'GET') {
      requireOwner(d.jobs, job, req);
      const c = job.coordinator;
      const fp = c.finalParams;
      if (!fp) {
        if (c.status === 'done' && c.failure) throw new TabswarmError('WEIGHTS_UNAVAILABLE', c.failure);
        if (c.status === 'done') throw new TabswarmError('WEIGHTS_PENDING', 'the job is done and its final weights are being agreed: try again in a moment');
        throw new TabswarmError('WEIGHTS_PENDING', `the job is ${c.status}: final weights exist once it is done (model/model.json serves the last commit)`);
      }
      return send(res, 200, new Uint8Array(fp.params.buffer, fp.params.byteOffset, fp.params.byteLength), {
        'content-type': 'application/octet-stream', 'x-tabswarm-step': String(fp.step), 'x-tabswarm-hash': fp.paramHash, 'x-tabswarm-source': fp.source,
      });
    }
    throw new TabswarmError('BAD_REQUEST', `no route ${req.method} ${url.pathname}`);
  }

  /** PUT /api/uploads/:id — see server/uploads.ts */
  async function upload(req: IncomingMessage, res: ServerResponse, id: string) {
    const t = d.uploads!.take(id);
    if (!t) throw new TabswarmError('UPLOAD_REJECTED', 'unknown, used or expired upload id');
    const c = d.jobs.get(t.jobId).coordinator;
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(req, t.maxBytes);
    } catch (e) {
      // a prediction unit's outputs have one exact size: a member that sends more is not honest
      if (t.kind === 'unit') c.guarded('an upload', () => c.prediction?.refused(t.peerId, t.step, e instanceof Error ? e.message : String(e)));
      throw e;
    }
    const ok = c.guarded('an upload', () =>
      t.kind === 'unit' ? (c.prediction?.uploaded(t.peerId, t.step, bytes) ?? false) : t.kind === 'final' ? c.finalUploaded(t.peerId, t.step, bytes) : c.checkpointUploaded(t.peerId, t.step, bytes),
    );
    if (!ok) throw new TabswarmError('UPLOAD_REJECTED', `the ${t.kind} of step ${t.step} is no longer wanted from you`);
    return send(res, 200, { ok: true, bytes: bytes.byteLength });
  }

  async function serveStatic(res: ServerResponse, pathname: string) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname === '/' ? '/index.html' : pathname);
    } catch {
      throw new TabswarmError('BAD_REQUEST', 'bad path encoding');
    }
    const rel = normalize(decoded).replace(/^(\.\.[/\\])+/, '');
    const file = join(d.distDir, rel);
    if (!file.startsWith(d.distDir)) throw new TabswarmError('BAD_REQUEST', 'bad path');
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) {
      if (rel === '/index.html' || rel === '/dashboard.html') throw new TabswarmError('BAD_REQUEST', 'pages are not built: run `npm run build` first');
      d.countError?.('BAD_REQUEST');
      return send(res, 404, { error: { code: 'BAD_REQUEST', message: `not found: ${pathname}` } });
    }
    const body = await readFile(file);
    send(res, 200, body, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      ...(extname(file) === '.html' ? pageHeaders(d.connectOrigins) : {}),
    });
  }
}
