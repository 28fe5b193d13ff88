/**
 * Job creation checks the loss against the dataset's task and the model's output against its
 * classes or target shape (server/vetting/vetTask.ts via vetSpec), and a configurable cap on
 * trainable parameters: each refusal answers its code, naming what does not fit.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { specFromBody, vetSpec } from '../../../server/jobs.ts';
import { DEFAULT_VETTING_LIMITS } from '../../../server/vetting/limits.ts';
import type { DatasetShapeLookup } from '../../../server/vetting/vetSpec.ts';

const ID = 'ds_0123456789abcdef01234567';
const classes = (n: number): DatasetShapeLookup => () => ({ featureShape: [4], task: 'classification', classes: n, targetShape: null });
const regression = (targetShape: number[]): DatasetShapeLookup => () => ({ featureShape: [4], task: 'regression', classes: null, targetShape });

function model(units: number | number[], activation: string) {
  const layers: tf.layers.Layer[] = [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' })];
  if (Array.isArray(units)) layers.push(tf.layers.dense({ units: units.reduce((a, b) => a * b, 1), activation: activation as 'linear' }), tf.layers.reshape({ targetShape: units }));
  else layers.push(tf.layers.dense({ units, activation: activation as 'linear' }));
  const m = tf.sequential({ layers });
  const json = m.toJSON(undefined, false);
  m.dispose();
  return json;
}
const spec = (m: unknown, o: Record<string, unknown> = {}) =>
  specFromBody({ model: m, optimizer: { name: 'adam', learningRate: 0.01 }, dataset: { id: ID }, batchSize: 8, steps: 5, ...o });
async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code: string }).code, message: (e as Error).message };
  }
  throw new Error('accepted');
}

describe('loss vs task, output vs classes or targets', () => {
  it('accepts each loss on a dataset of its task with a fitting output', async () => {
    await vetSpec(tf, spec(model(3, 'softmax'), { loss: 'sparseCategoricalCrossentropy' }), undefined, classes(3));
    await vetSpec(tf, spec(model(3, 'linear'), { loss: 'sparseCategoricalCrossentropy', fromLogits: true }), undefined, classes(3));
    await vetSpec(tf, spec(model(1, 'sigmoid'), { loss: 'binaryCrossentropy' }), undefined, classes(2));
    await vetSpec(tf, spec(model(1, 'linear'), { loss: 'binaryCrossentropy', fromLogits: true }), undefined, classes(2));
    await vetSpec(tf, spec(model(1, 'linear'), { loss: 'meanSquaredError' }), undefined, regression([1]));
    await vetSpec(tf, spec(model([2, 3], 'linear'), { loss: 'huber', huberDelta: 0.5 }), undefined, regression([2, 3]));
    await vetSpec(tf, spec(model(2000, 'softmax'), { loss: 'sparseCategoricalCrossentropy' }), undefined, classes(2000));
  });

  it('a regression loss on class labels, and a cross-entropy on regression targets: TASK_MISMATCH', async () => {
    const a = await refusal(vetSpec(tf, spec(model(3, 'linear'), { loss: 'meanSquaredError' }), undefined, classes(3)));
    expect(a).toMatchObject({ code: 'TASK_MISMATCH', message: expect.stringMatching(/meanSquaredError is a regression loss, but dataset ds_\w+ holds class labels \(3 classes\)/) });
    const b = await refusal(vetSpec(tf, spec(model(1, 'softmax')), undefined, regression([1])));
    expect(b).toMatchObject({ code: 'TASK_MISMATCH', message: expect.stringMatching(/categoricalCrossentropy is a classification loss, but dataset ds_\w+ holds regression targets of shape \[1\]/) });
    const c = await refusal(vetSpec(tf, spec(model(1, 'sigmoid'), { loss: 'binaryCrossentropy' }), undefined, classes(5)));
    expect(c).toMatchObject({ code: 'TASK_MISMATCH', message: expect.stringMatching(/binaryCrossentropy needs labels 0 and 1, but dataset ds_\w+ has 5 classes/) });
  });

  it('output units ≠ classes, ≠ 1 for binary, ≠ the target shape: MODEL_REJECTED naming both', async () => {
    expect(await refusal(vetSpec(tf, spec(model(4, 'softmax'), { loss: 'sparseCategoricalCrossentropy' }), undefined, classes(3))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/output must be \[3\].*got \[4\]/) });
    expect(await refusal(vetSpec(tf, spec(model(2, 'sigmoid'), { loss: 'binaryCrossentropy' }), undefined, classes(2))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/output must be \[1\].*got \[2\]/) });
    expect(await refusal(vetSpec(tf, spec(model(3, 'linear'), { loss: 'meanAbsoluteError' }), undefined, regression([2]))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/output \[3\] must equal dataset ds_\w+'s target shape \[2\]/) });
  });

  it('probabilities vs logits: the last activation must fit fromLogits', async () => {
    expect(await refusal(vetSpec(tf, spec(model(3, 'linear'), { loss: 'sparseCategoricalCrossentropy' }), undefined, classes(3))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/must end in a softmax/) });
    expect(await refusal(vetSpec(tf, spec(model(3, 'softmax'), { loss: 'sparseCategoricalCrossentropy', fromLogits: true }), undefined, classes(3))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/wants logits/) });
    expect(await refusal(vetSpec(tf, spec(model(1, 'linear'), { loss: 'binaryCrossentropy' }), undefined, classes(2))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/must end in a sigmoid/) });
  });

  it('options that do not fit the loss or the dataset: BAD_JOB_SPEC', async () => {
    expect(await refusal(vetSpec(tf, spec(model(1, 'linear'), { loss: 'meanSquaredError', fromLogits: true }), undefined, regression([1])))).toMatchObject({ code: 'BAD_JOB_SPEC', message: expect.stringMatching(/fromLogits/) });
    expect(await refusal(vetSpec(tf, spec(model(1, 'linear'), { loss: 'meanSquaredError', huberDelta: 2 }), undefined, regression([1])))).toMatchObject({ code: 'BAD_JOB_SPEC', message: expect.stringMatching(/huberDelta/) });
    // the shipped datasets carry statistics too (store entries): standardize is a valid option on them
    expect((await vetSpec(tf, specFromBody({ preset: 'iris-mlp', standardize: true }))).trainableParams).toBe(131);
    expect(() => specFromBody({ preset: 'iris-mlp', loss: 'hinge' })).toThrow(/BAD_JOB_SPEC: loss/);
  });

  it('a model over the (configurable) parameter cap: MODEL_REJECTED', async () => {
    const s = spec(model(3, 'softmax'));
    expect((await vetSpec(tf, s, undefined, classes(3))).trainableParams).toBe(67);
    expect(await refusal(vetSpec(tf, s, { ...DEFAULT_VETTING_LIMITS, maxTrainableParams: 66 }, classes(3))))
      .toMatchObject({ code: 'MODEL_REJECTED', message: expect.stringMatching(/66/) });
  });
});
