/**
 * The volunteer page (index.html?job=ID[&backend=webgl|wasm|cpu|webgpu][&server=URL]).
 * Wires the real parts together — socket.io, simple-peer data channels, tfjs — and shows
 * what the tab is doing and for whom.
 */
import * as tf from '@tensorflow/tfjs';
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { io } from 'socket.io-client';
import type { DatasetSource } from '../../shared/datasets.ts';
import { PeerMesh } from '../transport/peerMesh.ts';
import { simplePeerFactory, type SimplePeerConstructor } from '../transport/peerLink.ts';
import { chooseBackend, type BackendName } from './backend.ts';
import { WorkerSession, type SessionView, type SocketLike } from './session.ts';

const params = new URLSearchParams(location.search);
const jobId = params.get('job');
const forced = params.get('backend') as BackendName | null;
const serverUrl = params.get('server') ?? location.origin;

const $ = (id: string) => document.getElementById(id)!;

function render(v: SessionView) {
  $('job').textContent = v.jobName ? `${v.jobName} (${v.jobId})` : v.jobId;
  $('state').textContent = v.state;
  $('backend').textContent = v.backend || '—';
  $('step').textContent = v.steps ? `${v.step} / ${v.steps}` : '—';
  $('loss').textContent = v.loss === null ? '—' : v.loss.toFixed(4);
  $('sps').textContent = v.samplesPerSec ? v.samplesPerSec.toFixed(0) : '—';
  $('share').textContent = v.share ? `${(v.share * 100).toFixed(0)} %` : '—';
  $('done').textContent = String(v.samplesDone);
  $('acc').textContent = v.testAccuracy === null ? '—' : `${(v.testAccuracy * 100).toFixed(2)} %`;
  $('detail').textContent = v.detail;
  (window as unknown as { __tabswarm: SessionView }).__tabswarm = v;
}

const datasets: DatasetSource = async (id, file, limit) => {
  const r = await fetch(`${serverUrl}/datasets/${id}/${file}?limit=${limit}`);
  if (!r.ok) throw new Error(`dataset ${id}/${file}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};

if (!jobId) {
  $('detail').textContent = 'This page needs a job link (…/?job=ID). Ask the job owner for one.';
} else {
  const socket = io(serverUrl, { transports: ['websocket'] });
  const session = new WorkerSession(
    {
      tf,
      socket: socket as unknown as SocketLike,
      datasets,
      makeMesh: (localId, sendSignal, iceServers) =>
        new PeerMesh({
          localId,
          sendSignal: (to, data) => sendSignal(to, data as unknown as Record<string, unknown>),
          createPeer: simplePeerFactory(SimplePeer as unknown as SimplePeerConstructor, { config: { iceServers: iceServers as unknown as RTCIceServer[] } }),
        }),
      chooseBackend: (spec, train, onProgress) => chooseBackend(spec, train, forced, onProgress),
      userAgent: navigator.userAgent,
      onView: render,
      now: () => performance.now(),
      yieldToLoop: () => new Promise((r) => setTimeout(r, 0)),
    },
    jobId,
  );
  $('leave').addEventListener('click', () => session.leave());
  addEventListener('beforeunload', () => session.leave());
}
