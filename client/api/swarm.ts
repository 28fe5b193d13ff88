/**
 * `connect(url)`: a tabswarm server as seen by a job owner's script — datasets, jobs, and
 * `fit()`, which turns a tfjs model into a job the way `model.fit` would start training.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { StoredDatasetMeta } from '../../shared/datasetShards.ts';
import type { JobSpecInput } from '../../shared/jobSpec.ts';
import type { PresetName } from '../../shared/presets.ts';
import type { DatasetSummary } from '../../server/datasets/datasetStore.ts';
import type { JobListEntry, PrivateJobView, PublicJobView } from '../../server/jobViews.ts';
import { ApiError } from './errors.ts';
import { JobHandle } from './job.ts';
import { createPrediction, type PredictionHandle, type PredictModel, type PredictOptions } from './predict.ts';
import { inputsNpz, isShapedArray, isTensorLike, type ShapedArray, type TensorLike } from './npz.ts';
import { Transport, type FetchLike } from './transport.ts';

export type { DatasetSummary, JobListEntry, JobSpecInput, PresetName, ShapedArray, StoredDatasetMeta, TensorLike };

export interface ConnectOptions {
  /** the fetch to use (default: the global one) */
  fetch?: FetchLike;
}

export type DatasetFormat = 'csv' | 'jsonl' | 'npy' | 'npz' | 'idx';

export interface AddDatasetOptions {
  format: DatasetFormat;
  /** the label column (csv, jsonl) */
  label?: string;
  /** how numeric labels are read: regression targets or class ids (absent: inferred) */
  task?: 'regression' | 'classification';
  name?: string;
  signal?: AbortSignal;
}

/** POST /api/datasets's answer: the metadata, and the owner token (DELETE) when the upload is new. */
export type AddedDataset = StoredDatasetMeta & { ownerToken?: string; deduplicated: boolean };

/** A full job spec, or a preset with overrides (`{ preset: 'iris-mlp', steps: 100 }`). */
export type JobRequest = JobSpecInput | ({ preset: PresetName } & Partial<JobSpecInput>);

export type OptimizerInput = JobSpecInput['optimizer'];

export interface FitOptions extends Omit<Partial<JobSpecInput>, 'model' | 'dataset' | 'optimizer'> {
  /** a tfjs LayersModel (its topology is sent: `model.toJSON(undefined, false)`) or the topology JSON */
  model: tfjs.LayersModel | JobSpecInput['model'];
  /** a dataset id (an uploaded `ds_…` or a built-in one), or `{ id, trainSize, testSize }` */
  dataset: string | JobSpecInput['dataset'];
  /** an optimizer spec, or its name with `learningRate` (default: 0.001 for adam, 0.01 otherwise) */
  optimizer: OptimizerInput | OptimizerInput['name'];
  learningRate?: number;
  batchSize: number;
  steps: number;
}

interface CreatedJob {
  id: string;
  ownerToken: string;
  joinUrl: string;
  dashboardUrl: string;
}

const isLayersModel = (m: unknown): m is tfjs.LayersModel =>
  typeof m === 'object' && m !== null && typeof (m as { toJSON?: unknown }).toJSON === 'function' && Array.isArray((m as { layers?: unknown }).layers);

/** The body `fit()` sends to POST /api/jobs. */
export function fitSpec(o: FitOptions): JobSpecInput {
  const { model, dataset, optimizer, learningRate, ...rest } = o;
  const topology = isLayersModel(model) ? (model.toJSON(undefined, false) as unknown as JobSpecInput['model']) : model;
  const opt: OptimizerInput = typeof optimizer === 'string' ? ({ name: optimizer, learningRate: learningRate ?? (optimizer === 'adam' ? 0.001 : 0.01) } as OptimizerInput) : learningRate === undefined ? optimizer : { ...optimizer, learningRate };
  return { ...rest, model: topology, dataset: typeof dataset === 'string' ? { id: dataset } : dataset, optimizer: opt };
}

export class Swarm {
  private readonly t: Transport;

  constructor(url: string, o: ConnectOptions = {}) {
    this.t = new Transport(url, o.fetch);
  }

  /** the server's base URL */
  get url(): string {
    return this.t.base;
  }

  readonly datasets = {
    /** Uploads a dataset file (POST /api/datasets). The same bytes again answer the stored one (`deduplicated`). */
    add: (body: Blob | Uint8Array | string, o: AddDatasetOptions): Promise<AddedDataset> => {
      const type = o.format === 'csv' ? 'text/csv' : o.format === 'jsonl' ? 'application/x-ndjson' : 'application/octet-stream';
      return this.t.json<AddedDataset>('POST', '/api/datasets', {
        query: { format: o.format, label: o.label, name: o.name, task: o.task },
        headers: { 'content-type': type },
        body: body as BodyInit,
        signal: o.signal,
      });
    },
    list: async (): Promise<DatasetSummary[]> => (await this.t.json<{ datasets: DatasetSummary[] }>('GET', '/api/datasets')).datasets,
    get: (id: string): Promise<StoredDatasetMeta> => this.t.json<StoredDatasetMeta>('GET', `/api/datasets/${encodeURIComponent(id)}`),
    /** owner only: the token `add` returned; refused (DATASET_IN_USE) while a job trains on it */
    delete: (id: string, ownerToken: string): Promise<{ ok: true; id: string }> => this.t.json('DELETE', `/api/datasets/${encodeURIComponent(id)}`, { token: ownerToken }),
  };

  /** POST /api/jobs: a handle with the owner token. */
  async createJob(spec: JobRequest): Promise<JobHandle<PrivateJobView>> {
    const c = await this.t.json<CreatedJob>('POST', '/api/jobs', { json: spec });
    return new JobHandle<PrivateJobView>(this.t, c.id, c.ownerToken, c);
  }

  /** A handle on an existing job: the owner's with its token, a spectator's without. */
  job(id: string): JobHandle<PublicJobView>;
  job(id: string, ownerToken: string): JobHandle<PrivateJobView>;
  job(id: string, ownerToken?: string): JobHandle<PublicJobView> | JobHandle<PrivateJobView> {
    if (!id) throw new ApiError('BAD_REQUEST', 'job id is empty');
    return ownerToken === undefined ? new JobHandle<PublicJobView>(this.t, id) : new JobHandle<PrivateJobView>(this.t, id, ownerToken);
  }

  /** Every job's headline (public fields). */
  async jobs(): Promise<JobListEntry[]> {
    return (await this.t.json<{ jobs: JobListEntry[] }>('GET', '/api/jobs')).jobs;
  }

  /** Trains `model` on `dataset` in the swarm: creates the job; volunteers join at `handle.joinUrl`. */
  fit(o: FitOptions): Promise<JobHandle<PrivateJobView>> {
    return this.createJob(fitSpec(o));
  }

  /**
   * Predicts `inputs` with a tfjs model or a finished training job, across the swarm's tabs;
   * volunteers join at `handle.joinUrl`. `inputs` is an uploaded dataset's id (or a built-in
   * one with `split`), or in-memory inputs — a tf.Tensor, or `{ data, shape }` with shape
   * [samples, ...features] — which are uploaded first as a dataset (`handle.inputs` has its id
   * and owner token) and predicted without labels. `await handle.waitUntilDone()`, then
   * `handle.tensor(tf)`, `outputs()` or `for await (const b of handle.batches())` — the
   * outputs in input order.
   */
  async predict(model: PredictModel, inputs: string | TensorLike | ShapedArray, o: PredictOptions = {}): Promise<PredictionHandle> {
    if (typeof inputs === 'string') return createPrediction(this.t, model, inputs, o);
    if (!isTensorLike(inputs) && !isShapedArray(inputs)) throw new ApiError('BAD_REQUEST', 'inputs: a dataset id, a tf.Tensor, or { data: TypedArray, shape }');
    const values = isTensorLike(inputs) ? await inputs.data() : inputs.data;
    const added = await this.datasets.add(inputsNpz(values, inputs.shape), { format: 'npz', task: 'regression', name: o.name ?? 'predict-inputs', signal: o.signal });
    const handle = await createPrediction(this.t, model, added.id, { ...o, split: 'all', labels: false });
    handle.inputs = { id: added.id, ...(added.ownerToken ? { ownerToken: added.ownerToken } : {}) };
    return handle;
  }

  /** GET /metrics: the server's Prometheus text. */
  async serverMetrics(): Promise<string> {
    return (await this.t.request('GET', '/metrics')).text();
  }
}

export function connect(url: string, o: ConnectOptions = {}): Swarm {
  return new Swarm(url, o);
}
