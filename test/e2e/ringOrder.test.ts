/**
 * Ring order by measured link quality, over the real thing: four Chromium processes, each in
 * a network namespace of its own (browserNetLab.ts), a coturn TURN server on their bridge,
 * the real server handing out TURN credentials. Hosts 0 and 1 cannot reach each other over
 * the bridge (nftables), so their WebRTC link can only be relayed; every other pair is direct.
 *
 * They join in order 0, 1, 2, 3, so the first ring puts the relayed pair side by side. Host
 * 0's heartbeat reports its link to host 1 relayed; the coordinator knows nothing about the
 * links not in the ring (they count as fast), and at the first step it may reorder an
 * unchanged ring (REORDER_STEPS) it moves 1 away from 0 and says why in the `epoch` event.
 * The new ring's links, measured by the members' next heartbeats, are all direct, and the
 * training is exact: every replica ends with the same weights, equal to the single-process
 * reference's.
 *
 * The job is paused twice while the test waits for heartbeats (so that no step count
 * depends on how fast heartbeats come): once until the first ring's links are reported, once
 * until the new ring's are. Pausing lets the open step finish and changes nothing else.
 *
 * Must run as root in a loopback-only network namespace, with coturn and nftables:
 *   npx vite build && bash test/run.sh test/e2e/ringOrder.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright';
import { createJob, startServer, waitFor } from './helpers.ts';
import { browserNetLab, labGuards, type BrowserNetLab } from './browserNetLab.ts';
import { startCoturn, type Coturn } from '../../bench/src/coturn.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { REORDER_STEPS } from '../../server/ringOrder.ts';

const runnable = labGuards('ringOrder.test.ts', ['nsenter', 'ip', 'nft', 'turnserver'], 'apt-get install coturn nftables');

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

type Events = { kind: string; detail: string }[];
const N = 4;
const STEPS = REORDER_STEPS + 8;

/** Whether a and b sit side by side in `ring`. */
const adjacent = (ring: readonly string[], a: string, b: string) => {
  const i = ring.indexOf(a);
  return ring[(i + 1) % ring.length] === b || ring[(i + ring.length - 1) % ring.length] === b;
};

describe.runIf(runnable)('ring order by measured link quality (4 Chromium hosts, one pair relayed)', () => {
  let lab: BrowserNetLab;
  let turn: Coturn;
  let browsers: Browser[];

  beforeAll(async () => {
    lab = await browserNetLab(N);
    cleanups.push(() => lab.close());
    // coturn on the bridge: it listens on .1 and relays from .2 (it refuses permissions for its own listening address)
    await lab.addPubAddr('10.1.0.1/24');
    await lab.addPubAddr('10.1.0.2/24');
    turn = await startCoturn({
      ip: '10.1.0.1',
      relayIp: '10.1.0.2',
      spawn: (cmd, args, opts) => lab.spawnInPub(cmd, args, opts),
      exec: (cmd, args) => lab.spawnInPub(cmd, args, { stdio: 'ignore' }),
    });
    cleanups.push(() => turn.stop());
    await lab.blockPair(0, 1);
    browsers = [];
    for (let i = 0; i < N; i++) browsers.push(await lab.launch(i));
  }, 90_000);

  it('the first ring holds the relayed pair; the coordinator reorders it apart, says why, the new links are direct, and the weights equal the reference', async () => {
    const server = await startServer({
      host: '0.0.0.0',
      coordinator: { heartbeatMs: 500, heartbeatTimeoutMs: 6000 },
      ice: { turn: [turn.url], turnSecret: turn.secret, turnTtlSec: 600 },
    });
    cleanups.push(() => server.close());
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, batchSize: 30, minWorkers: N, evalEvery: 0 });
    const port = new URL(server.url).port;
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const api = (p: string, init: RequestInit = {}) => fetch(`${server.url}/api/jobs/${job.id}${p}`, { ...auth, ...init });
    const view = async () => (await (await api('')).json()) as JobView;
    const events = async () => ((await (await api('/metrics')).json()) as { events: Events }).events;
    const control = async (what: 'pause' | 'resume') => expect((await api(`/${what}`, { method: 'POST' })).status).toBe(200);
    /** every member's heartbeat reports its link to its next neighbour in `ring`, relayed as `relayed` says */
    const linksReported = (ring: string[], relayed: (from: string, to: string) => boolean) =>
      waitFor(`links of ${ring.join(' → ')} reported`, async () => {
        const v = await view();
        return ring.every((id, i) => {
          const l = v.members.find((m) => m.id === id)?.link;
          const to = ring[(i + 1) % ring.length]!;
          return l?.peer === to && l.relayed === relayed(id, to);
        }) ? v : null;
      }, 60_000, 100);

    // join in host order: the join order is the first ring
    for (let i = 0; i < N; i++) {
      const ctx = await browsers[i]!.newContext();
      cleanups.push(() => ctx.close());
      await (await ctx.newPage()).goto(`http://${lab.serverAddr(i)}:${port}/?job=${job.id}&backend=wasm`);
      await waitFor(`member ${i} joined`, async () => (await view()).members.length === i + 1, 60_000, 100);
    }
    const ids = (await view()).members.map((m) => m.id);
    const [a, b] = [ids[0]!, ids[1]!]; // the pair that can only relay

    await waitFor('step 2', async () => (await view()).step >= 2, 90_000, 100);
    await control('pause');
    const first = await linksReported(ids, (from, to) => from === a && to === b);
    await control('resume');

    const reordered = await waitFor('a second epoch', async () => {
      const v = await view();
      return v.epoch >= 2 && v.step > REORDER_STEPS ? v : null;
    }, 90_000, 100);
    await control('pause');
    const epochs = (await events()).filter((e) => e.kind === 'epoch');
    expect(epochs).toHaveLength(2);
    expect(epochs[0]!.detail).toBe(`epoch 1: ring ${ids.join(' → ')}`);
    const ring = /^epoch 2: ring (.*?);/.exec(epochs[1]!.detail)?.[1]?.split(' → ') ?? [];
    expect([...ring].sort()).toEqual([...ids].sort());
    expect(ring).toEqual(reordered.ring);
    expect(adjacent(ring, a, b)).toBe(false);
    expect(epochs[1]!.detail).toMatch(new RegExp(`; reordered by link quality: slowest hop \\d+ ms instead of \\d+ ms \\(slowest pair ${a}–${b}: \\d+ ms, relayed\\)$`));
    // the links the coordinator had never measured, now measured: all direct
    const second = await linksReported(ring, () => false);
    await control('resume');
    const links = (v: JobView) => v.members.map((m) => `${m.id}→${m.link?.peer}: ${m.link?.rttMs?.toFixed(1)} ms${m.link?.relayed ? ' relayed' : ''}`).join(', ');
    console.info(`first ring's links: ${links(first)}\n${epochs[1]!.detail}\nnew ring's links: ${links(second)}`);

    const done = await waitFor('job done, every member reporting', async () => {
      const v = await view();
      return v.status === 'done' && v.hasWeights && v.members.every((m) => m.state === 'active' && m.final) ? v : null;
    }, 90_000, 100);
    expect(done.members).toHaveLength(N);
    expect((await events()).filter((e) => e.kind === 'drop' || e.kind === 'abort')).toEqual([]);
    expect(new Set(done.members.map((m) => m.final!.paramHash)).size).toBe(1);
    const swarm = new Float32Array(await (await api('/weights')).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS, { backend: 'wasm' }); // the tabs' kernels
    expect(swarm.length).toBe(ref.weights.length);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
  }, 240_000);
});
