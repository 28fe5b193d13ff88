/**
 * Owner-only REST routes under /api/jobs/:id/, each guarded by `Authorization: Bearer TOKEN`
 * (the owner token, checked by JobRegistry.isOwner):
 *   POST pause | resume | stop            → { status }
 *   POST learning-rate { learningRate }   → { learningRate }
 *   GET  model/model.json                 → tfjs Layers model.json at the last commit
 *   GET  model/weights.bin                → the weights that the last model.json describes
 * Both model files carry x-tabswarm-step and x-tabswarm-hash (hash of the trainable weights,
 * the replicas' paramHash).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { TabswarmError } from '../shared/errors.ts';
import type { Job, JobRegistry } from './jobs.ts';
import type { Logger } from './log.ts';
import type { ModelExporter } from './modelExport.ts';

export interface OwnerRouteDeps {
  jobs: JobRegistry;
  exporter: ModelExporter;
  log: Logger;
  readJson(req: IncomingMessage): Promise<unknown>;
  send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
}

const learningRateBody = z.object({ learningRate: z.number().positive().max(10) }).strict();

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1];
}

export function requireOwner(jobs: JobRegistry, job: Job, req: IncomingMessage) {
  if (!jobs.isOwner(job, bearerToken(req))) throw new TabswarmError('UNAUTHORIZED', 'this needs the job owner token (Authorization: Bearer TOKEN)');
}

/** Handles the route and returns true, or returns false when `rest` is not one of these routes. */
export function createOwnerRoutes(d: OwnerRouteDeps) {
  return async (req: IncomingMessage, res: ServerResponse, job: Job, rest: string[]): Promise<boolean> => {
    const route = `${req.method} ${rest.join('/')}`;
    const c = job.coordinator;
    switch (route) {
      case 'POST pause':
      case 'POST resume':
      case 'POST stop': {
        requireOwner(d.jobs, job, req);
        if (rest[0] === 'pause') c.pause();
        else if (rest[0] === 'resume') c.resume();
        else c.stop();
        d.log('info', `job ${rest[0]}`, { jobId: job.id, status: c.status });
        d.send(res, 200, { status: c.status, step: c.step });
        return true;
      }
      case 'POST learning-rate': {
        requireOwner(d.jobs, job, req);
        const r = learningRateBody.safeParse(await d.readJson(req));
        if (!r.success) {
          const i = r.error.issues[0]!;
          throw new TabswarmError('BAD_REQUEST', `${i.path.join('.') || '(root)'}: ${i.message}`);
        }
        c.setLearningRate(r.data.learningRate);
        d.send(res, 200, { learningRate: c.learningRate, step: c.step });
        return true;
      }
      case 'GET model/model.json':
      case 'GET model/weights.bin': {
        requireOwner(d.jobs, job, req);
        const json = rest[1] === 'model.json';
        const m = json ? await d.exporter.export(job) : await d.exporter.latest(job);
        const headers = {
          'x-tabswarm-step': String(m.step), 'x-tabswarm-hash': m.paramHash, 'x-tabswarm-source': m.source, 'cache-control': 'no-store',
          'content-disposition': `attachment; filename="${json ? 'model.json' : 'weights.bin'}"`,
        };
        if (json) d.send(res, 200, m.modelJson, headers);
        else d.send(res, 200, m.weights, { ...headers, 'content-type': 'application/octet-stream' });
        return true;
      }
      default:
        return false;
    }
  };
}
