/**
 * The volunteer page's landing: what the job is (its public summary from the `/dashboard`
 * feed: name, dataset, model, size, status, volunteers), and which backend this tab trains on
 * and why — with a note when WebGPU is unavailable and which fallback runs instead.
 */
import { io } from 'socket.io-client';
import { DASHBOARD_NAMESPACE, parseDashboardServerMessage, type PublicSummary } from '../../shared/dashboardProtocol.ts';
import { ringVectorBytes } from '../../shared/allreduce/bandwidth.ts';
import { DATASETS } from '../../shared/datasets.ts';
import type { AdapterReport } from './backend.ts';

const $ = (id: string) => document.getElementById(id)!;

/** Follows the job's public summary; returns a function that stops following. */
export function watchJob(serverUrl: string, jobId: string, onSummary: (s: PublicSummary) => void): () => void {
  // its own connection: sharing the worker's socket.io Manager would change the worker socket's options and lifetime
  const socket = io(`${serverUrl}${DASHBOARD_NAMESPACE}`, { transports: ['websocket'], forceNew: true });
  socket.on('connect', () => socket.emit('msg', { type: 'subscribe', jobId }));
  socket.on('msg', (raw: unknown) => {
    const p = parseDashboardServerMessage(raw);
    if (p.ok && (p.value.type === 'snapshot' || p.value.type === 'summary')) onSummary(p.value.job);
    if (p.ok && p.value.type === 'error') $('job-status').textContent = `${p.value.code}: ${p.value.message}`;
  });
  return () => socket.close();
}

export function renderJobInfo(s: PublicSummary) {
  const ds = DATASETS[s.dataset as keyof typeof DATASETS];
  $('job').textContent = s.name;
  $('job-dataset').textContent = `dataset: ${ds ? ds.title : s.dataset}`;
  $('job-model').textContent = s.model;
  const bytes = ringVectorBytes(s.paramCount);
  const size = bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
  $('job-params').textContent = `${s.paramCount.toLocaleString()} parameters (${size} exchanged per step)`;
  $('job-status').textContent = `job ${s.status}, step ${s.step} / ${s.steps}`;
  $('job-members').textContent = `${s.activeMembers} volunteer${s.activeMembers === 1 ? '' : 's'} in the swarm`;
}

/** Why this backend: the calibration line the worker reported when it chose, kept after later progress lines replace it. */
export function renderBackend(backend: string, why: string | null, gpu: AdapterReport | null) {
  $('backend').textContent = backend || 'choosing…';
  $('adapter').textContent = backend === 'webgpu' && gpu ? gpu.description : '';
  if (why) $('backend-why').textContent = why;
  const note = $('fallback');
  let text = '';
  if (gpu && backend && backend !== 'webgpu') {
    if (!gpu.present) text = `WebGPU is not available in this browser (${gpu.description}), so this tab trains on ${backend} instead.`;
    else if (!gpu.hardware) text = `WebGPU has only a software adapter here (${gpu.description.replace(/ \(software fallback\)$/, '')}), which is slower than ${backend}, so this tab trains on ${backend} instead.`;
    else text = `A WebGPU adapter is available (${gpu.description}), but ${backend} measured faster on this job's model, so ${backend} runs.`;
  }
  note.textContent = text;
  note.hidden = !text;
}
