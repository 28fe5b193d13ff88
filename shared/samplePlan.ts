/**
 * One place that decides a job's sample plan, so the coordinator, every worker and the
 * single-process reference use the same: the shard-aware plan (ShardPlan) over the dataset's
 * train samples, the first `trainSize` of them when the job limits it.
 */
import { ShardPlan, trainCounts } from './shardPlan.ts';

export interface PlanInput {
  batchSize: number;
  seed: number;
  dataset: { trainSize: number };
}

/** `meta`: the dataset's shard ranges and split rule (StoredDatasetMeta) */
export function samplePlanFor(spec: PlanInput, meta: { shards: readonly { start: number; count: number }[]; testFrom?: number | null }): ShardPlan {
  return new ShardPlan(trainCounts(meta.shards, spec.dataset.trainSize, meta.testFrom ?? null), spec.batchSize, spec.seed);
}
