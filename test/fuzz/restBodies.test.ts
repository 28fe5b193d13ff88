/**
 * Properties of the REST API under malformed input, against a real in-process server:
 *  - 10,000 malformed job-creation bodies (200 runs × 50, sent concurrently): each answered
 *    400 with BAD_REQUEST or BAD_JOB_SPEC, no job created, no prototype polluted;
 *  - 2,000 arbitrary requests (method, path, Authorization, body): never a 5xx, always a
 *    coded JSON error when not 2xx;
 * and the server logs no internal error and still creates a well-formed job afterwards.
 * The job-creation rate limit is lifted here (it is tested in test/integration/server).
 */
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { specFromBody } from '../../server/jobs.ts';
import { createJob, startServer } from '../integration/server/serverHarness.ts';
import { malformedJobBody, shortReport, wrongValue } from './arbitraries.ts';

const seed = Number(process.env.FUZZ_SEED ?? 20261126);
let s: TabswarmServer;
let validSpec: Record<string, unknown>;
const errorLogs: string[] = [];

beforeAll(async () => {
  s = await startServer({
    rateLimits: { createJobPerIp: { burst: 1e9, perSec: 1e9 } },
    log: (level, msg, fields) => {
      if (level === 'error') errorLogs.push(`${msg} ${JSON.stringify(fields)}`);
    },
  });
  const presets = (await (await fetch(`${s.url}/api/presets`)).json()) as { specs: Record<string, Record<string, unknown>> };
  validSpec = specFromBody(presets.specs['iris-mlp']) as unknown as Record<string, unknown>;
});
afterAll(async () => {
  agent.destroy();
  await s.close();
});

// node:http with keep-alive: several times faster than fetch for 10,000 small requests
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
function postJob(body: string): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}/api/jobs`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code: string; message: string } } }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function acceptedLocally(body: string): boolean {
  try {
    specFromBody(JSON.parse(body));
    return true;
  } catch {
    return false;
  }
}

describe('REST fuzz', () => {
  it('refuses 10,000 malformed job specs with coded 400s', async () => {
    let sent = 0;
    const body = malformedJobBody(validSpec).filter((b) => !acceptedLocally(b));
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 50, maxLength: 50 }), async (bodies) => {
        const replies = await Promise.all(bodies.map((b) => postJob(b)));
        sent += replies.length;
        // one assertion per batch: vitest's expect() is costly at 10,000 calls
        const wrong = replies.filter((r) => r.status !== 400 || !['BAD_REQUEST', 'BAD_JOB_SPEC'].includes(r.body.error?.code ?? '') || !r.body.error?.message);
        expect(wrong).toEqual([]);
      }),
      { numRuns: 200, seed, endOnFailure: true, asyncReporter: shortReport },
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(s.jobs.jobs.size).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(errorLogs).toEqual([]);
  }, 120_000);

  it('answers 2,000 arbitrary requests without a 5xx', async () => {
    const job = await createJob(s.url, { preset: 'iris-mlp' });
    const segment = fc.oneof(
      fc.constantFrom('api', 'jobs', job.id, 'pause', 'resume', 'stop', 'learning-rate', 'metrics', 'weights', 'model', 'model.json', 'datasets', 'iris', 'mnist', '..', '%2e%2e', '%00', '%ff', 'health', 'presets'),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      path: fc.array(segment, { maxLength: 5 }).map((p) => `/${p.join('/')}`),
      auth: fc.option(fc.oneof(fc.constant(`Bearer ${job.ownerToken}`), fc.string({ maxLength: 40 }).map((t) => `Bearer ${t.replace(/[\r\n]/g, '')}`)), { nil: undefined }),
      body: fc.option(wrongValue.map((v) => JSON.stringify(v) ?? 'null'), { nil: undefined }),
    });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 20, maxLength: 20 }), async (reqs) => {
        const replies = await Promise.all(
          reqs.map(async (q) => {
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            if (q.auth !== undefined) headers.authorization = q.auth;
            const hasBody = q.body !== undefined && q.method !== 'GET';
            const r = await fetch(`${s.url}${q.path}`, { method: q.method, headers, ...(hasBody ? { body: q.body } : {}) });
            const type = r.headers.get('content-type') ?? '';
            const json = type.startsWith('application/json') ? ((await r.json()) as { error?: { code: string } }) : (await r.arrayBuffer(), null);
            return { q, status: r.status, json };
          }),
        );
        sent += replies.length;
        const wrong = replies.filter((r) => r.status >= 500 || (r.status >= 400 && typeof r.json?.error?.code !== 'string'));
        expect(wrong).toEqual([]);
      }),
      { numRuns: 100, seed, endOnFailure: true, asyncReporter: shortReport },
    );
    expect(sent).toBe(2_000);
    expect(errorLogs).toEqual([]);
    const again = await createJob(s.url, { preset: 'iris-mlp', steps: 5 });
    expect(again.id).toMatch(/^[A-Za-z0-9_-]{8}$/);
  }, 120_000);
});
