/**
 * Prediction jobs (`kind: 'predict'`): what a job spec adds to say which inputs to predict and
 * how. The model is the spec's topology (a finished training job's, or an uploaded tfjs Layers
 * model's, vetted like a training job's); its weights travel to members in `predict-model`.
 * Declarative JSON like every job: volunteers run `model.predict` on the vetted topology, nothing else.
 */
import { z } from 'zod';

/** the largest unit (samples): a unit's outputs are held in memory while its replicas are compared */
export const MAX_UNIT_SAMPLES = 65_536;
/** a unit's outputs travel in one HTTP upload of at most this many bytes */
export const MAX_UNIT_BYTES = 64 * 1024 * 1024;

export const predictOptionsSchema = z
  .object({
    /**
     * which samples of `dataset.id` are the inputs, in stored order: a built-in dataset's `train`
     * or `test` split; an uploaded dataset's `all` samples (default) or its train/test split
     */
    split: z.enum(['all', 'train', 'test']).default('all'),
    /** only the first N inputs (0 = all) */
    limit: z.number().int().min(0).max(100_000_000).default(0),
    /** samples per work unit (the last unit may be shorter) */
    unitSize: z.number().int().min(1).max(MAX_UNIT_SAMPLES).default(1000),
    /** samples per `model.predict` call inside a unit */
    batchSize: z.number().int().min(1).max(8192).default(256),
    /** members that compute each unit independently; with 2 they are compared and a third settles a disagreement */
    replicas: z.union([z.literal(1), z.literal(2)]).default(1),
    /**
     * copies from different backends agree when every output differs by at most this much
     * (copies from the same backend must be bit-equal)
     */
    tolerance: z.number().min(0).max(1).default(1e-4),
    /** where the weights came from: `job:ID` or `upload` (shown to the owner) */
    source: z.string().max(80).default('upload'),
  })
  .strict();

export type PredictOptions = z.output<typeof predictOptionsSchema>;
