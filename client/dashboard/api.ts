/** The REST calls the dashboard makes; every failure is an ApiError with the server's code. */
import type { DatasetInfo } from '../../shared/datasets.ts';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** the message without its "CODE: " prefix */
  get detail(): string {
    return this.message.startsWith(`${this.code}: `) ? this.message.slice(this.code.length + 2) : this.message;
  }
}

async function call<T>(path: string, init: RequestInit = {}, token?: string | null): Promise<{ body: T; res: Response }> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    const j = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new ApiError(j?.error?.code ?? `HTTP_${res.status}`, j?.error?.message ?? res.statusText, res.status);
  }
  const type = res.headers.get('content-type') ?? '';
  const body = (type.includes('json') ? await res.json() : await res.arrayBuffer()) as T;
  return { body, res };
}

export interface JobListItem {
  id: string;
  name: string;
  status: string;
  step: number;
  steps: number;
}

export interface Created {
  id: string;
  ownerToken: string;
  joinUrl: string;
  dashboardUrl: string;
}

export interface Presets {
  presets: string[];
  datasets: DatasetInfo[];
  specs: Record<string, Record<string, unknown>>;
}

/** GET /api/datasets's entries (server/datasets/datasetStore.ts DatasetSummary) */
export interface StoredDataset {
  id: string;
  name: string;
  task: 'classification' | 'regression';
  featureShape: number[];
  numClasses: number | null;
  targetShape: number[] | null;
  size: number;
  format: string;
  label: string | null;
  bytes: number;
  shardCount: number;
}

/** GET /api/datasets/:id/preview */
export interface DatasetPreview {
  id: string;
  task: 'classification' | 'regression';
  featureShape: number[];
  targetShape: number[] | null;
  label: string | null;
  rows: { x: number[]; y: number | number[]; class?: string }[];
}

export interface UploadQuery {
  format: string;
  label?: string;
  name?: string;
  task?: string;
}

/**
 * POST /api/datasets with the file as the body, streamed from disk by the browser;
 * `progress(sent, total)` as the bytes leave (XMLHttpRequest: fetch reports no upload progress).
 */
export function uploadDataset(file: Blob, q: UploadQuery, progress: (sent: number, total: number) => void): Promise<StoredDataset & { ownerToken?: string; deduplicated: boolean }> {
  const params = new URLSearchParams({ format: q.format });
  for (const k of ['label', 'name', 'task'] as const) if (q[k]) params.set(k, q[k]!);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/datasets?${params}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError('NETWORK', 'the upload failed (network error or connection closed by the server)', 0));
    xhr.onload = () => {
      let j: { error?: { code?: string; message?: string } } & Record<string, unknown> = {};
      try {
        j = JSON.parse(xhr.responseText) as typeof j;
      } catch {
        /* not JSON: answered below by status */
      }
      if (xhr.status >= 400) return reject(new ApiError(j.error?.code ?? `HTTP_${xhr.status}`, j.error?.message ?? xhr.statusText, xhr.status));
      resolve(j as unknown as StoredDataset & { ownerToken?: string; deduplicated: boolean });
    };
    xhr.send(file);
  });
}

export const api = {
  datasets: async () => (await call<{ datasets: StoredDataset[] }>('/api/datasets')).body.datasets,
  preview: async (id: string, rows: number) => (await call<DatasetPreview>(`/api/datasets/${encodeURIComponent(id)}/preview?rows=${rows}`)).body,
  presets: async () => (await call<Presets>('/api/presets')).body,
  jobs: async () => (await call<{ jobs: JobListItem[] }>('/api/jobs')).body.jobs,
  create: async (spec: unknown) => (await call<Created>('/api/jobs', { method: 'POST', body: JSON.stringify(spec) })).body,
  control: async (jobId: string, action: 'pause' | 'resume' | 'stop', token: string | null) =>
    (await call<{ status: string; step: number }>(`/api/jobs/${encodeURIComponent(jobId)}/${action}`, { method: 'POST' }, token)).body,
  learningRate: async (jobId: string, learningRate: number, token: string | null) =>
    (await call<{ learningRate: number }>(`/api/jobs/${encodeURIComponent(jobId)}/learning-rate`, { method: 'POST', body: JSON.stringify({ learningRate }) }, token)).body,
  /** model.json then the weights it describes; both must name the same parameter hash */
  model: async (jobId: string, token: string | null) => {
    const base = `/api/jobs/${encodeURIComponent(jobId)}/model`;
    const json = await call<Record<string, unknown>>(`${base}/model.json`, {}, token);
    const bin = await call<ArrayBuffer>(`${base}/weights.bin`, {}, token);
    const hash = json.res.headers.get('x-tabswarm-hash');
    if (hash !== bin.res.headers.get('x-tabswarm-hash')) throw new ApiError('HASH_MISMATCH', 'the weights changed between the two downloads; try again', 409);
    return { modelJson: json.body, weights: bin.body, step: Number(json.res.headers.get('x-tabswarm-step')), hash };
  },
};
