/**
 * POST /api/jobs with `kind: 'predict'`: a prediction job from a request.
 *
 *   { kind: 'predict', model: { job: ID } | { modelJson, weights }, dataset: ID,
 *     split?, limit?, unitSize?, batchSize?, replicas?, tolerance?, name?, minWorkers?, backend? }
 *
 * The model is a finished training job (its owner token in `Authorization: Bearer`, since its
 * weights become readable to the prediction job's members) or what tfjs's `model.save()`
 * writes: model.json's object and weights.bin as base64 (within the 1 MiB request body). Its
 * topology is vetted like a training job's (server/vetting), its weights are read by tfjs into
 * the replicas' state-vector order, and the inputs' labels (when the dataset has them) are kept
 * for the accuracy of the gathered predictions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type * as tfjs from '@tensorflow/tfjs';
import { z } from 'zod';
import type { DatasetSource } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { jobSpecSchema, type JobSpec } from '../../shared/jobSpec.ts';
import { PredictInputs } from '../../shared/predictInputs.ts';
import { predictOptionsSchema } from '../../shared/predictSpec.ts';
import type { JobRegistry } from '../jobs.ts';
import { requireOwner } from '../ownerRoutes.ts';
import { vetSpec, type DatasetShapeLookup, type VettedModel } from '../vetting/vetSpec.ts';
import { OutputFile } from './outputFile.ts';
import type { PredictionSetup } from './run.ts';

type Tf = typeof tfjs;

const weightSpec = z.object({ name: z.string().max(200), shape: z.array(z.number().int().min(0)).max(8), dtype: z.literal('float32') }).passthrough();
const uploadedModel = z.object({
  modelJson: z.object({
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(z.object({ paths: z.array(z.string()).optional(), weights: z.array(weightSpec).max(10_000) }).passthrough()).max(1000),
  }).passthrough(),
  /** weights.bin, base64 */
  weights: z.string().max(1024 * 1024),
}).strict();

const options = predictOptionsSchema.omit({ source: true }).shape;
export const predictRequestSchema = z.object({
  kind: z.literal('predict'),
  name: z.string().max(120).default('predict'),
  model: z.union([z.object({ job: z.string().min(1).max(64) }).strict(), uploadedModel]),
  dataset: z.string().min(1).max(64),
  ...options,
  minWorkers: z.number().int().min(1).max(1024).default(1),
  backend: z.enum(['webgpu', 'webgl', 'wasm', 'cpu']).optional(),
  /** false: the inputs' labels are ignored (no metrics, no check of the model's output against them) */
  labels: z.boolean().default(true),
}).strict();
export type PredictRequest = z.input<typeof predictRequestSchema>;

export interface PredictCreateDeps {
  tf: Tf;
  jobs: JobRegistry;
  /** every dataset's files, built-in and stored (server/datasetFiles.ts) */
  source: DatasetSource;
  datasetShape?: DatasetShapeLookup;
  /** where output files go (default: a fresh directory under the OS's temp dir) */
  dir?: string;
}

export interface PreparedPrediction {
  spec: JobSpec;
  vetted: VettedModel;
  setup: PredictionSetup;
}

const flatWeights = (m: tfjs.LayersModel) => {
  const ws = [...m.trainableWeights, ...m.nonTrainableWeights].map((w) => w.read().dataSync() as Float32Array);
  const out = new Float32Array(ws.reduce((a, w) => a + w.length, 0));
  let off = 0;
  for (const w of ws) {
    out.set(w, off);
    off += w.length;
  }
  return out;
};

export async function preparePrediction(d: PredictCreateDeps, body: unknown, req: IncomingMessage): Promise<PreparedPrediction> {
  const r = predictRequestSchema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TabswarmError('BAD_JOB_SPEC', `${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const q = r.data;
  const { tf } = d;
  // a loss's labels-versus-output check only where labels are read as class ids; regression
  // targets are compared with the output's size below (prediction trains no loss)
  const regression = d.datasetShape?.(q.dataset)?.task === 'regression';
  const vetOpts = { task: q.labels && !regression };
  let topology: Record<string, unknown>;
  let weights: Float32Array;
  let source: string;
  let model: tfjs.LayersModel | null = null;
  try {
    if ('job' in q.model) {
      const src = d.jobs.get(q.model.job);
      requireOwner(d.jobs, src, req);
      if (src.spec.kind === 'predict') throw new TabswarmError('BAD_JOB_SPEC', `model.job: ${src.id} is a prediction job, not a training job`);
      const fp = src.coordinator.finalParams;
      if (!fp) throw new TabswarmError('WEIGHTS_PENDING', `job ${src.id} is ${src.coordinator.status}: it has no final weights yet`);
      topology = src.spec.model as Record<string, unknown>;
      weights = Float32Array.from(fp.params);
      source = `job:${src.id}`;
    } else {
      const mj = q.model.modelJson;
      const specs = mj.weightsManifest.flatMap((g) => g.weights);
      const data = Buffer.from(q.model.weights, 'base64');
      const want = specs.reduce((a, s) => a + 4 * s.shape.reduce((x, y) => x * y, 1), 0);
      if (data.byteLength !== want) throw new TabswarmError('MODEL_REJECTED', `weights: ${data.byteLength} bytes where model.json's manifest needs ${want}`);
      topology = mj.modelTopology;
      weights = new Float32Array(0); // read after vetting
      source = 'upload';
      // vetted first (below); tfjs reads the weights only from a topology the vetter accepted
      const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      const pre = jobSpec(q, topology, source);
      const vetted = await vetSpec(tf, pre, undefined, d.datasetShape, vetOpts);
      try {
        model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: vetted.model as unknown as object, weightSpecs: specs as tfjs.io.WeightsManifestEntry[], weightData: ab }));
      } catch (e) {
        throw new TabswarmError('MODEL_REJECTED', `model: tfjs could not load it: ${e instanceof Error ? e.message : String(e)}`);
      }
      weights = flatWeights(model);
    }
    const spec = jobSpec(q, topology, source);
    const vetted = await vetSpec(tf, spec, undefined, d.datasetShape, vetOpts);
    model ??= await tf.models.modelFromJSON(vetted.model as unknown as Parameters<Tf['models']['modelFromJSON']>[0]);
    const expected = [...model.trainableWeights, ...model.nonTrainableWeights].reduce((a, w) => a + w.shape.reduce((x: number, y) => x * (y ?? 1), 1), 0);
    if (weights.length !== expected) throw new TabswarmError('MODEL_REJECTED', `model: ${weights.length} weights where the topology has ${expected}`);
    const outShape = (model.outputs[0]!.shape as (number | null)[]).slice(1);
    const outputSize = outShape.reduce<number>((a, b) => a * (b ?? 1), 1);
    const inputs = new PredictInputs(d.source, spec.dataset.id, spec.predict!);
    const info = await inputs.info();
    if (info.size === 0) throw new TabswarmError('BAD_JOB_SPEC', `dataset ${spec.dataset.id} has no ${spec.predict!.split} inputs`);
    if (q.labels && info.task === 'regression' && info.targetSize !== outputSize) {
      throw new TabswarmError('TASK_MISMATCH', `dataset ${spec.dataset.id} holds regression targets of ${info.targetSize} values per sample, the model outputs ${outputSize}; predict with labels: false to ignore them`);
    }
    const rows = q.labels ? await inputs.rows(0, info.size) : null;
    const labels = rows && info.task === 'classification' ? rows.y : null;
    const targets = rows && info.task === 'regression' ? rows.targets : null;
    const dir = d.dir ?? mkdtempSync(join(tmpdir(), 'tabswarm-predictions-'));
    const output = new OutputFile(join(dir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}.f32`), info.size, outputSize);
    return { spec, vetted, setup: { weights, size: info.size, outputSize, align: info.align, labels: labels ? Uint32Array.from(labels) : null, targets: targets ? Float32Array.from(targets) : null, output } };
  } finally {
    model?.dispose();
  }
}

/** The job spec a prediction runs under: the topology and the inputs; the training fields are placeholders no step reads. */
function jobSpec(q: z.output<typeof predictRequestSchema>, topology: Record<string, unknown>, source: string): JobSpec {
  const r = jobSpecSchema.safeParse({
    name: q.name, kind: 'predict', model: topology, optimizer: { name: 'sgd', learningRate: 0.01 },
    dataset: { id: q.dataset }, batchSize: q.batchSize, steps: 1, minWorkers: q.minWorkers,
    ...(q.backend ? { backend: q.backend } : {}),
    predict: { split: q.split, limit: q.limit, unitSize: q.unitSize, batchSize: q.batchSize, replicas: q.replicas, tolerance: q.tolerance, source },
  });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TabswarmError('BAD_JOB_SPEC', `${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}
