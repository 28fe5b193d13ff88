/**
 * A job's shard layout for its coordinator: for a job on a stored dataset, the runs of one
 * shard each that its global batches are made of (the same ShardPlan the workers and the
 * reference follow), so slices can follow the shards members hold, and its test split by
 * shard, so evaluation parts can too. Shipped datasets: none.
 */
import { isBuiltinDatasetId, type JobSpec } from '../../shared/jobSpec.ts';
import { ShardPlan, testRuns, trainCounts } from '../../shared/shardPlan.ts';
import type { ShardLayout } from '../coordinator/shardHoldings.ts';
import type { DatasetStore } from './datasetStore.ts';

export function shardLayoutOf(store: Pick<DatasetStore, 'get'>, spec: JobSpec): { shards?: ShardLayout } {
  if (isBuiltinDatasetId(spec.dataset.id)) return {};
  try {
    const { shards } = store.get(spec.dataset.id);
    const plan = new ShardPlan(trainCounts(shards, spec.dataset.trainSize), spec.batchSize, spec.seed);
    return { shards: { count: shards.length, runs: (step) => plan.runs(step), tests: testRuns(shards, spec.dataset.testSize) } };
  } catch {
    return {}; // the dataset is gone: workers will fail to load it, slicing is moot
  }
}
