/**
 * Property: a stranger's job spec with a generated model — any class tfjs registers, tfjs's
 * config keys with right and wrong values — never hurts the server. Against a real in-process
 * server, each POST /api/jobs is answered 201 or a 400 with BAD_JOB_SPEC or MODEL_REJECTED;
 * each accepted job gets a token-less dashboard snapshot; the server logs no internal error
 * and still answers /api/health. The job-creation rate limit is lifted here.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { DASHBOARD_NAMESPACE, type DashboardServerMessage } from '../../shared/dashboardProtocol.ts';
import { call, startServer } from '../integration/server/serverHarness.ts';
import { shortReport } from './arbitraries.ts';
import { fuzzJobSpec } from './modelArbitraries.ts';

const seed = Number(process.env.FUZZ_SEED ?? 20261130);
let s: TabswarmServer;
const errorLogs: string[] = [];

beforeAll(async () => {
  s = await startServer({
    rateLimits: { createJobPerIp: { burst: 1e9, perSec: 1e9 } },
    log: (level, msg, fields) => {
      if (level === 'error') errorLogs.push(`${msg} ${JSON.stringify(fields)}`);
    },
  });
});
afterAll(async () => {
  await s?.close();
});

/** The first message a token-less subscriber gets. */
async function firstDashboardMessage(jobId: string): Promise<DashboardServerMessage> {
  const socket = io(`${s.url}${DASHBOARD_NAMESPACE}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    return await new Promise<DashboardServerMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard message for ${jobId}`)), 5_000);
      socket.once('connect_error', reject);
      socket.once('msg', (m: DashboardServerMessage) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.emit('msg', { type: 'subscribe', jobId } as never);
    });
  } finally {
    socket.close();
  }
}

describe('job spec fuzz', () => {
  it('generated models are accepted (and watchable) or refused with a code, and the server stays up', async () => {
    const classNames = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap);
    expect(classNames).toContain('Conv2D');
    const tally = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fuzzJobSpec(classNames), async (spec) => {
        const r = await call(s.url, 'POST', '/api/jobs', { json: spec });
        if (r.status === 201) {
          tally.accepted++;
          const m = await firstDashboardMessage(r.body.id as string);
          expect(m.type).toBe('snapshot');
          if (m.type === 'snapshot') expect(m.access).toBe('public');
        } else {
          tally.refused++;
          expect(r.status).toBe(400);
          expect(['BAD_JOB_SPEC', 'MODEL_REJECTED']).toContain(r.body.error?.code);
          expect(r.body.error?.message).toBeTruthy();
        }
      }),
      { numRuns: 150, seed, endOnFailure: true, asyncReporter: shortReport },
    );
    expect((await call(s.url, 'GET', '/api/health')).body).toEqual({ ok: true });
    expect(errorLogs).toEqual([]);
    // both paths must have been exercised, or the property says little
    expect(tally.accepted).toBeGreaterThan(10);
    expect(tally.refused).toBeGreaterThan(10);
    expect(s.jobs.jobs.size).toBe(tally.accepted);
  }, 60_000);
});
