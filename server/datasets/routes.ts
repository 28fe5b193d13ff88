/**
 * The dataset store's HTTP routes (under /api/datasets; errors as everywhere: a JSON
 * `{ error: { code, message } }`, thrown and answered by server/http.ts):
 *
 *   POST   /api/datasets?format=csv|jsonl|npy|npz|idx[&label=COL][&name=NAME][&task=regression|classification]   body: the file
 *            (task: how numeric labels are read; absent: integers are class ids, other numbers targets)
 *            201 { id, ownerToken, deduplicated: false, ...metadata }
 *            200 { id, deduplicated: true, ...metadata }   (the same bytes, format and label again)
 *   GET    /api/datasets                      { datasets: [summary…] }
 *   GET    /api/datasets/:id                  metadata: shapes, classes or target shape, statistics, shards
 *   DELETE /api/datasets/:id                  owner only (Authorization: Bearer OWNER_TOKEN)
 *   GET    /api/datasets/:id/shards/:hash     the shard's bytes, cached forever (content-addressed)
 *   GET    /api/datasets/:id/preview?rows=N   the first N samples (default 10, at most 100), from the first shard(s) only
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TabswarmError } from '../../shared/errors.ts';
import type { Guards } from '../security/guards.ts';
import type { DatasetStore } from './datasetStore.ts';

export interface DatasetRouteDeps {
  store: DatasetStore;
  send: (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void;
  guards?: Guards;
  /** whether a job that is not done trains on the dataset (a delete is refused then) */
  inUse?: (id: string) => boolean;
}

const bearer = (req: IncomingMessage) => /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];

export function createDatasetRoutes(d: DatasetRouteDeps) {
  return async (req: IncomingMessage, res: ServerResponse, p: string[], url: URL): Promise<void> => {
    if (p.length === 0 && req.method === 'POST') {
      try {
        if (d.guards && !d.guards.createJob(req.socket.remoteAddress)) throw new TabswarmError('RATE_LIMITED', 'too many uploads from this address; try again later');
        const q = url.searchParams;
        const r = await d.store.upload(req, { format: q.get('format'), label: q.get('label'), name: q.get('name'), task: q.get('task') });
        return d.send(res, r.created ? 201 : 200, { ...r.meta, ...(r.ownerToken ? { ownerToken: r.ownerToken } : {}), deduplicated: !r.created });
      } catch (e) {
        // refused before the body was read through: do not read (or wait for) the rest
        if (!req.complete) res.setHeader('connection', 'close');
        throw e;
      }
    }
    if (p.length === 0 && req.method === 'GET') return d.send(res, 200, { datasets: d.store.list() });
    const id = p[0] ?? '';
    if (p.length === 1 && req.method === 'GET') return d.send(res, 200, d.store.get(id));
    if (p.length === 1 && req.method === 'DELETE') {
      await d.store.delete(id, bearer(req), d.inUse);
      return d.send(res, 200, { ok: true, id });
    }
    if (p.length === 2 && p[1] === 'preview' && req.method === 'GET') {
      const raw = url.searchParams.get('rows') ?? '10';
      const rows = Number(raw);
      if (!/^\d{1,6}$/.test(raw) || rows < 1) throw new TabswarmError('BAD_REQUEST', 'rows must be a whole number ≥ 1');
      return d.send(res, 200, await d.store.preview(id, rows));
    }
    if (p.length === 3 && p[1] === 'shards' && (req.method === 'GET' || req.method === 'HEAD')) {
      const bytes = await d.store.shard(id, p[2]!);
      return d.send(res, 200, bytes, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=31536000, immutable', etag: `"${p[2]}"` });
    }
    throw new TabswarmError('BAD_REQUEST', `no route ${req.method} ${url.pathname}`);
  };
}
