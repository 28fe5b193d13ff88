/** The dashboard's small model for an uploaded dataset passes the server's vetting for every task. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { autoModel } from '../../../client/dashboard/autoModel.ts';
import { specFromBody, vetSpec } from '../../../server/jobs.ts';
import type { DatasetShapeLookup } from '../../../server/vetting/vetSpec.ts';
import type { DatasetTask } from '../../../server/vetting/vetTask.ts';

const ID = 'ds_0123456789abcdef01234567';
const lookup = (d: Partial<DatasetTask>): DatasetShapeLookup => () => ({ featureShape: [3], task: 'classification', classes: null, targetShape: null, ...d });
const vet = (model: unknown, loss: string, l: DatasetShapeLookup, extra: Record<string, unknown> = {}) =>
  vetSpec(tf, specFromBody({ model, loss, optimizer: { name: 'adam', learningRate: 0.01 }, dataset: { id: ID }, batchSize: 8, steps: 2, ...extra }), undefined, l);

describe('autoModel', () => {
  it('regression of a scalar and of a [2, 2] target, from features of rank 1 and 3', async () => {
    expect((await vet(autoModel({ featureShape: [3], numClasses: null, targetShape: [1], loss: 'meanSquaredError', fromLogits: false }), 'meanSquaredError', lookup({ task: 'regression', targetShape: [1] }))).trainableParams).toBe(3 * 32 + 32 + 33);
    const img = autoModel({ featureShape: [4, 4, 1], numClasses: null, targetShape: [2, 2], loss: 'huber', fromLogits: false });
    expect((await vet(img, 'huber', lookup({ featureShape: [4, 4, 1], task: 'regression', targetShape: [2, 2] }))).outputShape).toEqual([2, 2]);
  });
  it('classification on probabilities and logits, and binary', async () => {
    await vet(autoModel({ featureShape: [3], numClasses: 5, targetShape: null, loss: 'sparseCategoricalCrossentropy', fromLogits: false }), 'sparseCategoricalCrossentropy', lookup({ classes: 5 }));
    await vet(autoModel({ featureShape: [3], numClasses: 5, targetShape: null, loss: 'sparseCategoricalCrossentropy', fromLogits: true }), 'sparseCategoricalCrossentropy', lookup({ classes: 5 }), { fromLogits: true });
    await vet(autoModel({ featureShape: [3], numClasses: 2, targetShape: null, loss: 'binaryCrossentropy', fromLogits: false }), 'binaryCrossentropy', lookup({ classes: 2 }));
  });
});
