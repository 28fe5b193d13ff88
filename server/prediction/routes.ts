/**
 * A prediction job's REST routes:
 *
 *   POST /api/jobs  { kind: 'predict', … }          → 201 { id, ownerToken, joinUrl, dashboardUrl }
 *   GET  /api/jobs/:id/predictions?format=npy|csv|jsonl   (owner token) → the outputs in input order
 *
 * The download streams from the output file; it is served once every unit is settled (409
 * PREDICTIONS_PENDING before), so a reader never sees rows that are still zeros.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { TabswarmError } from '../../shared/errors.ts';
import type { Job, JobRegistry } from '../jobs.ts';
import type { Logger } from '../log.ts';
import { requireOwner } from '../ownerRoutes.ts';
import { BASE_HEADERS } from '../security/headers.ts';
import { preparePrediction, type PredictCreateDeps } from './create.ts';
import type { PredictionFormat } from './outputFile.ts';

export interface PredictionRoutes {
  create(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  download(req: IncomingMessage, res: ServerResponse, job: Job, url: URL): Promise<void>;
}

const CONTENT: Record<PredictionFormat, string> = { npy: 'application/octet-stream', csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson' };

export function createPredictionRoutes(d: PredictCreateDeps & {
  jobs: JobRegistry;
  log: Logger;
  publicUrl: (req: IncomingMessage) => string;
  send: (res: ServerResponse, status: number, body: unknown) => void;
}): PredictionRoutes {
  return {
    async create(req, res, body) {
      const p = await preparePrediction(d, body, req);
      let created: ReturnType<JobRegistry['create']>;
      try {
        created = d.jobs.create(p.spec, p.vetted, { prediction: p.setup });
      } catch (e) {
        p.setup.output.close(true);
        throw e;
      }
      const { job, ownerToken } = created;
      const base = d.publicUrl(req);
      d.log('info', 'prediction job created', { jobId: job.id, samples: p.setup.size, units: job.coordinator.prediction?.book.units.length });
      d.send(res, 201, { id: job.id, ownerToken, joinUrl: `${base}/?job=${job.id}`, dashboardUrl: `${base}/dashboard.html?job=${job.id}#token=${ownerToken}` });
    },
    async download(req, res, job, url) {
      requireOwner(d.jobs, job, req);
      const run = job.coordinator.prediction;
      if (!run) throw new TabswarmError('BAD_REQUEST', `job ${job.id} is not a prediction job`);
      const format = (url.searchParams.get('format') ?? 'npy') as PredictionFormat;
      if (!Object.hasOwn(CONTENT, format)) throw new TabswarmError('BAD_REQUEST', 'format must be npy, csv or jsonl');
      if (!run.book.finished) throw new TabswarmError('PREDICTIONS_PENDING', `${run.progress().unitsDone} of ${run.book.units.length} units are settled`);
      res.writeHead(200, { ...BASE_HEADERS, 'content-type': CONTENT[format], 'content-disposition': `attachment; filename="predictions-${job.id}.${format}"`, 'cache-control': 'no-store' });
      await pipeline(run.setup.output.stream(format), res);
    },
  };
}
