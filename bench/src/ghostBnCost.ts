/**
 * What exactness costs per training step on the MNIST CNN (tfjs CPU backend in Node):
 *   plain     the mnist-cnn preset (no batch norm, no dropout): tfjs's own forward
 *   tfjs-bn   the CNN with BatchNormalization after each conv and the Dense(64), and a
 *             Dropout(0.3): tfjs's own training forward (whole-slice statistics, unseeded masks)
 *   exact-bn  the same model through Replica.gradient: layer-by-layer forward, ghost batch norm
 *             (ghost 16 / 32 / 64 of a batch of 64), counter-based dropout masks, BN sums read back
 * Per row: median ms of the gradient (forward + backward + read-back) and of the commit
 * (optimizer + moving statistics), and the bytes one step all-reduces: the vector
 * [∑grad | BN sums | ∑loss, correct, count] in float32, of which the BN sums are the extra
 * (2 floats per BN channel), and what each of 3 ring members sends for it (2(N−1)/N × vector).
 * Run: npx tsx bench/src/ghostBnCost.ts [steps]   (writes bench/results/ghostbn.json)
 */
import * as tf from '@tensorflow/tfjs';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { formatTable, machineInfo, saveOutput, type Table } from './report.ts';
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

interface Runner {
  name: string;
  /** floats all-reduced per step, and of which batch-norm sums */
  vector: number;
  stats: number;
  step(s: number): Promise<unknown>;
  commit(): void;
  dispose(): void;
  ms: number[];
  cms: number[];
}

async function main() {
  await tf.setBackend('cpu');
  const train = await loadDataset(createDatasetFiles().source, 'mnist', 'train', B * (STEPS + 1));
  const idx = (s: number) => Array.from({ length: B }, (_, i) => s * B + i);
  const N = 3;
  const runners: Runner[] = [];
  const runner = (r: Omit<Runner, 'ms' | 'cms' | 'commit'> & { commit?: () => void }) => runners.push({ commit: () => {}, ...r, ms: [], cms: [] });

  const plain = await Replica.create(tf, jobSpecSchema.parse(presetSpec(tf, 'mnist-cnn')));
  runner({ name: 'plain (mnist-cnn preset)', vector: plain.vectorLength, stats: plain.statsSize, step: (s) => plain.gradient(train, idx(s)), dispose: () => plain.dispose() });

  // tfjs's own training forward on the BN model: model.apply(training: true) under variableGrads
  const spec = bnCnn(32);
  const own = await Replica.create(tf, spec);
  runner({
    name: 'tfjs-bn (tfjs forward)', vector: own.size + 3, stats: 0, dispose: () => own.dispose(),
    step: async (s) => {
      const x = tf.tensor(train.x.subarray(s * B * 784, (s + 1) * B * 784), [B, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(Array.from(train.y.subarray(s * B, (s + 1) * B)), 'int32'), 10);
      const { value, grads } = tf.variableGrads(() => {
        const p = own.model.apply(x, { training: true }) as tf.Tensor;
        return tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))))) as tf.Scalar;
      }, own.vars);
      const out = new Float32Array(own.size + 3);
      let off = 0;
      for (const v of own.vars) {
        const d = await grads[v.name]!.data();
        out.set(d as Float32Array, off);
        off += d.length;
      }
      tf.dispose([x, y, value, ...Object.values(grads)]);
    },
  });

  for (const ghost of (process.env.GHOSTS ?? '16,32,64').split(',').map(Number)) {
    const r = await Replica.create(tf, bnCnn(ghost));
    const opt = createOptimizer(spec.optimizer, r.size);
    let v: Float32Array = new Float32Array(r.vectorLength);
    runner({
      name: `exact-bn (ghost ${ghost})`, vector: r.vectorLength, stats: r.statsSize, dispose: () => r.dispose(),
      step: async (s) => {
        v = await r.gradient(train, idx(s), { step: s, start: 0 });
      },
      commit: () => r.applyUpdate(v, opt),
    });
  }

  // interleaved, one step of each in turn: on a shared, noisy machine the load then falls on all alike
  for (let s = 0; s <= STEPS; s++) {
    for (const r of runners) {
      const t0 = performance.now();
      await r.step(s);
      const t1 = performance.now();
      r.commit();
      const t2 = performance.now();
      if (s === 0) continue; // warm-up
      r.ms.push(t1 - t0);
      r.cms.push(t2 - t1);
    }
    console.log(`step ${s}/${STEPS}: ${runners.map((r) => `${r.name} ${(r.ms.at(-1) ?? 0).toFixed(0)} ms`).join(', ')}`);
  }
  const rows = runners.map((r): [string, number, number, number, number, number] => {
    r.dispose();
    const bytes = r.vector * 4;
    return [r.name, median(r.ms), median(r.cms), bytes, r.stats * 4, Math.round((bytes * 2 * (N - 1)) / N)];
  });
  const table: Table = {
    title: `What exactness costs per step: MNIST CNN, batch ${B}, tfjs cpu backend in Node, median of ${STEPS} steps`,
    columns: ['model / forward', 'gradient ms', 'commit ms', 'all-reduced bytes', 'of which BN sums', `bytes sent per member (N=${N})`],
    rows,
    note: 'exact-bn: layer-by-layer forward, ghost batch norm, counter-based dropout masks; tfjs-bn: the same model through tfjs\'s own training forward (not exact).',
  };
  console.log('\n' + formatTable(table));
  const base = rows.find((r) => r[0].startsWith('tfjs-bn'))![1];
  const result = Object.fromEntries(rows.map(([name, ms, cms, bytes, statBytes, sent]) => [name, { gradientMs: ms, vsTfjsForward: ms / base, commitMs: cms, allReducedBytes: bytes, bnSumBytes: statBytes, bytesSentPerMember: sent }]));
  const files = await saveOutput('ghostbn', { tables: [table], result: { batch: B, steps: STEPS, rows: result } }, { command: 'npx tsx bench/src/ghostBnCost.ts', date: new Date().toISOString(), machine: machineInfo() });
  console.log(`wrote ${files.join(', ')}`);
}

void main();
