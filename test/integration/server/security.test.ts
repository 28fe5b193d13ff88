/**
 * The server's perimeter, against real servers: socket.io refuses foreign origins (and takes
 * its own and configured ones), pages carry a CSP and the other security headers, API answers
 * are never cached, bodies are bounded and must be JSON, the rate limits answer with
 * RATE_LIMITED (job creation, joins, messages, sockets per IP), and a socket that keeps
 * sending garbage — unknown events included — is disconnected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { PROTOCOL_VERSION } from '../../../shared/protocol.ts';
import { ProtocolClient } from './protocolClient.ts';
import { call, createJob, startServer } from './serverHarness.ts';

let s: TabswarmServer;
let dist: string;
const clients: ProtocolClient[] = [];
const track = (c: ProtocolClient) => (clients.push(c), c);

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), 'tabswarm-dist-'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(dist, 'app.js'), 'export {}');
  s = await startServer({ distDir: dist, allowedOrigins: ['https://volunteer.example/'] });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await s.close();
  rmSync(dist, { recursive: true, force: true });
});

describe('origin checks for socket.io', () => {
  it('refuses a foreign origin and a null origin', async () => {
    await expect(ProtocolClient.connect(s.url, { origin: 'http://evil.example' })).rejects.toThrow();
    await expect(ProtocolClient.connect(s.url, { origin: 'null' })).rejects.toThrow();
    await expect(ProtocolClient.connect(s.url, { origin: `http://127.0.0.1:${s.port + 1}` })).rejects.toThrow();
  });

  it('accepts its own origin, a configured origin and clients that send none', async () => {
    for (const origin of [`http://127.0.0.1:${s.port}`, 'https://volunteer.example', undefined]) {
      const c = track(await ProtocolClient.connect(s.url, origin ? { origin } : {}));
      c.send({ type: 'heartbeat' });
      expect((await c.next('error')).code).toBe('NOT_A_MEMBER'); // connected and answered
      c.close();
    }
  });
});

describe('headers', () => {
  it('pages carry a CSP that allows wasm but no inline script, and forbid framing and sniffing', async () => {
    const r = await fetch(`${s.url}/`);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self' https://volunteer.example wss://volunteer.example");
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    const js = await fetch(`${s.url}/app.js`);
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect(js.headers.get('content-type')).toBe('text/javascript');
  });

  it('API answers are not cached and not sniffed, errors included', async () => {
    for (const path of ['/api/jobs', '/api/jobs/nope', '/api/nothing']) {
      const r = await fetch(`${s.url}${path}`);
      expect([path, r.headers.get('cache-control'), r.headers.get('x-content-type-options')]).toEqual([path, 'no-store', 'nosniff']);
    }
  });

  it('a malformed path encoding is a coded 400, not a crash', async () => {
    const r = await call(s.url, 'GET', '/%E0%A4%A');
    expect([r.status, r.body.error?.code]).toEqual([400, 'BAD_REQUEST']);
  });
});

describe('bodies', () => {
  it('job creation needs a JSON content type (no cross-site form posts)', async () => {
    const r = await fetch(`${s.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ preset: 'iris-mlp' }) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });

  it('refuses a body over the bound, by its length header and by what arrives', async () => {
    const big = JSON.stringify({ preset: 'iris-mlp', name: 'x'.repeat(2 * 1024 * 1024) });
    const r = await fetch(`${s.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect([r.status, ((await r.json()) as { error: { message: string } }).error.message]).toEqual([400, 'BAD_REQUEST: body larger than 1048576 bytes']);
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode('x'.repeat(64 * 1024)));
        c.close();
      },
    });
    const r2 = await fetch(`${s.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunked, duplex: 'half' } as RequestInit);
    expect(r2.status).toBe(400);
  });

  it('refuses a model JSON over its own bound', async () => {
    const r = await call(s.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp', model: { class_name: 'Sequential', config: { pad: 'x'.repeat(300 * 1024) } } } });
    expect([r.status, r.body.error?.code]).toEqual([400, 'BAD_JOB_SPEC']);
  });
});

describe('rate limits', () => {
  let tight: TabswarmServer;
  beforeAll(async () => {
    tight = await startServer({
      rateLimits: { createJobPerIp: { burst: 2, perSec: 0.001 }, joinPerIp: { burst: 2, perSec: 0.001 }, messagesPerSocket: { burst: 10, perSec: 0.001 }, socketsPerIp: 4 },
    });
  });
  afterAll(() => tight.close());

  it('job creation per IP', async () => {
    const job = await createJob(tight.url, { preset: 'iris-mlp' });
    await createJob(tight.url, { preset: 'iris-mlp' });
    const r = await call(tight.url, 'POST', '/api/jobs', { json: { preset: 'iris-mlp' } });
    expect([r.status, r.body.error?.code]).toEqual([429, 'RATE_LIMITED']);

    // joins per IP, over two sockets
    const c1 = track(await ProtocolClient.connect(tight.url));
    const c2 = track(await ProtocolClient.connect(tight.url));
    await c1.join(job.id);
    c2.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: 'nope' }); // an unknown job costs a join too
    expect((await c2.next('error')).code).toBe('UNKNOWN_JOB');
    c2.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: job.id });
    expect((await c2.next('error')).code).toBe('RATE_LIMITED');

    // messages per socket: 10 (the two joins above and 8 more), then refused
    for (let i = 0; i < 10; i++) c2.send({ type: 'heartbeat' });
    expect((await c2.errors(10)).map((e) => e.code)).toEqual([...Array(8).fill('NOT_A_MEMBER'), 'RATE_LIMITED', 'RATE_LIMITED']);

    // sockets per IP: 4 open (c1, c2 and two more), the fifth is refused and closed
    const c3 = track(await ProtocolClient.connect(tight.url));
    const c4 = track(await ProtocolClient.connect(tight.url));
    const c5 = track(await ProtocolClient.connect(tight.url));
    await c5.until('the fifth socket closed', () => (c5.disconnected ? true : undefined));
    expect(c5.inbox).toEqual([{ type: 'error', code: 'RATE_LIMITED', message: 'too many connections from this address' }]);
    c4.close();
    await c4.until('closed', () => (c4.disconnected ? true : undefined));
    c3.send({ type: 'heartbeat' });
    expect((await c3.next('error')).code).toBe('NOT_A_MEMBER');
  });
});

describe('garbage', () => {
  it('answers unknown events and malformed messages with BAD_REQUEST, and disconnects once its violation budget (20) is spent', async () => {
    const c = track(await ProtocolClient.connect(s.url));
    c.socket.emit('hello', { a: 1 });
    c.socket.emit('msg', 'not an object');
    expect((await c.errors(2)).map((e) => [e.code, e.message.slice(0, 13)])).toEqual([['BAD_REQUEST', 'unknown event'], ['BAD_REQUEST', '(root): Expec']]);
    c.send({ type: 'heartbeat' }); // well-formed but outside its role: counted as well
    expect((await c.next('error')).code).toBe('NOT_A_MEMBER');
    for (let i = 0; i < 25; i++) c.send({ type: 'nope', i });
    await c.until('disconnect', () => (c.disconnected ? true : undefined));
    const errors = c.inbox.filter((m) => m.type === 'error');
    // 21 violations answered in all (the budget holds 20), then the reason for the disconnect
    expect(errors.length + 3).toBe(22);
    expect(errors.at(-1)!.code).toBe('TOO_MANY_VIOLATIONS');
  });
});
