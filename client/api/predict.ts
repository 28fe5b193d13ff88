/**
 * `swarm.predict(model | job, inputs, options)`: a prediction job (server/prediction/), and
 * its outputs in input order — all at once (`outputs()`, `tensor(tf)`) or as a stream of row
 * batches read from the `.npy` download as it arrives (`batches()`), for inputs whose outputs
 * do not fit in memory.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { PrivateJobView } from '../../server/jobViews.ts';
import { ApiError } from './errors.ts';
import { JobHandle, type WaitOptions } from './job.ts';
import type { Transport } from './transport.ts';

export interface PredictOptions {
  /** members computing each unit: 2 compares them and a third settles a disagreement */
  replicas?: 1 | 2;
  /** samples per work unit (default 1000) */
  unitSize?: number;
  /** samples per `model.predict` call (default 256) */
  batchSize?: number;
  /** which samples: an uploaded dataset's `all` (default), or `train` / `test` (a built-in dataset needs one of these) */
  split?: 'all' | 'train' | 'test';
  /** only the first N inputs */
  limit?: number;
  /** copies from different backends agree within this (default 1e-4) */
  tolerance?: number;
  name?: string;
  /** start once this many members are in */
  minWorkers?: number;
  backend?: 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  /** false: ignore the inputs' labels (no accuracy, MAE or RMSE); default true */
  labels?: boolean;
  /** aborts the upload of in-memory inputs (not the job) */
  signal?: AbortSignal;
}

/** A finished training job (its owner's handle, or its id and owner token), a tfjs model, or model.json's object and weights.bin's bytes. */
export type PredictModel = tfjs.LayersModel | JobHandle<PrivateJobView> | { job: string; ownerToken: string } | { modelJson: Record<string, unknown>; weightsBin: Uint8Array };

const base64 = (data: Uint8Array) => {
  let bin = '';
  for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(bin);
};

interface CreatedJob {
  id: string;
  ownerToken: string;
  joinUrl: string;
  dashboardUrl: string;
}

/** model.json + weights.bin, as `model.save()` writes them, in the request body. */
async function savedModel(model: tfjs.LayersModel): Promise<{ modelJson: Record<string, unknown>; weights: string }> {
  let out: { modelJson: Record<string, unknown>; weights: string } | null = null;
  await model.save({
    save: async (a) => {
      const data = a.weightData instanceof ArrayBuffer ? new Uint8Array(a.weightData) : new Uint8Array(0);
      out = { modelJson: { modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }], format: a.format }, weights: base64(data) };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  if (!out) throw new ApiError('BAD_REQUEST', 'the model could not be saved');
  return out;
}

export async function predictBody(model: PredictModel, dataset: string, o: PredictOptions): Promise<{ body: Record<string, unknown>; sourceToken?: string }> {
  const opts = Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'signal'));
  if (model instanceof JobHandle) {
    const token = model.ownerToken;
    return { body: { kind: 'predict', model: { job: model.id }, dataset, ...opts }, ...(token ? { sourceToken: token } : {}) };
  }
  if ('modelJson' in model && 'weightsBin' in model) return { body: { kind: 'predict', model: { modelJson: model.modelJson, weights: base64(model.weightsBin) }, dataset, ...opts } };
  if ('job' in model && typeof model.job === 'string') return { body: { kind: 'predict', model: { job: model.job }, dataset, ...opts }, sourceToken: model.ownerToken };
  return { body: { kind: 'predict', model: await savedModel(model as tfjs.LayersModel), dataset, ...opts } };
}

export class PredictionHandle {
  readonly job: JobHandle<PrivateJobView>;
  /** the dataset uploaded from in-memory inputs (its owner token deletes it: `swarm.datasets.delete`) */
  inputs?: { id: string; ownerToken?: string };
  constructor(
    private readonly t: Transport,
    c: CreatedJob,
  ) {
    this.job = new JobHandle<PrivateJobView>(t, c.id, c.ownerToken, c);
  }

  get id() {
    return this.job.id;
  }
  /** the volunteers' link */
  get joinUrl() {
    return this.job.joinUrl;
  }
  get ownerToken() {
    return this.job.ownerToken!;
  }

  view() {
    return this.job.view();
  }

  /** Until every unit is settled (or the job failed: ApiError JOB_FAILED). */
  async waitUntilDone(o: Omit<WaitOptions, 'weights'> = {}): Promise<PrivateJobView> {
    const v = await this.job.waitUntilDone({ ...o, weights: false });
    if (v.status !== 'done') throw new ApiError('JOB_FAILED', `prediction job ${this.id} is ${v.status}${v.failure ? `: ${v.failure}` : ''}`);
    return v;
  }

  /** The download in a format, as the server streams it. */
  download(format: 'npy' | 'csv' | 'jsonl' = 'npy', signal?: AbortSignal): Promise<Response> {
    return this.t.request('GET', `/api/jobs/${encodeURIComponent(this.id)}/predictions`, { token: this.ownerToken, query: { format }, signal });
  }

  /** Every output row in input order, `rows` at a time, read from the `.npy` stream as it arrives. */
  async *batches(rows = 1024, signal?: AbortSignal): AsyncGenerator<{ start: number; rows: number; cols: number; data: Float32Array }> {
    const r = await this.download('npy', signal);
    if (!r.body) throw new ApiError('NETWORK', 'no response body');
    const reader = r.body.getReader();
    let buf = new Uint8Array(0);
    let shape: [number, number] | null = null;
    let start = 0;
    const take = (n: number) => {
      const out = buf.slice(0, n);
      buf = buf.subarray(n);
      return out;
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (value) {
        const b = new Uint8Array(buf.length + value.length);
        b.set(buf);
        b.set(value, buf.length);
        buf = b;
      }
      if (!shape && buf.length >= 10) {
        const hl = buf[8]! | (buf[9]! << 8);
        if (buf.length >= 10 + hl) {
          const m = /'shape': \((\d+), (\d+)\)/.exec(new TextDecoder().decode(take(10 + hl)));
          if (!m) throw new ApiError('BAD_REQUEST', 'not a 2-D .npy');
          shape = [Number(m[1]), Number(m[2])];
        }
      }
      if (shape) {
        const rowBytes = shape[1] * 4;
        while (start < shape[0] && (buf.length >= rows * rowBytes || (done && buf.length >= rowBytes))) {
          const n = Math.min(rows, Math.floor(buf.length / rowBytes), shape[0] - start);
          const bytes = take(n * rowBytes);
          yield { start, rows: n, cols: shape[1], data: new Float32Array(bytes.buffer, bytes.byteOffset, n * shape[1]) };
          start += n;
        }
      }
      if (done) break;
    }
    if (!shape || start !== shape[0]) throw new ApiError('NETWORK', `the predictions ended after ${start} rows`);
  }

  /** Every output at once: rows × cols float32, input order. */
  async outputs(signal?: AbortSignal): Promise<{ rows: number; cols: number; data: Float32Array }> {
    const parts: Float32Array[] = [];
    let cols = 0;
    let rows = 0;
    for await (const b of this.batches(4096, signal)) {
      parts.push(b.data);
      cols = b.cols;
      rows += b.rows;
    }
    const data = new Float32Array(rows * cols);
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    return { rows, cols, data };
  }

  /** The outputs as a [rows, cols] tensor of the `tf` passed in. */
  async tensor(tf: Pick<typeof tfjs, 'tensor2d'>, signal?: AbortSignal): Promise<tfjs.Tensor2D> {
    const o = await this.outputs(signal);
    return tf.tensor2d(o.data, [o.rows, o.cols]);
  }
}

export async function createPrediction(t: Transport, model: PredictModel, dataset: string, o: PredictOptions = {}): Promise<PredictionHandle> {
  const { body, sourceToken } = await predictBody(model, dataset, o);
  const c = await t.json<CreatedJob>('POST', '/api/jobs', { json: body, ...(sourceToken ? { token: sourceToken } : {}) });
  return new PredictionHandle(t, c);
}
