import { predictOptionsSchema } from '../../shared/predictSpec.ts';

/** the options of a predict spec that gave none */
export const DEFAULT_PREDICT = predictOptionsSchema.parse({});
