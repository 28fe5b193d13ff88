/**
 * A job's shard layout for its coordinator: for a job on a stored dataset, the runs of one
 * shard each that its global batches are made of (the same ShardPlan the workers and the
 * reference follow), so slices can follow the shards members hold, and its test split by
 * shard, so evaluation parts can too.
 */
import type { JobSpec } from '../../shared/jobSpec.ts';
import { samplePlanFor } from '../../shared/samplePlan.ts';
import { testRuns } from '../../shared/shardPlan.ts';
import type { ShardLayout } from '../coordinator/shardHoldings.ts';
import type { DatasetStore } from './datasetStore.ts';

export function shardLayoutOf(store: Pick<DatasetStore, 'get'>, spec: JobSpec): { shards?: ShardLayout } {
  try {
    const meta = store.get(spec.dataset.id);
    const { shards } = meta;
    const plan = samplePlanFor(spec, meta);
    return { shards: { count: shards.length, runs: (step) => plan.runs(step), tests: testRuns(shards, spec.dataset.testSize, meta.testFrom ?? null) } };
  } catch {
    return {}; // the dataset is gone: workers will fail to load it, slicing is moot
  }
}
