/**
 * Property: every malformed socket event gets exactly one coded error (BAD_REQUEST), in
 * order, and the server never throws. 10,000 generated events (200 runs × 50) go to a real
 * in-process server over 8 real socket.io clients on loopback, with a well-formed request
 * after every 10 and at the end of each batch (answered with its own code, which also keeps the sockets under the
 * garbage-disconnect threshold). Afterwards the server still answers well-formed requests:
 * health, job creation, a join and a first step. FUZZ_SEED=n replays a run.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { ProtocolClient } from '../integration/server/protocolClient.ts';
import { createJob, startServer } from '../integration/server/serverHarness.ts';
import { malformedEvent, shortReport, type FuzzEvent } from './arbitraries.ts';

const RUNS = 200;
const BATCH = 50;
const SOCKETS = 8;
const seed = Number(process.env.FUZZ_SEED ?? 20261126);

let s: TabswarmServer;
const errorLogs: string[] = [];
let pool: ProtocolClient[] = [];

beforeAll(async () => {
  s = await startServer({
    // this suite checks that each malformed event is answered; the violation budget has its own test
    violations: { burst: 1e9, perSec: 0 },
    log: (level, msg, fields) => {
      if (level === 'error') errorLogs.push(`${msg} ${JSON.stringify(fields)}`);
    },
  });
});
afterAll(async () => {
  for (const c of pool) c.close();
  await s.close();
});

async function freshPool() {
  if (pool.length === SOCKETS && pool.every((c) => !c.disconnected)) return pool;
  for (const c of pool) c.close();
  pool = await Promise.all(Array.from({ length: SOCKETS }, () => ProtocolClient.connect(s.url)));
  return pool;
}

/** Sends this socket's share of the batch and checks its replies, in order. */
async function exchange(c: ProtocolClient, events: FuzzEvent[]): Promise<number> {
  const expected: string[] = [];
  events.forEach((e, i) => {
    c.socket.emit(e.event, ...e.args);
    expected.push('BAD_REQUEST');
    if (i % 10 === 9 || i === events.length - 1) {
      c.send({ type: 'heartbeat' }); // well-formed: the server must still tell it apart
      expected.push('NOT_A_MEMBER');
    }
  });
  const replies = await c.errors(expected.length);
  expect(replies.map((r) => (r.message.length > 0 ? r.code : 'NO MESSAGE'))).toEqual(expected);
  expect(c.disconnected).toBe(false);
  return events.length;
}

describe('socket event fuzz', () => {
  it(`answers ${RUNS * BATCH} malformed events with coded errors and stays up`, async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(malformedEvent, { minLength: BATCH, maxLength: BATCH }), async (events) => {
        const clients = await freshPool();
        const counts = await Promise.all(clients.map((c, k) => exchange(c, events.filter((_, i) => i % SOCKETS === k))));
        sent += counts.reduce((a, b) => a + b, 0);
      }),
      { numRuns: RUNS, seed, endOnFailure: true, asyncReporter: shortReport },
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(errorLogs).toEqual([]); // no handler failed with an uncoded (internal) error

    const health = await fetch(`${s.url}/api/health`);
    expect(await health.json()).toEqual({ ok: true });
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 3 });
    const w = await ProtocolClient.connect(s.url);
    const welcome = await w.join(job.id);
    expect(welcome.jobId).toBe(job.id);
    w.ready();
    expect(await w.next('step')).toMatchObject({ step: 0, ring: [welcome.peerId] });
    w.close();
  }, 120_000);
});
