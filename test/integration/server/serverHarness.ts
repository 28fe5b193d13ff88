/** A real in-process server and a few REST helpers for the server tests. */
import { createTabswarmServer, type ServerOptions, type TabswarmServer } from '../../../server/app.ts';
import { createLogger } from '../../../server/log.ts';

export function startServer(o: ServerOptions = {}): Promise<TabswarmServer> {
  return createTabswarmServer({ port: 0, log: createLogger(process.env.TABSWARM_LOG === 'debug' ? 'debug' : 'silent'), ...o });
}

export interface Created {
  id: string;
  ownerToken: string;
  joinUrl: string;
}

export async function createJob(url: string, body: Record<string, unknown>): Promise<Created> {
  const r = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = (await r.json()) as Created;
  if (r.status !== 201) throw new Error(`job creation failed: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

export interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  headers: Headers;
}

export async function call(url: string, method: string, path: string, o: { token?: string; auth?: string; json?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.auth !== undefined) headers.authorization = o.auth;
  if (o.json !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${url}${path}`, { method, headers, ...(o.json !== undefined ? { body: JSON.stringify(o.json) } : {}) });
  const text = await r.text();
  let body: Reply['body'] = {};
  try {
    body = JSON.parse(text) as Reply['body'];
  } catch {
    body = { raw: text };
  }
  return { status: r.status, body, headers: r.headers };
}
