/**
 * How each layer class a job may use trains in tabswarm, and what that asks of slicing.
 *
 * - Random layers draw from a counter-based generator (shared/counterRandom.ts) keyed by
 *   (job seed, step, layer index, global sample position): independent of the slicing.
 * - BatchNormalization uses ghost batch normalisation (Hoffer et al. 2017): batch statistics over
 *   fixed sub-batches of `ghostBatchSize(spec)` consecutive positions of the global batch, so
 *   the coordinator cuts slices on those boundaries (planSlices' `granularity`); the moving
 *   statistics are updated at commit, on every replica alike, from per-ghost-batch sums that
 *   travel in the all-reduced vector.
 *
 * Isomorphic and tfjs-free: the coordinator reads it from the job's JSON topology.
 */
import type { JobSpec } from './jobSpec.ts';

export type LayerKind = 'deterministic' | 'random' | 'batchStats';

export interface LayerSemantic {
  kind: LayerKind;
  /** 'exact': every replica and the reference compute the same function of the same data; 'differs': a stated difference from tfjs's `model.fit` */
  verdict: 'exact' | 'differs';
  note?: string;
}

const DET: LayerSemantic = { kind: 'deterministic', verdict: 'exact' };
const RANDOM: LayerSemantic = {
  kind: 'random',
  verdict: 'exact',
  note: 'counter-based draws keyed by (seed, step, layer, sample position), not tfjs\'s unseeded RNG',
};

const MERGE: LayerSemantic = { ...DET, note: 'functional models only (joins branches); inputs of one shape, no broadcasting' };

/** Every class on the vetter's allow-lists (server/vetting/layerRules.ts, mergeRules.ts) must be here; a test checks it. */
export const LAYER_SEMANTICS: Readonly<Record<string, LayerSemantic>> = Object.freeze({
  Dense: DET,
  Flatten: DET,
  Reshape: DET,
  Permute: DET,
  Dropout: RANDOM,
  SpatialDropout1D: { ...RANDOM, note: RANDOM.note + '; one draw per (sample, channel), as tfjs\'s noise shape [batch, 1, channels]' },
  GaussianNoise: { ...RANDOM, note: RANDOM.note + '; normals by Box–Muller with engine-independent log/cos' },
  GaussianDropout: { ...RANDOM, note: RANDOM.note + '; normals by Box–Muller with engine-independent log/cos' },
  AlphaDropout: RANDOM,
  Activation: DET,
  ReLU: DET,
  LeakyReLU: DET,
  ELU: DET,
  Softmax: DET,
  Conv1D: DET,
  Conv2D: DET,
  DepthwiseConv2D: DET,
  SeparableConv2D: DET,
  Conv2DTranspose: DET,
  MaxPooling1D: DET,
  MaxPooling2D: DET,
  AveragePooling1D: DET,
  AveragePooling2D: DET,
  GlobalMaxPooling1D: DET,
  GlobalMaxPooling2D: DET,
  GlobalAveragePooling1D: DET,
  GlobalAveragePooling2D: DET,
  BatchNormalization: {
    kind: 'batchStats',
    verdict: 'differs',
    note:
      'ghost batch norm: statistics over fixed sub-batches of ghostBatchSize positions (default min(32, batchSize)), not the whole batch; ' +
      'moving mean/variance updated once per step from the count-weighted mean of the ghost means/variances (biased), replicated exactly; ' +
      'a layer with trainable: false normalises with its moving statistics (inference mode)',
  },
  LayerNormalization: DET,
  Embedding: DET,
  SimpleRNN: { ...DET, note: 'dropout / recurrent_dropout above 0 are rejected' },
  GRU: { ...DET, note: 'dropout / recurrent_dropout above 0 are rejected' },
  LSTM: { ...DET, note: 'dropout / recurrent_dropout above 0 are rejected' },
  ZeroPadding2D: DET,
  Cropping2D: DET,
  UpSampling2D: DET,
  RepeatVector: DET,
  Add: MERGE,
  Multiply: MERGE,
  Average: MERGE,
  Maximum: MERGE,
  Minimum: MERGE,
  Concatenate: { ...DET, note: 'functional models only (joins branches); any axis but the batch axis' },
  Dot: { ...DET, note: 'functional models only; two vectors [n] · [n] → [1], optionally normalized (cosine)' },
});

export const DEFAULT_GHOST_BATCH = 32;

function layerList(spec: Pick<JobSpec, 'model'>): { class_name: string; config: Record<string, unknown> }[] {
  const cfg = (spec.model as { config?: unknown }).config;
  const layers = Array.isArray(cfg) ? cfg : Array.isArray((cfg as { layers?: unknown } | undefined)?.layers) ? (cfg as { layers: unknown[] }).layers : [];
  return layers.filter((l): l is { class_name: string; config: Record<string, unknown> } => typeof l === 'object' && l !== null && typeof (l as { class_name?: unknown }).class_name === 'string')
    .map((l) => ({ class_name: l.class_name, config: (l.config && typeof l.config === 'object' ? l.config : {}) }));
}

/** Whether the job's model computes batch statistics in training (a trainable BatchNormalization). */
export function usesBatchStatistics(spec: Pick<JobSpec, 'model'>): boolean {
  return layerList(spec).some((l) => l.class_name === 'BatchNormalization' && l.config.trainable !== false);
}

/** Ghost batch size in effect: spec.ghostBatchSize, else min(32, batchSize); never above batchSize. */
export function ghostBatchSize(spec: Pick<JobSpec, 'batchSize'> & { ghostBatchSize?: number | undefined }): number {
  return Math.max(1, Math.min(spec.ghostBatchSize ?? DEFAULT_GHOST_BATCH, spec.batchSize));
}

/**
 * What slices of the job's global batch must be cut on: the ghost batch size for a model with
 * batch statistics, else 1. The coordinator passes it to planSlices.
 */
export function sliceGranularity(spec: Pick<JobSpec, 'model' | 'batchSize'> & { ghostBatchSize?: number | undefined }): number {
  return usesBatchStatistics(spec) ? ghostBatchSize(spec) : 1;
}
