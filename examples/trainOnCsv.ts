/**
 * Train a classifier on your own CSV in a tabswarm swarm, from a script:
 *
 *   npx tsx examples/trainOnCsv.ts --url http://127.0.0.1:8080
 *
 * Writes a small CSV (three blobs in 4-D, string labels), uploads it, starts a job with
 * `swarm.fit`, follows its committed steps, then downloads the trained model and evaluates
 * it here on the same rows. Volunteers join at the printed link (or run
 * `npx tabswarm workers --url <join link>`). `main()` is exported for tests: its `onJob` hook
 * receives the job as soon as it exists (e.g. to start headless workers on it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { connect, type JobHandle, type PredictionHandle, type PrivateJobView } from '../client/api/index.ts';

export interface TrainOnCsvOptions {
  url: string;
  steps?: number;
  /** the first step waits for this many volunteers (default 1) */
  minWorkers?: number;
  /** a tfjs backend every worker must use (default: each picks its fastest) */
  backend?: 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  /** called once the job exists, before the script follows it */
  onJob?(job: JobHandle<PrivateJobView>): void | Promise<void>;
  /** called once the prediction job exists (its volunteers join at `p.joinUrl`) */
  onPredict?(p: PredictionHandle): void | Promise<void>;
  log?(line: string): void;
  /** how long to wait for the job to finish (default 10 minutes) */
  timeoutMs?: number;
}

export interface TrainOnCsvResult {
  jobId: string;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  /** accuracy of the downloaded model on the CSV's rows, evaluated here */
  accuracy: number;
  /** accuracy of the swarm's predictions of the same rows (a prediction job of the trained job) */
  swarmAccuracy: number;
  classes: string[];
}

const CLASSES = ['north', 'south', 'west'];

/** Three separable blobs in 4-D; a fixed generator, so the file is the same every run. */
export function blobsCsv(n: number): string {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const rows = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    rows.push([0, 1, 2, 3].map((k) => ((c - 1) * (k % 2 === 0 ? 2 : -1.5) + 0.5 * rnd()).toFixed(4)).join(',') + `,${CLASSES[c]}`);
  }
  return rows.join('\n') + '\n';
}

function parseCsv(text: string): { x: number[][]; labels: string[] } {
  const [, ...rows] = text.trim().split('\n');
  const x: number[][] = [];
  const labels: string[] = [];
  for (const r of rows) {
    const cells = r.split(',');
    labels.push(cells.pop()!);
    x.push(cells.map(Number));
  }
  return { x, labels };
}

export async function main(o: TrainOnCsvOptions): Promise<TrainOnCsvResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const dir = mkdtempSync(join(tmpdir(), 'tabswarm-example-'));
  try {
    // 1. a CSV on disk, as you would have your own
    const file = join(dir, 'blobs.csv');
    writeFileSync(file, blobsCsv(600));

    // 2. upload it
    const swarm = connect(o.url);
    const ds = await swarm.datasets.add(new Uint8Array(readFileSync(file)), { format: 'csv', label: 'label', name: 'blobs' });
    log(`dataset ${ds.id}: ${ds.size} rows, features [${ds.featureShape.join(', ')}], classes ${ds.classes?.join(', ')}`);

    // 3. a model, trained in the swarm
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [4], units: 16, activation: 'relu' }), tf.layers.dense({ units: ds.numClasses ?? 3, activation: 'softmax' })],
    });
    const job = await swarm.fit({
      name: 'blobs from a script', model, dataset: ds.id, optimizer: 'adam', learningRate: 0.02, batchSize: 30,
      steps: o.steps ?? 60, minWorkers: o.minWorkers ?? 1, checkpointEvery: 20, ...(o.backend ? { backend: o.backend } : {}),
    });
    model.dispose();
    log(`job ${job.id}: volunteers join at ${job.joinUrl}`);
    log(`dashboard: ${job.dashboardUrl}`);
    await o.onJob?.(job);

    // 4. follow it, step by step
    let first: number | undefined;
    let last = NaN;
    let count = 0;
    for await (const s of job.steps()) {
      first ??= s.loss;
      last = s.loss;
      count++;
      if (s.step % 10 === 0) log(`step ${s.step}: loss ${s.loss.toFixed(4)}, accuracy ${s.accuracy.toFixed(3)}, ${s.members} members, all-reduce ${s.allreduceMs.toFixed(1)} ms`);
    }
    const done = await job.waitUntilDone({ timeoutMs: o.timeoutMs ?? 600_000 });
    if (done.status !== 'done') throw new Error(`job ended ${done.status}${done.failure ? `: ${done.failure}` : ''}`);

    // 5. the trained model, evaluated here
    const trained = await job.model(tf);
    const { x, labels } = parseCsv(readFileSync(file, 'utf8'));
    const classes = ds.classes ?? CLASSES;
    const predicted = tf.tidy(() => (trained.predict(tf.tensor2d(x)) as tf.Tensor).argMax(-1).dataSync());
    trained.dispose();
    let right = 0;
    labels.forEach((l, i) => void (classes[predicted[i]!] === l && right++));
    const accuracy = right / labels.length;
    log(`trained model: accuracy ${(accuracy * 100).toFixed(1)}% on ${labels.length} rows (chance: ${(100 / classes.length).toFixed(1)}%)`);

    // 6. the same rows predicted in the swarm, with the trained job's weights, in input order
    const p = await swarm.predict(job, ds.id, { unitSize: 100 });
    log(`prediction job ${p.id}: volunteers join at ${p.joinUrl}`);
    await o.onPredict?.(p);
    const pv = await p.waitUntilDone({ timeoutMs: o.timeoutMs ?? 600_000 });
    const out = await p.tensor(tf);
    const swarmPredicted = tf.tidy(() => out.argMax(-1).dataSync());
    out.dispose();
    let swarmRight = 0;
    labels.forEach((l, i) => void (classes[swarmPredicted[i]!] === l && swarmRight++));
    const swarmAccuracy = swarmRight / labels.length;
    log(`swarm predictions: ${pv.prediction?.samples} rows in ${pv.prediction?.units} units, ${pv.prediction?.samplesPerSec.toFixed(0)} rows/s, accuracy ${(swarmAccuracy * 100).toFixed(1)}%`);
    return { jobId: job.id, steps: count, firstLoss: first ?? NaN, lastLoss: last, accuracy, swarmAccuracy, classes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--url');
  const url = i > 0 ? process.argv[i + 1] : 'http://127.0.0.1:8080';
  main({ url: url! }).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
