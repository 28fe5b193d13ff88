/**
 * A job is declarative JSON: a tfjs Layers topology (as `model.toJSON()` produces), an
 * optimizer by name, a dataset id from the server's registry, and numbers. Volunteers never
 * run code from job owners, so nothing here is executable.
 */
import { z } from 'zod';
import { predictOptionsSchema } from './predictSpec.ts';
import { LOSSES } from './losses.ts';

/** the datasets shipped with the server (shared/datasets.ts) */
export const DATASET_IDS = ['iris', 'mnist', 'sotu'] as const;
export type BuiltinDatasetId = (typeof DATASET_IDS)[number];
/** an uploaded dataset's id (server/datasets/): `ds_` and 24 hex digits */
export const STORED_DATASET_ID = /^ds_[0-9a-f]{24}$/;
/** a built-in id, or a stored dataset's (checked against the store when a job is created) */
export type DatasetId = string;
export const isBuiltinDatasetId = (id: string): id is BuiltinDatasetId => (DATASET_IDS as readonly string[]).includes(id);
export const MAX_MODEL_JSON_BYTES = 256 * 1024;

const layersTopology = z
  .object({ class_name: z.string().min(1).max(64), config: z.record(z.string(), z.unknown()).or(z.array(z.unknown())) })
  .passthrough()
  .refine((m) => new TextEncoder().encode(JSON.stringify(m)).byteLength <= MAX_MODEL_JSON_BYTES, {
    message: `model JSON must be at most ${MAX_MODEL_JSON_BYTES} bytes`,
  });

const lr = z.number().positive().max(10);
export const optimizerSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('sgd'), learningRate: lr }),
  z.object({ name: z.literal('momentum'), learningRate: lr, momentum: z.number().min(0).max(1).default(0.9) }),
  z.object({
    name: z.literal('adam'),
    learningRate: lr,
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().positive().default(1e-7),
  }),
]);

export const jobSpecSchema = z
  .object({
    name: z.string().max(120).default('job'),
    model: layersTopology,
    /** the loss names the task (shared/losses.ts): cross-entropies classify, the rest regress */
    loss: z.enum(LOSSES).default('categoricalCrossentropy'),
    /** the model outputs logits (sparseCategoricalCrossentropy, binaryCrossentropy); absent: probabilities */
    fromLogits: z.boolean().optional(),
    /** huber's δ (absent: 1) */
    huberDelta: z.number().positive().max(1e6).optional(),
    /**
     * standardise every feature with the mean and std the store computed at upload,
     * (x − mean) / std in float32 on every replica and the reference alike; uploaded datasets only
     */
    standardize: z.boolean().optional(),
    optimizer: optimizerSchema,
    dataset: z.object({
      id: z.string().max(64).refine((id) => isBuiltinDatasetId(id) || STORED_DATASET_ID.test(id), {
        message: `must be one of ${DATASET_IDS.join(', ')} or an uploaded dataset's id (ds_ and 24 hex digits)`,
      }),
      /** use only the first N training samples (0 = all) */
      trainSize: z.number().int().min(0).max(1_000_000).default(0),
      testSize: z.number().int().min(0).max(1_000_000).default(0),
    }),
    batchSize: z.number().int().min(1).max(8192),
    steps: z.number().int().min(1).max(10_000_000),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    chunkBytes: z
      .number()
      .int()
      .min(64)
      .max(256 * 1024)
      .refine((n) => n % 4 === 0, 'chunkBytes must be a multiple of 4')
      .default(64 * 1024),
    /** gradient frames on the wire: fp32 exact; fp16 and int8 (block-scaled, error feedback) trade exactness for bytes */
    encoding: z.enum(['fp32', 'fp16', 'int8']).default('fp32'),
    /** the first step opens once this many workers are ready */
    minWorkers: z.number().int().min(1).max(1024).default(1),
    /**
     * ghost batch size of every BatchNormalization layer: batch statistics are taken over fixed
     * sub-batches of this many consecutive positions of the global batch (the last may be
     * smaller), and slices are cut on their boundaries; ignored by models without batch norm.
     * Absent: min(32, batchSize) (see shared/exactness.ts ghostBatchSize()).
     */
    ghostBatchSize: z.number().int().min(1).max(8192).optional(),
    /** evaluate on the test set every K steps (0 = only at the end) */
    evalEvery: z.number().int().min(0).default(0),
    /** a member uploads a checkpoint (weights + optimizer state) every K steps, and at the end */
    checkpointEvery: z.number().int().min(1).max(1_000_000).default(25),
    /** require a tfjs backend on every worker (otherwise each picks its fastest) */
    backend: z.enum(['webgpu', 'webgl', 'wasm', 'cpu']).optional(),
    /** `predict`: members run the model on inputs (shared/predictSpec.ts) instead of training it; absent: train */
    kind: z.enum(['train', 'predict']).optional(),
    /** with kind `predict`: which inputs, how they are cut and checked */
    predict: predictOptionsSchema.optional(),
  })
  .strict();

export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
