/**
 * What exactness costs per training step on the MNIST CNN (tfjs CPU backend in Node):
 *   plain     the mnist-cnn preset (no batch norm, no dropout): tfjs's own forward
 *   tfjs-bn   the CNN with BatchNormalization after each conv and the Dense(64), and a
 *             Dropout(0.3): tfjs's own training forward (whole-slice statistics, unseeded masks)
 *   exact-bn  the same model through Replica.gradient: layer-by-layer forward, ghost batch norm
 *             (ghost 16 / 32 / 64 of a batch of 64), counter-based dropout masks, BN sums read back
 * Run: npx tsx bench/src/ghostBnCost.ts [steps]
 */
import * as tf from '@tensorflow/tfjs';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { loadDataset } from '../../shared/datasets.ts';
import { jobSpecSchema, type JobSpec } from '../../shared/jobSpec.ts';
import { createOptimizer } from '../../shared/optimizer.ts';
import { presetSpec } from '../../shared/presets.ts';
import { Replica } from '../../shared/replica.ts';

const STEPS = Number(process.argv[2] ?? 8);
const B = 64;

function bnCnn(ghost: number): JobSpec {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const model = m.toJSON(undefined, false) as unknown as JobSpec['model'];
  m.dispose();
  return jobSpecSchema.parse({ model, optimizer: { name: 'adam', learningRate: 0.002 }, dataset: { id: 'mnist' }, batchSize: B, steps: 100, seed: 42, ghostBatchSize: ghost });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  await tf.setBackend('cpu');
  const train = await loadDataset(createDatasetFiles().source, 'mnist', 'train', B * (STEPS + 1));
  const idx = (s: number) => Array.from({ length: B }, (_, i) => s * B + i);
  const rows: [string, number, number][] = [];

  async function time(name: string, step: (s: number) => Promise<unknown>, commit: () => void = () => {}) {
    const ms: number[] = [];
    const cms: number[] = [];
    for (let s = 0; s <= STEPS; s++) {
      const t0 = performance.now();
      await step(s);
      const t1 = performance.now();
      commit();
      const t2 = performance.now();
      if (s > 0) {
        ms.push(t1 - t0);
        cms.push(t2 - t1);
      }
    }
    rows.push([name, median(ms), median(cms)]);
    console.log(`${name.padEnd(26)} gradient ${median(ms).toFixed(1)} ms   commit ${median(cms).toFixed(2)} ms`);
  }

  const plain = await Replica.create(tf, jobSpecSchema.parse(presetSpec(tf, 'mnist-cnn')));
  await time('plain (mnist-cnn preset)', (s) => plain.gradient(train, idx(s)));
  plain.dispose();

  // tfjs's own training forward on the BN model: model.apply(training: true) under variableGrads
  const spec = bnCnn(32);
  const own = await Replica.create(tf, spec);
  const vars = own.vars;
  await time('tfjs-bn (tfjs forward)', async (s) => {
    const x = tf.tensor(train.x.subarray(s * B * 784, (s + 1) * B * 784), [B, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(Array.from(train.y.subarray(s * B, (s + 1) * B)), 'int32'), 10);
    const { value, grads } = tf.variableGrads(() => {
      const p = own.model.apply(x, { training: true }) as tf.Tensor;
      return tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))))) as tf.Scalar;
    }, vars);
    const out = new Float32Array(own.size + 3);
    let off = 0;
    for (const v of vars) {
      const d = await grads[v.name]!.data();
      out.set(d as Float32Array, off);
      off += d.length;
    }
    tf.dispose([x, y, value, ...Object.values(grads)]);
  });
  own.dispose();

  for (const ghost of (process.env.GHOSTS ?? "16,32,64").split(",").map(Number)) {
    const r = await Replica.create(tf, bnCnn(ghost));
    const opt = createOptimizer(spec.optimizer, r.size);
    let v: Float32Array = new Float32Array(r.vectorLength);
    await time(`exact-bn (ghost ${ghost})`, async (s) => {
      v = await r.gradient(train, idx(s), { step: s, start: 0 });
    }, () => r.applyUpdate(v, opt));
    r.dispose();
  }
  console.log(JSON.stringify(rows));
}

void main();
