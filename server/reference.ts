/**
 * The single-process reference: trains the job's model in Node on the same global batches,
 * with the same optimizer code, so a swarm's weights can be compared to it. Random layers draw
 * the same counter-based masks as the replicas and batch norm uses the same ghost batches
 * (shared/exactness.ts), so the reference is the swarm's semantic, whatever its slicing.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { planSlices } from '../shared/batchPlan.ts';
import { loadDataset, type DatasetSource } from '../shared/datasets.ts';
import { sliceGranularity } from '../shared/exactness.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import type { StoredDatasetMeta } from '../shared/datasetShards.ts';
import { TAIL, taskMetrics, type TaskMetrics } from '../shared/losses.ts';
import { createOptimizer } from '../shared/optimizer.ts';
import { Replica } from '../shared/replica.ts';
import { samplePlanFor } from '../shared/samplePlan.ts';

export interface ReferenceOptions {
  /**
   * Compute every global batch in slices of these relative weights, cut as the coordinator
   * cuts them (on ghost batch boundaries), and sum them in float32 as the ring does; default:
   * one slice. A different slicing may only change the result by float rounding.
   */
  sliceWeights?: number[];
  /**
   * The tfjs backend the gradients are computed on: 'cpu' (default) or 'wasm' (the same
   * XNNPACK kernels a tab on `?backend=wasm` runs). Replicas on any backends stay bit-identical
   * to each other (the update runs in TypeScript), but the reference equals them only up to the
   * kernels' rounding, and over many Adam steps that is not always small: MNIST MLP, batch 512,
   * 150 steps, wasm vs cpu ends 1.9e-2 apart (a discrete jump at step 66, the loss 4e-6 off
   * where it had been within 1e-7). A test that compares wasm tabs with the reference computes it on wasm.
   */
  backend?: 'cpu' | 'wasm';
}

export interface ReferenceResult {
  /** trainable parameters (the replicas' flat vector) */
  params: Float32Array;
  /** non-trainable weights (batch-norm moving statistics), empty without */
  buffers: Float32Array;
  /** params then buffers: what a swarm's final upload holds */
  weights: Float32Array;
  /** hash over params and buffers, as the replicas report it */
  stateHash: string;
  /** 0 for a regression job (see `test`) */
  testAccuracy: number;
  /** the test metrics the task reports: accuracy, or MAE and RMSE */
  test: TaskMetrics;
  losses: number[];
}

/** Node's wasm backend, registered on first use: only a reference asked for wasm loads it. */
let wasmReady: Promise<void> | null = null;
async function useBackend(name: 'cpu' | 'wasm') {
  if (name === 'wasm') {
    wasmReady ??= import('@tensorflow/tfjs-backend-wasm').then((wasm) => wasm.setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`));
    await wasmReady;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} failed to initialise in Node`);
}

export async function trainReference(spec: JobSpec, source: DatasetSource, steps = spec.steps, o: ReferenceOptions = {}): Promise<ReferenceResult> {
  await useBackend(o.backend ?? 'cpu');
  try {
    return await runReference(spec, source, steps, o);
  } finally {
    // the rest of the process (vetting, evaluation) runs on cpu
    if (o.backend === 'wasm') await tf.setBackend('cpu');
  }
}

async function runReference(spec: JobSpec, source: DatasetSource, steps: number, o: ReferenceOptions): Promise<ReferenceResult> {
  const load = { standardize: spec.standardize ?? false };
  const train = await loadDataset(source, spec.dataset.id, 'train', spec.dataset.trainSize, load);
  const test = await loadDataset(source, spec.dataset.id, 'test', spec.dataset.testSize, load);
  const r = await Replica.create(tf, spec);
  // the plan the swarm follows: the shard-aware plan over the dataset's shards
  const meta = JSON.parse(new TextDecoder().decode(await source(spec.dataset.id, 'meta.json'))) as StoredDatasetMeta;
  const plan = samplePlanFor(spec, meta);
  const opt = createOptimizer(spec.optimizer, r.size);
  const slices = planSlices(spec.batchSize, (o.sliceWeights ?? [1]).map((weight, i) => ({ peerId: String(i), weight })), { granularity: sliceGranularity(spec) });
  const losses: number[] = [];
  const sum = new Float32Array(r.vectorLength);
  for (let s = 0; s < steps; s++) {
    sum.fill(0);
    for (const sl of slices) {
      if (sl.count === 0) continue;
      const v = await r.gradient(train, plan.indices(s, sl.start, sl.count), { step: s, start: sl.start });
      for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v[i]!;
    }
    const n = sum[r.tailOffset + TAIL.count]!;
    losses.push(sum[r.tailOffset + TAIL.loss]! / n);
    r.applyUpdate(sum, opt);
  }
  const ev = await r.evaluate(test, 0, test.size);
  const metrics = taskMetrics(r.loss.task, ev);
  const testAccuracy = metrics.accuracy ?? 0;
  const out: ReferenceResult = {
    params: Float32Array.from(r.params),
    buffers: Float32Array.from(r.buffers),
    weights: r.stateVector(),
    stateHash: r.stateHash(),
    testAccuracy,
    test: metrics,
    losses,
  };
  r.dispose();
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
