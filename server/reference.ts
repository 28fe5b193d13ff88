/**
 * The single-process reference: trains the job's model in Node on the same global batches,
 * with the same optimizer code, so a swarm's weights can be compared to it.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchPlan } from '../shared/batchPlan.ts';
import { loadDataset, type DatasetSource } from '../shared/datasets.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import { createOptimizer } from '../shared/optimizer.ts';
import { Replica } from '../shared/replica.ts';

export async function trainReference(spec: JobSpec, source: DatasetSource, steps = spec.steps): Promise<{ params: Float32Array; testAccuracy: number; losses: number[] }> {
  await tf.setBackend('cpu');
  const train = await loadDataset(source, spec.dataset.id, 'train', spec.dataset.trainSize);
  const test = await loadDataset(source, spec.dataset.id, 'test', spec.dataset.testSize);
  const r = await Replica.create(tf, spec);
  const plan = new BatchPlan(train.size, spec.batchSize, spec.seed);
  const opt = createOptimizer(spec.optimizer, r.size);
  const losses: number[] = [];
  const grad = new Float32Array(r.size);
  for (let s = 0; s < steps; s++) {
    const v = await r.gradient(train, plan.indices(s));
    const n = v[r.size + 2]!;
    for (let i = 0; i < r.size; i++) grad[i] = v[i]! / n;
    losses.push(v[r.size]! / n);
    opt.apply(r.params, grad);
    r.writeParams();
  }
  const testAccuracy = await r.accuracy(test);
  const params = Float32Array.from(r.params);
  r.dispose();
  return { params, testAccuracy, losses };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
