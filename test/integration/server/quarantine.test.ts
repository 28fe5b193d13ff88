/**
 * No input takes the server down. The report that started it: a Conv2D with
 * `"kernel_size": 3` (a number; tfjs accepts it) was created, and the next dashboard
 * subscriber crashed the process from inside a timer. And whatever a bug may still throw in a
 * handler fails that one job — status 'failed', the reason visible — while the process and
 * every other job go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { io } from 'socket.io-client';
import type { TabswarmServer } from '../../../server/app.ts';
import { DASHBOARD_NAMESPACE, type DashboardServerMessage } from '../../../shared/dashboardProtocol.ts';
import { PROTOCOL_VERSION } from '../../../shared/protocol.ts';
import { presetSpec } from '../../../shared/presets.ts';
import { ProtocolClient, runWorker } from './protocolClient.ts';
import { call, createJob, startServer } from './serverHarness.ts';

let s: TabswarmServer;
const errors: string[] = [];
beforeAll(async () => {
  s = await startServer({ log: (level, msg, fields) => void (level === 'error' && errors.push(`${msg} ${JSON.stringify(fields)}`)) });
});
afterAll(() => s.close());

function dashboardMessages(jobId: string, n: number): Promise<DashboardServerMessage[]> {
  const socket = io(`${s.url}${DASHBOARD_NAMESPACE}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  const got: DashboardServerMessage[] = [];
  return new Promise<DashboardServerMessage[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} dashboard messages for ${jobId}`)), 10_000);
    socket.on('msg', (m: DashboardServerMessage) => {
      got.push(m);
      if (got.length < n) return;
      clearTimeout(timer);
      resolve(got);
    });
    socket.emit('msg', { type: 'subscribe', jobId } as never);
  }).finally(() => socket.close());
}

describe('failures stay in their job', () => {
  it('a CNN whose kernel_size is a number is watched by token-less subscribers while it trains; the server stays up', async () => {
    const cnn = presetSpec(tf, 'mnist-cnn') as unknown as { model: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } } };
    for (const l of cnn.model.config.layers) if (l.class_name === 'Conv2D') l.config.kernel_size = 3;
    const job = await createJob(s.url, { ...cnn, steps: 5, minWorkers: 1 });
    const view = await call(s.url, 'GET', `/api/jobs/${job.id}`);
    expect(view.body.spec).toMatchObject({ model: { config: { layers: expect.arrayContaining([expect.objectContaining({ config: expect.objectContaining({ kernel_size: [3, 3] }) })]) } } });
    const w = await ProtocolClient.connect(s.url);
    await w.join(job.id);
    w.ready();
    const [snap] = await dashboardMessages(job.id, 1);
    expect(snap).toMatchObject({ type: 'snapshot', access: 'public', job: { model: expect.stringContaining('Conv2D(') } });
    await runWorker(w);
    expect((await call(s.url, 'GET', '/api/health')).body).toEqual({ ok: true });
    w.close();
  });

  it('an exception in a message handler quarantines that job; the process and the other jobs go on', async () => {
    const a = await createJob(s.url, { preset: 'iris-mlp', steps: 50, minWorkers: 1 });
    const b = await createJob(s.url, { preset: 'iris-mlp', steps: 5, minWorkers: 1 });
    const broken = s.jobs.get(a.id).coordinator;
    broken.reduced = () => {
      throw new Error('a bug nobody foresaw');
    };
    const wa = await ProtocolClient.connect(s.url);
    await wa.join(a.id);
    wa.ready();
    const step = await wa.next('step');
    wa.send({ type: 'reduced', step: step.step, epoch: step.epoch, hash: '0123456789abcdef', paramHash: '0123456789abcdef', computeMs: 1, allreduceMs: 1, loss: 1, correct: 1, count: 1 });
    expect((await wa.next('error', (e) => e.code === 'JOB_FAILED')).message).toMatch(/a bug nobody foresaw/);
    await wa.until('disconnect', () => (wa.disconnected ? true : undefined));
    const failed = await call(s.url, 'GET', `/api/jobs/${a.id}`);
    expect(failed.body).toMatchObject({ status: 'failed', failure: expect.stringContaining('a bug nobody foresaw') });
    expect(errors.some((e) => e.includes('job quarantined') && e.includes(a.id))).toBe(true);
    // a quarantined job takes no members
    const late = await ProtocolClient.connect(s.url);
    late.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: a.id });
    expect((await late.next('error')).code).toBe('JOB_FAILED');
    late.close();
    // the other job trains to its end on the same server
    const wb = await ProtocolClient.connect(s.url);
    await wb.join(b.id);
    wb.ready();
    const { committed } = await runWorker(wb);
    expect(committed).toEqual([0, 1, 2, 3, 4]);
    expect((await call(s.url, 'GET', `/api/jobs/${b.id}`)).body.status).toBe('done');
    wb.close();
  });
});
