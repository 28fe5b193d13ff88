/**
 * One place that decides a job's sample plan, so the coordinator, every worker and the
 * single-process reference use the same: a shipped dataset walks whole-dataset permutations
 * (BatchPlan); a stored dataset (one with shards) the shard-aware plan (ShardPlan).
 */
import { BatchPlan } from './batchPlan.ts';
import { ShardPlan, trainCounts, type SamplePlan } from './shardPlan.ts';

export interface PlanInput {
  batchSize: number;
  seed: number;
  dataset: { trainSize: number };
}

/** `trainSize`: the split's size as loaded (limit applied); `shards`: a stored dataset's shard list */
export function samplePlanFor(spec: PlanInput, trainSize: number, shards?: readonly { start: number; count: number }[] | null): SamplePlan {
  if (shards && shards.length > 0) return new ShardPlan(trainCounts(shards, spec.dataset.trainSize), spec.batchSize, spec.seed);
  return new BatchPlan(trainSize, spec.batchSize, spec.seed);
}
