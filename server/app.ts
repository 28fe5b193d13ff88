/**
 * Assembles the server: HTTP routes, socket.io, the job registry. Everything it needs
 * (clock, logger, paths) comes in through `createTabswarmServer`'s options.
 */
import { createIdleServer } from './prediction/serveIdle.ts';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Server } from 'socket.io';
import { MAX_SOCKET_MESSAGE_BYTES, MAX_STATE_BYTES, type ClientToServerEvents, type ServerToClientEvents } from '../shared/protocol.ts';
import type { CoordinatorOptions } from './coordinator.ts';
import { attachDashboardFeed } from './dashboardFeed.ts';
import { createDatasetFiles } from './datasetFiles.ts';
import { DEFAULT_VETTING_LIMITS, type VettingLimits } from './vetting/limits.ts';
import { createDatasetStore, datasetShapeLookup, type DatasetStore } from './datasets/datasetStore.ts';
import { importShippedDatasets } from './datasets/shipped.ts';
import { createDatasetRoutes } from './datasets/routes.ts';
import { shardLayoutOf } from './datasets/shardLayout.ts';
import { createHttpHandler, readJson, send } from './http.ts';
import { createJobSignals } from './jobSignals.ts';
import { createModelExporter } from './modelExport.ts';
import { createServerMetrics } from './metrics.ts';
import { createOwnerRoutes } from './ownerRoutes.ts';
import { createPredictionRoutes } from './prediction/routes.ts';
import { JobRegistry, vetSpec } from './jobs.ts';
import { createLogger, type Logger } from './log.ts';
import { createGuards, type RateLimits } from './security/guards.ts';
import { createPenaltyBox } from './security/penaltyBox.ts';
import type { BucketSpec } from './security/rateLimit.ts';
import { hardenHttpServer } from './security/headers.ts';
import { createOriginCheck, normaliseOrigins } from './security/origin.ts';
import { iceConfig, type IceOptions } from './ice.ts';
import { attachSockets } from './sockets.ts';
import { createUploadTable, uploadLimitBytes } from './uploads.ts';
import { jobRecord, persistHooks, withPersistence } from './store/persist.ts';
import { restoreJobs } from './store/restore.ts';
import { createStore } from './store/store.ts';

export interface ServerOptions {
  port?: number;
  host?: string;
  distDir?: string;
  log?: Logger;
  now?: () => number;
  /** fixed ICE servers for every member (tests); otherwise `ice` (STUN/TURN with per-member TURN credentials) */
  iceServers?: Record<string, unknown>[];
  /** STUN/TURN for the members (`tabswarm serve --stun/--turn/--turn-secret`, or TABSWARM_* env vars) */
  ice?: IceOptions;
  coordinator?: Partial<CoordinatorOptions>;
  /** SQLite data directory (`tabswarm serve --data`); absent: an in-memory database (tests, demo) */
  dataDir?: string;
  /** web origins besides the server's own that may open socket.io connections (and that pages may connect to) */
  allowedOrigins?: string[];
  rateLimits?: Partial<RateLimits>;
  /** uploaded datasets: the largest upload (default 2 GiB) and the shard size (default 4 MiB) */
  datasets?: { maxUploadBytes?: number; shardBytes?: number; quotaBytes?: number };
  /** caps on a job's model, e.g. `{ maxTrainableParams }` (`tabswarm serve --max-params N`); the rest default (server/vetting/limits.ts) */
  vetting?: Partial<VettingLimits>;
  /** malformed or out-of-role messages a socket may send before it is disconnected (server/sockets.ts) */
  violations?: BucketSpec;
  /** where prediction jobs write their outputs (default: a directory under the OS's temp dir) */
  predictionsDir?: string;
}

export interface TabswarmServer {
  url: string;
  port: number;
  jobs: JobRegistry;
  /** uploaded datasets (server/datasets/) */
  datasets: DatasetStore;
  close(): Promise<void>;
}

/** how often the server looks for idle training members to hand a prediction job */
const IDLE_SWEEP_MS = 500;

export async function createTabswarmServer(o: ServerOptions = {}): Promise<TabswarmServer> {
  const log = o.log ?? createLogger('info');
  const now = o.now ?? Date.now;
  const every = (ms: number, fn: () => void) => {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  };
  // "job X changed": rung by the coordinator's hooks, heard by the dashboard feed and model downloads
  const signals = createJobSignals();
  const exporter = createModelExporter({ tf, signals });
  const store = createStore(o.dataDir ? { dir: o.dataDir, now } : { memory: true, now });
  const datasets = createDatasetStore({
    ...(o.dataDir ? { root: join(resolve(o.dataDir), 'datasets') } : {}), rows: store.datasets, now, ...o.datasets,
  });
  // MNIST, Iris and SOTU are store entries like any upload (built once per machine, linked in)
  const imported = await importShippedDatasets(datasets, now, { onBuild: (dir) => log('info', `building the shipped datasets' shards in ${dir} (once per machine)`) });
  if (imported.length > 0 && o.dataDir) log('info', `imported the shipped datasets ${imported.join(', ')} into the dataset store`);
  const datasetShape = datasetShapeLookup(datasets);
  const vettingLimits: VettingLimits = { ...DEFAULT_VETTING_LIMITS, ...o.vetting };
  const origins = normaliseOrigins(o.allowedOrigins ?? []);
  const guards = createGuards({ now, limits: o.rateLimits });
  const uploads = createUploadTable({ now });
  const ice = iceConfig(o.ice ?? {}, o.iceServers ? {} : process.env);
  // the most bytes an upload of a job may have: its state (params + optimizer moments) or its weights
  const uploadLimit = (jobId: string, kind: 'checkpoint' | 'final' | 'unit', step: number) => {
    // a prediction unit's outputs: exactly its size, so a larger body is refused unread
    if (kind === 'unit') return jobs.jobs.get(jobId)?.coordinator.prediction?.unitBytes(step) ?? 0;
    const v = jobs.jobs.get(jobId)?.vetted;
    return v === undefined ? MAX_STATE_BYTES : uploadLimitBytes(v, kind);
  };
  const jobs: JobRegistry = new JobRegistry({
    now,
    onCreate: (job) => store.createJob(jobRecord(job)),
    coordinatorDeps: (jobId, spec) => withPersistence({
      now,
      ...(spec ? shardLayoutOf(datasets, spec) : {}),
      every: (ms, fn) => {
        const t = setInterval(fn, ms);
        t.unref();
        return () => clearInterval(t);
      },
      ...(o.coordinator ? { options: o.coordinator } : {}),
      onEvent: (e) => {
        log('info', `job event: ${e.kind}`, { jobId, peerId: e.peerId, detail: e.detail });
        signals.changed(jobId, 'event');
      },
      onMetrics: () => signals.changed(jobId, 'metrics'),
      onCheckpoint: () => signals.changed(jobId, 'checkpoint'),
      onParams: () => signals.changed(jobId, 'params'),
      onRollback: () => signals.changed(jobId, 'rollback'),
      onFailure: (reason, err) => {
        log('error', 'job quarantined', { jobId, reason, err: err instanceof Error ? err.stack : err === undefined ? undefined : String(err) });
        signals.changed(jobId, 'event');
      },
      offerUpload: (t) => uploads.offer({ jobId, ...t, maxBytes: uploadLimit(jobId, t.kind, t.step) }),
    }, persistHooks(store, jobId, () => jobs.jobs.get(jobId)?.coordinator, log)),
  });
  await restoreJobs(store, jobs, now, log, (spec) => vetSpec(tf, spec, vettingLimits, datasetShape));
  const host = o.host ?? '127.0.0.1';
  let baseUrl = '';
  const metrics = createServerMetrics({ jobs });
  const publicUrl = (req: IncomingMessage) => (req.headers.host ? `http://${req.headers.host}` : baseUrl);
  const handler = createHttpHandler({
    jobs,
    distDir: resolve(o.distDir ?? 'dist'),
    log,
    publicUrl,
    ownerRoutes: createOwnerRoutes({ jobs, exporter, log, readJson, send }),
    guards,
    connectOrigins: origins,
    uploads,
    storedDatasets: createDatasetRoutes({
      store: datasets, send, guards,
      inUse: (id) => [...jobs.jobs.values()].some((j) => j.spec.dataset.id === id && !['done', 'stopped', 'failed'].includes(j.coordinator.status)),
    }),
    datasetShape,
    vettingLimits,
    metrics: metrics.render,
    countError: metrics.countError,
    predictions: createPredictionRoutes({ tf, jobs, log, publicUrl, send, source: createDatasetFiles(datasets).source, datasetShape, ...(o.predictionsDir ? { dir: o.predictionsDir } : {}) }),
  });
  const http = createServer((req, res) => void handler(req, res));
  hardenHttpServer(http);
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, {
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES, serveClient: false,
    allowRequest: createOriginCheck(origins), ...(origins.length ? { cors: { origin: origins } } : {}),
  });
  attachSockets(io, { jobs, log, iceServers: (peerId) => o.iceServers ?? (ice.iceServersFor(peerId, now()) as unknown as Record<string, unknown>[]), guards, penalties: createPenaltyBox({ now }), countError: metrics.countError, now, ...(o.violations ? { violations: o.violations } : {}) });
  // idle members of finished training jobs serve prediction units (server/prediction/serveIdle.ts)
  const sweepIdle = createIdleServer(jobs);
  const stopIdleSweep = every(IDLE_SWEEP_MS, () => {
    try {
      sweepIdle();
    } catch (e) {
      log('error', 'idle sweep failed', { err: e instanceof Error ? e.message : String(e) });
    }
  });
  attachDashboardFeed(io, { jobs, signals, log, every, guards, paramCount: async (job) => job.vetted.trainableParams });
  await new Promise<void>((res, rej) => {
    http.once('error', (e) => {
      for (const j of jobs.jobs.values()) j.coordinator.destroy();
      store.close();
      datasets.close();
      rej(e);
    });
    http.listen(o.port ?? 0, host, () => res());
  });
  const port = (http.address() as AddressInfo).port;
  baseUrl = `http://${host}:${port}`;
  log('info', 'server listening', { url: baseUrl, ice: ice.describe() });
  return {
    url: baseUrl,
    port,
    jobs,
    datasets,
    close: () =>
      new Promise<void>((res) => {
        stopIdleSweep();
        for (const j of jobs.jobs.values()) j.coordinator.destroy();
        io.close();
        http.close(() => {
          store.close();
          datasets.close();
          res();
        });
        http.closeAllConnections();
      }),
  };
}
