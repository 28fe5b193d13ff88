/**
 * Strangers next to an honest swarm. Two real Chromium workers train an Iris job over WebRTC;
 * plain socket.io clients in every wrong role — not joined, joined but not ready, syncing
 * (holding a real donor's id), gone — send every client message type with the job's real
 * step and epoch (from its public view) and real peer ids. Each message is answered with its
 * code, and the job's committed history and final weights are exactly those of the honest
 * members: every step once, equal to a single process.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { PROTOCOL_VERSION, type ClientMessage } from '../../shared/protocol.ts';
import { ProtocolClient } from '../integration/server/protocolClient.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const H = '0123456789abcdef';
const INFO = { backend: 'cpu' as const, adapter: '', reason: '', calibration: {}, userAgent: 'stranger' };

/** One message of every type, about `step`/`epoch`, naming `peer` wherever a peer is named. */
function everyMessage(jobId: string, step: number, epoch: number, peer: string): ClientMessage[] {
  return [
    { type: 'join', protocol: PROTOCOL_VERSION, jobId },
    { type: 'ready', info: INFO, samplesPerSec: 1e300 },
    { type: 'signal', to: peer, data: { type: 'offer', sdp: 'v=0' } },
    { type: 'computed', step, epoch, computeMs: 0.001 },
    { type: 'reduced', step, epoch, hash: H, paramHash: H, computeMs: 0, allreduceMs: 0, loss: 1e300, correct: 1e12, count: 1 },
    { type: 'step-failed', step, epoch, code: 'FRAME_NON_FINITE', message: 'lies', suspect: peer },
    { type: 'step-failed', step, epoch, code: 'LINK_FAILED', message: 'lies' },
    { type: 'eval', step: Math.max(0, step - 1), correct: 30, count: 30 },
    { type: 'sync-sent', step, to: peer, paramHash: H },
    { type: 'synced', step, paramHash: H },
    { type: 'param-hash', step, paramHash: H },
    { type: 'final', step, paramHash: H, eval: { correct: 30, count: 30 } },
  ];
}


describe('strangers', () => {
  it('every message type from every wrong role is refused with its code; the job trains as if they were not there', async () => {
    const server = await startServer({ coordinator: { syncTimeoutMs: 6_000 }, violations: { burst: 1_000, perSec: 0 } });
    cleanups.push(() => server.close());
    const STEPS = 60;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 2, checkpointEvery: 10, evalEvery: 10 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const owner = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
    const pub = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`)).json()) as View;
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    for (let i = 0; i < 2; i++) await (await (await workerContext(browser)).newPage()).goto(`${job.joinUrl}&backend=cpu`);
    await waitFor('step 5', async () => (await pub()).step >= 5);

    const outsider = await ProtocolClient.connect(server.url);
    const joiner = await ProtocolClient.connect(server.url);
    const syncer = await ProtocolClient.connect(server.url);
    const leaver = await ProtocolClient.connect(server.url);
    for (const c of [outsider, joiner, syncer, leaver]) cleanups.push(async () => c.close());
    await joiner.join(job.id);
    await syncer.join(job.id);
    syncer.ready(1e300);
    const receive = await syncer.next('sync-receive'); // a real donor's id: now the stranger knows one
    await leaver.join(job.id);
    leaver.send({ type: 'leave' });
    await leaver.until('disconnect', () => (leaver.disconnected ? true : undefined));

    const v = await pub();
    const donor = receive.from;
    const codes = (c: ProtocolClient, msgs: ClientMessage[]) => {
      for (const m of msgs) c.send(m);
      return c.errors(msgs.length);
    };
    // not joined: nothing but join is taken (the join here is for an unknown job)
    const outMsgs = everyMessage('no-such-job', v.step, v.epoch, donor);
    expect((await codes(outsider, outMsgs)).map((e) => e.code)).toEqual(['UNKNOWN_JOB', ...outMsgs.slice(1).map(() => 'NOT_A_MEMBER')]);
    // joined, not ready: only ready would be in its role (sent last, it is taken)
    const jm = everyMessage(job.id, v.step, v.epoch, donor).filter((m) => m.type !== 'ready');
    const jc = (await codes(joiner, jm)).map((e) => e.code);
    expect(jc[0]).toBe('REPLAYED');
    expect(jc.slice(1).every((c) => ['WRONG_STATE', 'NOT_ALLOWED', 'STALE_STEP', 'NOT_IN_RING', 'UNKNOWN_PEER'].includes(c))).toBe(true);
    // syncing, with its donor's id in hand: nothing about steps, no accusation, no vote
    const sm = everyMessage(job.id, v.step, v.epoch, donor).filter((m) => m.type !== 'synced' && m.type !== 'signal'); // a signal to its donor is its role
    const sc = (await codes(syncer, sm)).map((e) => e.code);
    expect(sc.every((c) => ['REPLAYED', 'WRONG_STATE', 'NOT_ALLOWED', 'STALE_STEP', 'NOT_IN_RING'].includes(c))).toBe(true);
    // the same with the step and epoch one off either way: still refused
    for (const d of [-1, 1]) {
      const off = everyMessage(job.id, Math.max(0, v.step + d), Math.max(0, v.epoch + d), donor).filter((m) => !['synced', 'join', 'ready', 'signal'].includes(m.type));
      const oc = (await codes(syncer, off)).map((e) => e.code);
      expect(oc.every((c) => ['WRONG_STATE', 'NOT_ALLOWED', 'STALE_STEP', 'NOT_IN_RING'].includes(c))).toBe(true);
    }

    const done = await waitFor('job done, every member that trained to the end reporting', async () => {
      const o = await owner();
      return o.status === 'done' && o.hasWeights && o.members.filter((m) => m.state === 'active').every((m) => m.final) ? o : null;
    }, 240_000, 250);
    const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number; loss: number; accuracy: number }[] };
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(metrics.every((m) => m.loss < 10 && m.accuracy <= 1)).toBe(true);
    // both honest tabs trained to the end: no stranger got one dropped (a syncing stranger once
    // held its donor's queue until the donor missed a step deadline)
    const honest = done.members.filter((m) => m.final);
    expect(honest.length).toBe(2);
    expect(done.members.filter((m) => m.state === 'dropped' && m.goneReason === 'step-deadline')).toEqual([]);
    expect(new Set(honest.map((m) => m.final!.paramHash)).size).toBe(1);
    expect(done.committedParamHash).toBe(honest[0]!.final!.paramHash);
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(swarm, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 300_000);

  it('a 10,000-message abort flood from a joined socket: disconnected after its violation budget, memory and event log bounded', async () => {
    const server = await startServer({ rateLimits: { joinPerIp: { burst: 1_000, perSec: 1_000 } } });
    cleanups.push(() => server.close());
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: 1_000_000, minWorkers: 1 });
    const c = server.jobs.get(job.id).coordinator;
    const flooder = await ProtocolClient.connect(server.url);
    cleanups.push(async () => flooder.close());
    await flooder.join(job.id);
    const eventsBefore = c.eventSeq;
    for (let i = 0; i < 10_000; i++) flooder.send({ type: 'step-failed', step: 0, epoch: 1, code: 'LINK_FAILED', message: 'x' });
    await flooder.until('disconnect', () => (flooder.disconnected ? true : undefined), 30_000);
    const answered = flooder.inbox.filter((m) => m.type === 'error');
    expect(answered.length).toBeLessThanOrEqual(30); // the budget (20, refilling at 0.2/s) + the last + the reason
    expect(answered.slice(-2).map((e) => e.code)).toEqual(['TOO_MANY_VIOLATIONS', 'DROPPED']);
    expect(c.eventSeq - eventsBefore).toBeLessThanOrEqual(3); // its join, its drop: no abort was taken
    // its address is barred from this job for a while (it spent its budget)
    const again = await ProtocolClient.connect(server.url);
    cleanups.push(async () => again.close());
    again.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: job.id });
    expect((await again.next('error')).code).toBe('RATE_LIMITED');
    // 300 join/leave cycles on another job: its view stays small
    const job2 = await createJob(server.url, { preset: 'iris-mlp', steps: 1_000_000, minWorkers: 1 });
    const c2 = server.jobs.get(job2.id).coordinator;
    for (let i = 0; i < 300; i++) {
      const p = await ProtocolClient.connect(server.url);
      await p.join(job2.id);
      p.send({ type: 'leave' });
      await p.until('disconnect', () => (p.disconnected ? true : undefined));
    }
    expect(c2.members.size).toBeLessThanOrEqual(c2.options.maxGoneMembers);
    expect(c2.events.length).toBeLessThanOrEqual(c2.options.maxEvents);
    const view = JSON.stringify(await (await fetch(`${server.url}/api/jobs/${job2.id}`)).json());
    expect(view.length).toBeLessThan(64 * 1024);
  }, 120_000);
});
