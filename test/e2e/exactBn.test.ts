/**
 * Exactness for a model with batch statistics and randomness, end to end: 3 headless Chromium
 * tabs train Flatten → Dense(64) → BatchNormalization → Dropout(0.3) → Dense(10) on MNIST, a
 * global batch of 80 in ghost batches of 16 (5 over 3 tabs: the slices cannot be equal).
 * Slices are cut on ghost batch boundaries, dropout masks come from the counter-based
 * generator, the moving statistics travel in the reduced vector and are updated at commit:
 * every replica's full state hash (params and moving statistics) is equal, and the downloaded
 * weights (params then moving statistics) are within 1e-4 of the single-process reference, and
 * score on the test set (one process, model.predict) exactly what the replicas' evaluation scored.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../server/demo.ts';

const quiet = () => {};

function model(): Record<string, unknown> {
  const m = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      // no bias before batch norm: its true gradient is 0 and Adam would amplify the rounding noise
      tf.layers.dense({ units: 64, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const json = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
  return json;
}

describe('exact batch norm + dropout swarm', () => {
  it('3 tabs, 40 steps: replicas equal (state hash), max |swarm − reference| ≤ 1e-4 over all weights; the download scores what the replicas scored', async () => {
    const r = await runDemo({
      workers: 3, preset: 'mnist-mlp', job: { model: model(), batchSize: 80, ghostBatchSize: 16 },
      steps: 40, trainSize: 4096, testSize: 1000,
      verify: true, json: false, port: 0, timeoutS: 400, print: quiet, backend: 'cpu', // same kernels in the tabs and in Node: equal scores
    });
    expect(r.steps).toBe(40);
    expect(r.finalLoss).toBeLessThan(r.initialLoss * 0.8);
    expect(r.replicaHashes).toHaveLength(3);
    expect(new Set(r.replicaHashes).size).toBe(1);
    // 784·64 + 2·64 + 64·10 + 10 trainable, then 2·64 moving statistics
    expect(r.paramCount).toBe(784 * 64 + 128 + 650 + 128);
    expect(r.maxAbsDiff!).toBeLessThanOrEqual(1e-4);
    // the downloadable weights (params and moving statistics), scored by one process = the replicas' distributed evaluation
    expect(r.testAccuracy).not.toBeNull();
    expect(r.predict!.accuracySingle).toBe(r.testAccuracy);
  }, 480_000);
});
