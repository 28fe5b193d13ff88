/**
 * Access control against a real server over real HTTP and socket.io: without the owner token,
 * with another job's token, or with a malformed Authorization header, no control action takes
 * effect, no private field is readable and the weights do not download; the right token does
 * all of it (so the refusals are not vacuous). Peer ids are the server's, and signaling goes
 * only between ring members (or a syncing pair) of the same job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { PROTOCOL_VERSION } from '../../../shared/protocol.ts';
import { ProtocolClient } from './protocolClient.ts';
import { call, createJob, startServer, type Created } from './serverHarness.ts';

let s: TabswarmServer;
let a: Created;
let b: Created;
const clients: ProtocolClient[] = [];
const connect = async () => {
  const c = await ProtocolClient.connect(s.url);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  s = await startServer();
  a = await createJob(s.url, { preset: 'iris-mlp', steps: 50, minWorkers: 2 });
  b = await createJob(s.url, { preset: 'iris-mlp', steps: 50 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await s.close();
});

const badAuth = () => [
  { what: 'no token', o: {} },
  { what: "another job's token", o: { token: b.ownerToken } },
  { what: 'a truncated token', o: { token: a.ownerToken.slice(0, -1) } },
  { what: 'the token as Basic auth', o: { auth: `Basic ${a.ownerToken}` } },
  { what: 'an empty bearer', o: { auth: 'Bearer ' } },
  { what: 'a huge token', o: { token: 'x'.repeat(4000) } },
];

describe('REST access control', () => {
  it('refuses every control action without the right token, and leaves the job untouched', async () => {
    for (const { what, o } of badAuth()) {
      for (const [path, json] of [['pause'], ['resume'], ['stop'], ['learning-rate', { learningRate: 0.5 }]] as const) {
        const r = await call(s.url, 'POST', `/api/jobs/${a.id}/${path}`, { ...o, ...(json ? { json } : {}) });
        expect([what, path, r.status, r.body.error?.code]).toEqual([what, path, 401, 'UNAUTHORIZED']);
      }
    }
    const v = await call(s.url, 'GET', `/api/jobs/${a.id}`, { token: a.ownerToken });
    expect(v.body.status).toBe('waiting');
    expect(v.body.learningRate).toBe((v.body.spec as { optimizer: { learningRate: number } }).optimizer.learningRate);
    const events = v.body.events as { kind: string; detail: string }[];
    expect(events.filter((e) => e.kind === 'status' || e.detail.includes('learning rate'))).toEqual([]);
  });

  it('the owner token works for control (positive control)', async () => {
    const r = await call(s.url, 'POST', `/api/jobs/${b.id}/pause`, { token: b.ownerToken });
    expect(r.body).toMatchObject({ status: 'paused' });
    expect((await call(s.url, 'POST', `/api/jobs/${b.id}/resume`, { token: b.ownerToken })).body).toMatchObject({ status: 'waiting' });
  });

  it('shows only public fields without the token and refuses a wrong one', async () => {
    const w = await connect();
    await w.join(a.id);
    w.ready();
    const pub = await call(s.url, 'GET', `/api/jobs/${a.id}`);
    expect(pub.status).toBe(200);
    expect(pub.body.owner).toBe(false);
    expect(pub.body).not.toHaveProperty('events');
    expect(pub.body).not.toHaveProperty('ring');
    const members = pub.body.members as Record<string, unknown>[];
    expect(members).toHaveLength(1);
    for (const k of ['id', 'adapter', 'userAgent', 'reason', 'goneReason', 'joinedAt']) expect(members[0]).not.toHaveProperty(k);
    expect(JSON.stringify(pub.body)).not.toContain('protocol-client'); // the worker's user agent
    const metrics = await call(s.url, 'GET', `/api/jobs/${a.id}/metrics`);
    expect(metrics.body).toEqual({ metrics: [], status: expect.any(String) }); // no events: they name peers
    for (const { what, o } of badAuth().slice(1)) {
      for (const path of ['', '/metrics']) {
        const r = await call(s.url, 'GET', `/api/jobs/${a.id}${path}`, o);
        expect([what, path, r.status, r.body.error?.code]).toEqual([what, path, 401, 'UNAUTHORIZED']);
      }
    }
    const priv = await call(s.url, 'GET', `/api/jobs/${a.id}`, { token: a.ownerToken });
    expect(priv.body.owner).toBe(true);
    expect((priv.body.members as Record<string, unknown>[])[0]).toMatchObject({ adapter: 'test adapter', userAgent: 'protocol-client' });
    expect((await call(s.url, 'GET', `/api/jobs/${a.id}/metrics`, { token: a.ownerToken })).body.events).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'join' })]));
    w.close();
  });

  it('never lets the weights or the model download without the token', async () => {
    for (const { what, o } of badAuth()) {
      for (const path of ['weights', 'model/model.json', 'model/weights.bin']) {
        const r = await call(s.url, 'GET', `/api/jobs/${a.id}/${path}`, o);
        expect([what, path, r.status, r.body.error?.code]).toEqual([what, path, 401, 'UNAUTHORIZED']);
      }
    }
    const owner = await call(s.url, 'GET', `/api/jobs/${a.id}/weights`, { token: a.ownerToken });
    expect([owner.status, owner.body.error?.code]).toEqual([409, 'WEIGHTS_PENDING']); // past the token check: not done yet
  });
});

describe('socket access control', () => {
  it('assigns peer ids itself: a claimed id is ignored', async () => {
    const c = await connect();
    c.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId: b.id, peerId: 'i-choose-this', id: 'i-choose-this' });
    const w = await c.next('welcome');
    expect(w.peerId).not.toBe('i-choose-this');
    expect(w.peerId).toMatch(/^[A-Za-z0-9_-]{8}$/);
    c.close();
  });

  it('relays signals only within the ring of the same job', async () => {
    const job = await createJob(s.url, { preset: 'iris-mlp', steps: 50, minWorkers: 2 });
    const w1 = await connect();
    const w2 = await connect();
    const id1 = (await w1.join(job.id)).peerId;
    const id2 = (await w2.join(job.id)).peerId;
    w1.ready();
    w2.ready();
    const step = await w1.next('step');
    expect(step.ring.sort()).toEqual([id1, id2].sort());

    const outsider = await connect(); // a ring member of another job
    await outsider.join(b.id);
    outsider.ready();
    await outsider.next('step');
    const stranger = await connect(); // never joined
    const joiner = await connect(); // joined this job, not ready: in no ring
    const idJ = (await joiner.join(job.id)).peerId;

    const data = { type: 'offer', sdp: 'v=0' };
    outsider.send({ type: 'signal', to: id1, data });
    stranger.send({ type: 'signal', to: id1, data });
    joiner.send({ type: 'signal', to: id1, data });
    w1.send({ type: 'signal', to: idJ, data });
    w1.send({ type: 'signal', to: id1, data }); // itself
    expect((await outsider.next('error')).code).toBe('UNKNOWN_PEER');
    expect((await stranger.next('error')).code).toBe('NOT_A_MEMBER');
    expect((await joiner.next('error')).code).toBe('UNKNOWN_PEER');
    expect((await w1.errors(2)).map((e) => e.code)).toEqual(['UNKNOWN_PEER', 'UNKNOWN_PEER']);

    // the legitimate signal is the first one w1 receives: none of the above was relayed
    w2.send({ type: 'signal', to: id1, data: { marker: 'from w2' } });
    const got = await w1.next('signal');
    expect(got).toEqual({ type: 'signal', from: id2, data: { marker: 'from w2' } });
    expect(joiner.inbox.filter((m) => m.type === 'signal')).toEqual([]);

    // a member that left can no longer be signaled, nor signal
    w2.send({ type: 'leave' });
    w1.send({ type: 'signal', to: id2, data });
    expect((await w1.next('error')).code).toBe('UNKNOWN_PEER');
  });
});
