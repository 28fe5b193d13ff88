/**
 * The volunteer page (index.html?job=ID[&backend=webgl|wasm|cpu|webgpu][&server=URL][&overlap=0][&uplink=MBIT][&cacheMb=N][&prefetch=K][&feed=whole][&latency=ring][&zeros=dense]).
 * Wires the real parts together — socket.io, simple-peer data channels, tfjs — shows what
 * the tab is doing and for whom, and owns the tab's lifecycle: a hidden tab leaves cleanly
 * and rejoins when shown again, a lost WebGPU device re-initialises on another backend, a
 * lost server or a drop rejoins with exponential backoff.
 */
import * as tf from '@tensorflow/tfjs';
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { io } from 'socket.io-client';
import type { DatasetSource } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { PeerMesh } from '../../shared/transport/peerMesh.ts';
import { simplePeerFactory, type HealEvent, type SimplePeerConstructor } from '../../shared/transport/peerLink.ts';
import { chooseBackend, probeWebGpu, webgpuDeviceLost, type AdapterReport, type BackendName } from './backend.ts';
import { renderBackend, renderJobInfo, watchJob } from './landing.ts';
import { ShardCache } from '../../shared/shardCache.ts';
import type { FeedOptions } from './openFeed.ts';
import { browserShardStore } from './shardStoreBrowser.ts';
import { WorkerSession, type HookPoint, type SessionView, type SocketLike, type WorkerState } from './session.ts';

const params = new URLSearchParams(location.search);
const jobId = params.get('job');
const forced = params.get('backend') as BackendName | null;
const serverUrl = params.get('server') ?? location.origin;
const HIDDEN_GRACE_MS = 5_000;

const $ = (id: string) => document.getElementById(id)!;
type PageHooks = { __tabswarm?: SessionView; __tabswarmPhase?: (phase: HookPoint, step: number, vec: Float32Array) => Promise<void> | void; __tabswarmSessions?: number; __tabswarmHeals?: ({ peer: string } & HealEvent)[]; __tabswarmServing?: string };
const w = window as unknown as PageHooks;

let gpu: AdapterReport | null = null;
let backendWhy: string | null = null;
let lastView: SessionView | null = null;

/** "12.3 MB (41 % less than dense)": what this tab sent its ring neighbours so far */
function wireText(w: { sentBytes: number; denseBytes: number }): string {
  const mb = `${(w.sentBytes / 1e6).toFixed(1)} MB`;
  const saved = w.denseBytes > 0 ? 1 - w.sentBytes / w.denseBytes : 0;
  return saved >= 0.005 ? `${mb} (${(saved * 100).toFixed(0)} % less: zeros left out)` : mb;
}

function render(v: SessionView) {
  lastView = v;
  if (v.jobName && $('job').textContent === '—') $('job').textContent = v.jobName;
  $('state').textContent = v.state;
  // the session reports its choice once, as "backend: why"; later detail lines are progress
  if (v.backend && v.detail.startsWith(`${v.backend}: `)) backendWhy = v.detail.slice(v.backend.length + 2);
  renderBackend(v.backend, backendWhy, gpu);
  $('step').textContent = v.steps ? `${v.step} / ${v.steps}` : '—';
  $('loss').textContent = v.loss === null ? '—' : v.loss.toFixed(4);
  $('sps').textContent = v.samplesPerSec ? v.samplesPerSec.toFixed(0) : '—';
  $('share').textContent = v.share ? `${(v.share * 100).toFixed(0)} %` : '—';
  $('done').textContent = String(v.samplesDone);
  $('wire').textContent = v.wire ? wireText(v.wire) : '—';
  $('acc').textContent = v.testAccuracy === null ? '—' : `${(v.testAccuracy * 100).toFixed(2)} %`;
  $('detail').textContent = v.detail;
  const running = !['done', 'left', 'dropped', 'error'].includes(v.state);
  $('leave').hidden = !running;
  $('start').hidden = running || v.state === 'done';
  w.__tabswarm = v;
}

void probeWebGpu().then((r) => {
  gpu = r;
  if (lastView) render(lastView);
});

const datasets: DatasetSource = async (id, file) => {
  // every dataset (the shipped ones too) is a store entry: its metadata, then its shards
  const url = file === 'meta.json' ? `${serverUrl}/api/datasets/${id}` : `${serverUrl}/api/datasets/${id}/${file}`;
  const r = await fetch(url);
  if (!r.ok) throw new Error(`dataset ${id}/${file}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};

/** the shard cache's budget (`?cacheMb=`, default 512 MiB); shared by the sessions of this tab */
const cacheBytes = Math.max(0, Number(params.get('cacheMb') ?? 512)) * 1024 * 1024;
let shardCache: Promise<ShardCache> | null = null;
const feed: FeedOptions = {
  cache: () => (shardCache ??= browserShardStore().then((store) => ShardCache.open(store, cacheBytes))),
  // ?peer= lets the server count what each worker fetched (GET /api/datasets/:id/stats)
  fetchShard: async (id, hash, peerId) => {
    const r = await fetch(`${serverUrl}/api/datasets/${id}/shards/${hash}?peer=${encodeURIComponent(peerId)}`);
    if (!r.ok) throw new TabswarmError('DATASET_UNKNOWN', `shard ${hash}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  },
  // ?prefetch=K: steps of lookahead (0: none)
  ...(params.has('prefetch') && Number.isInteger(Number(params.get('prefetch'))) ? { prefetchSteps: Math.min(64, Math.max(0, Number(params.get('prefetch')))) } : {}),
  ...(params.get('feed') === 'whole' ? { whole: true } : {}),
};

let current: WorkerSession | null = null;
let attempt = 0;
let stoppedByUser = false;
let hiddenTimer: ReturnType<typeof setTimeout> | null = null;
const excluded: BackendName[] = [];

/** the job this tab works for now: the link's, or a prediction job the server asked it to serve */
let activeJob = jobId;
/** closes the landing's feed of the job shown */
let stopWatching: () => void = () => {};

function start(id: string) {
  activeJob = id;
  w.__tabswarmSessions = (w.__tabswarmSessions ?? 0) + 1;
  const socket = io(serverUrl, { transports: ['websocket'], reconnection: false });
  let watchingGpu = false;
  const session: WorkerSession = new WorkerSession(
    {
      tf,
      socket: socket as unknown as SocketLike,
      datasets,
      feed,
      makeMesh: (localId, sendSignal, iceServers) =>
        new PeerMesh({
          localId,
          sendSignal: (to, data) => sendSignal(to, data as unknown as Record<string, unknown>),
          // A tab heals a lost link for up to 10 s (after 4 s of stalled data or an ICE change):
          // an ICE restart needs the path back plus a round of checks, and on a shared machine
          // 5 s left a 6 s outage healing with ~1 s to spare. A dead peer is noticed sooner by
          // the server (its socket) than by this window.
          linkOptions: { healMs: 10_000 },
          // what a link went through (ICE lost, restarted, healed or given up), for tests and the console
          onLinkHeal: (peer, e) => {
            (w.__tabswarmHeals ??= []).push({ peer, ...e });
            console.info(`link to ${peer}: ${JSON.stringify(e)}`);
          },
          createPeer: simplePeerFactory(SimplePeer as unknown as SimplePeerConstructor, { config: { iceServers: iceServers as unknown as RTCIceServer[] } }),
        }),
      chooseBackend: (spec, train, onProgress) => chooseBackend(spec, train, forced, onProgress, excluded),
      userAgent: navigator.userAgent,
      onView: (v) => {
        render(v);
        if (v.state === 'training') attempt = 0;
        if (v.backend === 'webgpu' && !watchingGpu) {
          watchingGpu = true;
          void webgpuDeviceLost()?.then((why) => {
            excluded.push('webgpu');
            session.leave(`WebGPU device lost (${why}); re-initialising on another backend`);
          });
        }
      },
      upload: async (uploadId, bytes) => {
        const r = await fetch(`${serverUrl}/api/uploads/${uploadId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes as Uint8Array<ArrayBuffer> });
        if (!r.ok) throw new Error(`upload: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
      },
      now: () => performance.now(),
      yieldToLoop: () => new Promise((r) => setTimeout(r, 0)),
      every: (ms, fn) => {
        const t = setInterval(fn, ms);
        return () => clearInterval(t);
      },
      // a test's phase hook (installed before the page's scripts run) turns the overlap of compute and ring off; see SessionDeps.onPhase
      ...(w.__tabswarmPhase ? { onPhase: (phase: HookPoint, step: number, vec: Float32Array) => w.__tabswarmPhase?.(phase, step, vec) } : {}),
      overlap: params.get('overlap') !== '0',
      // benchmarks: the ring for every vector (every tab of the job must carry it: the schedule is each member's own choice from the same rule)
      ...(params.get('latency') === 'ring' ? { latencyMaxBytes: 0 } : {}),
      // benchmarks: frames dense even where +0.0 values would make them smaller (tabs may differ: receivers take both)
      ...(params.get('zeros') === 'dense' ? { maskZeros: false } : {}),
      // a volunteer or operator who knows the uplink's rate: the ring paces under it (PacedLink)
      ...(Number(params.get('uplink')) > 0 ? { uplinkMbit: Number(params.get('uplink')) } : params.get('uplink') === 'auto' ? { autoPace: true } : {}),
      // an idle training member is asked to serve a prediction job: join it like its link would
      onServe: (servedId) => {
        w.__tabswarmServing = servedId;
        stopWatching();
        $('job').textContent = `serving prediction job ${servedId}`;
        stopWatching = watchJob(serverUrl, servedId, (s) => {
          renderJobInfo(s);
          $('job').textContent = `serving prediction job ${s.name} (${servedId})`;
        });
        start(servedId);
      },
      onEnd: (state: WorkerState, reason: string) => {
        if (current === session) current = null;
        if (stoppedByUser || state === 'done') return;
        if (document.visibilityState === 'hidden') return; // rejoins when shown again
        attempt++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
        $('detail').textContent = `${reason} — rejoining in ${(delay / 1000).toFixed(1)} s`;
        setTimeout(() => {
          if (!current && !stoppedByUser) start(id);
        }, delay);
      },
    },
    id,
  );
  socket.on('connect_error', () => session.destroy(new TabswarmError('LINK_CLOSED', 'cannot reach the server'), 'dropped'));
  current = session;
}

if (!jobId) {
  $('detail').textContent = 'This page needs a job link (…/?job=ID). Ask the job owner for one.';
} else {
  stopWatching = watchJob(serverUrl, jobId, renderJobInfo);
  start(jobId);
  $('leave').addEventListener('click', () => {
    stoppedByUser = true;
    current?.leave('stopped by the volunteer');
  });
  $('start').addEventListener('click', () => {
    stoppedByUser = false;
    attempt = 0;
    if (!current) start(activeJob!);
  });
  addEventListener('beforeunload', () => current?.leave('tab closed'));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') {
      // A hidden tab is throttled and would stall the ring: leave cleanly after a grace period.
      hiddenTimer = setTimeout(() => current?.leave('tab hidden: browsers throttle background tabs'), HIDDEN_GRACE_MS);
    } else {
      if (hiddenTimer) clearTimeout(hiddenTimer);
      hiddenTimer = null;
      if (!current && !stoppedByUser) start(activeJob!);
    }
  });
}
