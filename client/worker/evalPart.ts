/**
 * Scores this tab's part of a distributed evaluation: equal parts in sample order, or the
 * ranges of test samples the coordinator named (those in shards this tab holds).
 */
import { evalRanges, type EvalPart } from '../../shared/protocol.ts';
import type { LoadedJob } from './sessionTypes.ts';

export async function scorePart(job: Pick<LoadedJob, 'feed' | 'replica'>, part: EvalPart): Promise<{ correct: number; absErr: number; sqErr: number; count: number }> {
  const sum = { correct: 0, absErr: 0, sqErr: 0, count: 0 };
  for (const r of evalRanges(job.feed.testSize, part)) {
    const { ds, start, end } = await job.feed.range('test', r.start, r.end);
    const v = await job.replica.evaluate(ds, start, end);
    sum.correct += v.correct;
    sum.absErr += v.absErr;
    sum.sqErr += v.sqErr;
    sum.count += v.count;
  }
  return sum;
}
