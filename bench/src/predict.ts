/**
 * `tabswarm bench predict`: prediction jobs on the MNIST test set (10,000; 2,000 with --quick)
 * with an MNIST MLP (784 → 128 → 10): samples/s on 1, 2 and 4 headless tabs (wasm) and in one
 * Node process (tfjs's cpu backend, `model.predict` in the same batches); the bytes a sample
 * costs on the wire; and the overhead of `replicas: 2` (2 tabs, every unit computed twice).
 * Throughput is the server's: settled samples over the time from the job's start (all
 * `minWorkers` tabs active) to its last settled unit.
 */
import * as tf from '@tensorflow/tfjs';
import { connect } from '../../client/api/index.ts';
import { createTabswarmServer } from '../../server/app.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { createLogger } from '../../server/log.ts';
import { startWorkers } from '../../server/workers.ts';
import { loadDataset } from '../../shared/datasets.ts';
import type { Bench, BenchContext, Table } from './report.ts';

const UNIT = 1000;
const BATCH = 500;

function mlp() {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 128, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
  let s = 3;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  model.setWeights(model.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, rnd), w.shape)));
  return model;
}

interface Row { who: string; replicas: number; samples: number; samplesPerSec: number; wallS: number; units: number }

export const predictBench: Bench = async (ctx: BenchContext) => {
  await tf.setBackend('cpu');
  const samples = ctx.quick ? 2000 : 10_000;
  const model = mlp();
  const server = await createTabswarmServer({ port: 0, log: createLogger('warn') });
  const rows: Row[] = [];
  try {
    const swarm = connect(server.url);
    const runs: { tabs: number; replicas: 1 | 2 }[] = ctx.quick ? [{ tabs: 1, replicas: 1 }, { tabs: 2, replicas: 1 }, { tabs: 2, replicas: 2 }] : [{ tabs: 1, replicas: 1 }, { tabs: 2, replicas: 1 }, { tabs: 4, replicas: 1 }, { tabs: 2, replicas: 2 }];
    for (const r of runs) {
      const t0 = Date.now();
      const p = await swarm.predict(model, 'mnist', { split: 'test', limit: samples, unitSize: UNIT, batchSize: BATCH, replicas: r.replicas, minWorkers: r.tabs, backend: 'wasm' });
      const workers = await startWorkers({ url: p.joinUrl, count: r.tabs, loopbackOnly: process.env.TABSWARM_NETNS === '1' });
      try {
        const v = await p.waitUntilDone({ timeoutMs: 600_000 });
        const pr = v.prediction!;
        rows.push({ who: `${r.tabs} tab${r.tabs > 1 ? 's' : ''} (wasm)`, replicas: r.replicas, samples: pr.samples, samplesPerSec: pr.samplesPerSec, wallS: (Date.now() - t0) / 1000, units: pr.units });
        ctx.print(`  ${r.tabs} tabs, replicas ${r.replicas}: ${pr.samplesPerSec.toFixed(0)} samples/s`);
      } finally {
        await workers.close();
      }
    }
    // one Node process, the same model and batches
    const test = await loadDataset(createDatasetFiles().source, 'mnist', 'test', samples);
    const t0 = performance.now();
    for (let i = 0; i < test.size; i += BATCH) {
      const n = Math.min(BATCH, test.size - i);
      const y = tf.tidy(() => model.predict(tf.tensor(test.x.subarray(i * 784, (i + n) * 784), [n, 28, 28, 1])) as tf.Tensor);
      await y.data();
      y.dispose();
    }
    const secs = (performance.now() - t0) / 1000;
    rows.push({ who: 'one Node process (tfjs cpu)', replicas: 1, samples: test.size, samplesPerSec: test.size / secs, wallS: secs, units: 0 });
    ctx.print(`  one Node process: ${(test.size / secs).toFixed(0)} samples/s`);
  } finally {
    model.dispose();
    await server.close();
  }
  // on the wire, per sample: the outputs uploaded (10 float32) and the inputs a tab reads
  // (MNIST IDX: 784 pixel bytes + 1 label byte); per unit: one `unit` message (~150 bytes of
  // JSON) and the upload's HTTP headers (~300 bytes), shared by UNIT samples
  const wire = { outputBytesPerSample: 40, inputBytesPerSample: 785, controlBytesPerSample: (150 + 300) / UNIT };
  const two = rows.find((r) => r.who.startsWith('2 tabs') && r.replicas === 1);
  const twoRep = rows.find((r) => r.replicas === 2);
  const overhead = two && twoRep ? two.samplesPerSec / twoRep.samplesPerSec : null;
  const table: Table = {
    title: `Prediction: MNIST MLP (784-128-10), ${samples} test samples, units of ${UNIT}, batches of ${BATCH}`,
    columns: ['who', 'replicas', 'units', 'samples/s', 'wall s (incl. tab start)'],
    rows: rows.map((r) => [r.who, r.replicas, r.units || null, r.samplesPerSec, r.wallS]),
    note: `wire per sample: ${wire.outputBytesPerSample} B of outputs up, ${wire.inputBytesPerSample} B of inputs down, ~${wire.controlBytesPerSample.toFixed(2)} B of control; replicas 2 costs ${overhead?.toFixed(2) ?? '—'}× the time of replicas 1 on 2 tabs`,
  };
  return { tables: [table], result: { samples, unitSize: UNIT, batchSize: BATCH, rows, wire, replicas2Overhead: overhead } };
};
