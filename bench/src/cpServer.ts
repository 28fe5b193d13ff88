/**
 * The control-plane bench's server: a real tabswarm server (default rate limits, default
 * heartbeat) in its own process, so its memory and CPU are its own. Creates one job and
 * tells its parent `{ ready: { url, jobId } }`; answers `usage` with RSS, heap and CPU.
 */
import '../../server/tfjsQuiet.ts';
import { createTabswarmServer } from '../../server/app.ts';
import { createLogger } from '../../server/log.ts';

const server = await createTabswarmServer({ port: 0, host: '127.0.0.1', log: createLogger('error') });
const r = await fetch(`${server.url}/api/jobs`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ preset: 'iris-mlp', minWorkers: 1024, steps: 1000 }),
});
const job = (await r.json()) as { id: string };
process.send?.({ ready: { url: server.url, jobId: job.id } });

process.on('message', (m: { op?: string }) => {
  if (m.op === 'usage') {
    const u = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ usage: { cpuUserMs: u.user / 1000, cpuSystemMs: u.system / 1000, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed } });
  }
});
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
