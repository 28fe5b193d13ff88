/**
 * The trained model as tfjs Layers artifacts — model.json + weights.bin, what
 * `tf.loadLayersModel` reads — at the job's last commit.
 *
 * Names and shapes come from a tfjs model built here in Node from the job's topology: the
 * trainable weights in the replicas' order (their flat parameter vector, see
 * shared/replica.ts), then the non-trainable ones (e.g. batch-norm moving statistics) in
 * model.nonTrainableWeights order — the replicas' `buffers`, replicated state since the
 * replicas update them at commit: exported at their trained values (the final upload and
 * version-2 checkpoints carry them), at their seeded initial values (shared/init.ts
 * initialBuffers) at step 0 or from a version-1 checkpoint that predates them.
 *
 * Where the parameters come from: a finished job's final upload; at step 0 the seeded initial
 * weights every replica starts from; otherwise the newest checkpoint, after asking a member
 * for one of the current step (coordinator.requestCheckpoint()).
 */
import type * as tfjs from '@tensorflow/tfjs';
import { TabswarmError } from '../shared/errors.ts';
import { hashFloat32 } from '../shared/hash.ts';
import { initialBuffers, initialParameters, variableSize } from '../shared/init.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import { decodeState, stateVector } from '../shared/stateCodec.ts';
import type { Job } from './jobs.ts';
import type { JobSignals } from './jobSignals.ts';

type Tf = typeof tfjs;

export interface WeightEntry {
  name: string;
  shape: number[];
  trainable: boolean;
  /** seeded initial values of a non-trainable weight (what the replicas start from) */
  values?: Float32Array;
}

export interface ModelLayout {
  weights: WeightEntry[];
  /** length of the replicas' flat parameter vector */
  trainableCount: number;
  /** length of the replicas' non-trainable vector (`buffers`) */
  nonTrainableCount: number;
}

export interface ExportedModel {
  step: number;
  paramHash: string;
  source: 'final' | 'checkpoint' | 'initial';
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

interface NamedWeight {
  originalName?: string;
  name: string;
  shape: number[];
  read(): tfjs.Tensor;
}

/** Weight names and shapes of the job's model, built with tfjs in this process. */
export async function modelLayout(tf: Tf, spec: JobSpec): Promise<ModelLayout> {
  const model = await tf.models.modelFromJSON(spec.model as unknown as Parameters<Tf['models']['modelFromJSON']>[0]);
  try {
    const entry = (w: NamedWeight, trainable: boolean): WeightEntry => ({ name: w.originalName ?? w.name, shape: [...w.shape], trainable });
    const trainable = (model.trainableWeights as unknown as NamedWeight[]).map((w) => entry(w, true));
    const nonTrainable = model.nonTrainableWeights as unknown as NamedWeight[];
    // the replicas' seeded initial values (shared/replica.ts: initialBuffers over the tfjs names)
    const init = initialBuffers(nonTrainable.map((w) => ({ name: w.name, shape: [...w.shape] })), spec.seed);
    let off = 0;
    const fixed = nonTrainable.map((w) => {
      const e = entry(w, false);
      const n = variableSize(e.shape);
      e.values = init.slice(off, off + n);
      off += n;
      return e;
    });
    return { weights: [...trainable, ...fixed], trainableCount: trainable.reduce((a, w) => a + variableSize(w.shape), 0), nonTrainableCount: off };
  } finally {
    model.dispose();
  }
}

/**
 * Every weight, trainable then non-trainable, as one vector: `state` is either the replicas'
 * full state vector (params then buffers: the final upload, stateVector of a checkpoint) or
 * the trainable params alone, the non-trainable weights then at their initial values.
 */
export function fullWeights(layout: ModelLayout, state: Float32Array): Float32Array {
  const total = layout.trainableCount + layout.nonTrainableCount;
  if (state.length === total) return state;
  if (state.length !== layout.trainableCount) {
    throw new TabswarmError('INTERNAL', `expected ${layout.trainableCount} parameters (or ${total} with the non-trainable weights), got ${state.length}`);
  }
  const all = new Float32Array(total);
  all.set(state, 0);
  let off = state.length;
  for (const w of layout.weights) {
    if (w.trainable) continue;
    all.set(w.values!, off);
    off += w.values!.length;
  }
  return all;
}

/** model.json and weights.bin for `state` (see fullWeights). */
export function layersArtifacts(layout: ModelLayout, spec: JobSpec, state: Float32Array, meta: Record<string, unknown>): { modelJson: Record<string, unknown>; weights: Uint8Array } {
  const all = fullWeights(layout, state);
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: 'tabswarm',
      convertedBy: null,
      modelTopology: spec.model,
      weightsManifest: [{ paths: ['weights.bin'], weights: layout.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
      userDefinedMetadata: { tabswarm: meta },
    },
    weights: new Uint8Array(all.buffer),
  };
}

export interface ModelExporterDeps {
  tf: Tf;
  signals: JobSignals;
  /** how long a download waits for a member's checkpoint (default 15 s) */
  checkpointTimeoutMs?: number;
}

export interface ModelExporter {
  layout(job: Job): Promise<ModelLayout>;
  /** a fresh export at the last commit; kept as the job's latest */
  export(job: Job): Promise<ExportedModel>;
  /** the latest export (made by the last model.json request), or a fresh one */
  latest(job: Job): Promise<ExportedModel>;
}

export function createModelExporter(d: ModelExporterDeps): ModelExporter {
  const layouts = new WeakMap<JobSpec, Promise<ModelLayout>>();
  const latest = new Map<string, ExportedModel>();
  const timeoutMs = d.checkpointTimeoutMs ?? 15_000;

  const layout = (job: Job) => {
    let p = layouts.get(job.spec);
    if (!p) layouts.set(job.spec, (p = modelLayout(d.tf, job.spec)));
    return p;
  };

  async function currentParams(job: Job, l: ModelLayout): Promise<{ step: number; params: Float32Array; source: ExportedModel['source'] }> {
    const c = job.coordinator;
    if (c.status === 'done') {
      await d.signals.waitFor(job.id, () => c.finalParams !== null, timeoutMs, 'the final weights upload').catch(() => {});
      if (c.finalParams) return { step: c.finalParams.step, params: c.finalParams.params, source: 'final' };
    }
    const target = c.step;
    if (target === 0) {
      const vars = l.weights.filter((w) => w.trainable).map((w) => ({ name: w.name, shape: w.shape }));
      return { step: 0, params: initialParameters(vars, job.spec.seed), source: 'initial' };
    }
    const fresh = () => (c.checkpoint?.step ?? -1) >= target || c.step < target;
    if (!fresh() && c.requestCheckpoint()) {
      await d.signals.waitFor(job.id, fresh, timeoutMs, `a checkpoint of step ${target}`).catch(() => {});
    }
    const cp = c.checkpoint;
    if (!cp) throw new TabswarmError('TIMEOUT', `no member sent the weights of step ${target} and there is no checkpoint yet`);
    const st = decodeState(cp.state);
    return { step: st.step, params: stateVector(st.params, st.buffers), source: 'checkpoint' };
  }

  async function exportNow(job: Job): Promise<ExportedModel> {
    const l = await layout(job);
    const { step, params: state, source } = await currentParams(job, l);
    const params = fullWeights(l, state);
    // the replicas' paramHash (stateHash: params and non-trainable weights; params alone without any)
    const paramHash = hashFloat32(params);
    const art = layersArtifacts(l, job.spec, params, { jobId: job.id, step, paramHash, source });
    const out: ExportedModel = { step, paramHash, source, ...art };
    latest.set(job.id, out);
    return out;
  }

  return {
    layout,
    export: exportNow,
    latest: async (job) => latest.get(job.id) ?? exportNow(job),
  };
}
