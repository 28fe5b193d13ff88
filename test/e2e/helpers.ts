/** Shared pieces of the browser tests: a server, job creation, condition waits. */
import { createTabswarmServer, type ServerOptions, type TabswarmServer } from '../../server/app.ts';
import { createLogger } from '../../server/log.ts';

export async function startServer(o: ServerOptions = {}): Promise<TabswarmServer> {
  return createTabswarmServer({ port: 0, log: createLogger(process.env.TABSWARM_LOG === 'debug' ? 'debug' : 'warn'), ...o });
}

export async function createJob(url: string, body: Record<string, unknown>): Promise<{ id: string; joinUrl: string; ownerToken: string; dashboardUrl: string }> {
  const r = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`job creation failed: ${JSON.stringify(j)}`);
  return j as { id: string; joinUrl: string; ownerToken: string; dashboardUrl: string };
}

export { onPhase, waitFor } from '../../bench/src/pageHooks.ts';
