/**
 * Evaluation parts that follow the shards members hold. For a stored dataset the test samples
 * lie in the same shards as the training samples (shared/datasetShards.ts), so a member that
 * trained on a shard can score that shard's test samples without fetching anything. Each
 * shard's test run goes, whole, to a member that holds the shard — the least loaded of its
 * holders while that one stays under 1.5 × an even share — else to the least loaded member
 * (who fetches it). Every test sample lands in exactly one part: the parts' summed counts are
 * what one process scoring the whole test set counts.
 */
import type { ShardRun } from '../../shared/shardPlan.ts';
import { EVAL_RANGES_MAX } from '../../shared/protocol.ts';

export function planEvalParts(ids: readonly string[], held: (id: string) => ReadonlySet<number>, tests: readonly ShardRun[]): Map<string, [number, number][]> | null {
  const total = tests.reduce((a, r) => a + r.count, 0);
  if (ids.length === 0 || total === 0) return null;
  const cap = (1.5 * total) / ids.length;
  const load = new Map(ids.map((id) => [id, 0]));
  const out = new Map<string, [number, number][]>(ids.map((id) => [id, []]));
  const least = (xs: readonly string[]) => xs.reduce((best, id) => (load.get(id)! < load.get(best)! ? id : best), xs[0]!);
  for (const r of tests) {
    const holders = ids.filter((id) => held(id).has(r.shard));
    const h = holders.length > 0 ? least(holders) : null;
    const to = h !== null && load.get(h)! + r.count <= cap ? h : least(ids);
    load.set(to, load.get(to)! + r.count);
    const mine = out.get(to)!;
    const last = mine.at(-1);
    if (last && last[1] === r.start) last[1] = r.start + r.count;
    else mine.push([r.start, r.start + r.count]);
  }
  // a part the wire cannot carry: fall back to equal parts
  return [...out.values()].some((x) => x.length > EVAL_RANGES_MAX) ? null : out;
}
