/**
 * Which shards the coordinator believes each member holds, and the step's slices cut to
 * follow them (shared/shardAffinity.ts). Belief = the shards the coordinator itself handed
 * the member work in, narrowed by the member's own `shards` report (its cache evicts): a
 * claim can only take shards away, so a stranger claiming everything changes nothing —
 * neither its slices nor anyone else's. Bounded: per member at most the dataset's shards.
 */
import type { Slice } from '../../shared/batchPlan.ts';
import { planSlicesNear } from '../../shared/shardAffinity.ts';
import { planEvalParts } from './evalParts.ts';
import { ShareControl } from './shareControl.ts';
import type { ShardRun } from '../../shared/shardPlan.ts';

export interface ShardLayout {
  /** shards in the dataset */
  count: number;
  /** global batch `step` as runs of one shard each */
  runs(step: number): ShardRun[];
  /** the job's test split as runs of test-sample indices, one shard each */
  tests?: readonly ShardRun[];
}

export class ShardHoldings {
  private readonly given = new Map<string, Set<number>>();
  private readonly claimed = new Map<string, Set<number>>();
  private readonly lastCentre = new Map<string, number>();
  /** each member's share of the batch, steered by its compute times (shareControl.ts) */
  private readonly control = new ShareControl();

  constructor(private readonly layout: ShardLayout) {}

  /** A member's report of what its cache holds. */
  report(id: string, held: readonly number[]) {
    this.claimed.set(id, new Set(held.filter((i) => i < this.layout.count)));
  }

  believed(id: string): Set<number> {
    const given = this.given.get(id) ?? new Set<number>();
    const claimed = this.claimed.get(id);
    return claimed ? new Set([...given].filter((s) => claimed.has(s))) : given;
  }

  /** A committed step's time from its opening to member `id`'s `computed` (its slice non-empty). */
  observe(id: string, ms: number) {
    this.control.observe(id, ms);
  }

  /** Each member's ranges of test samples: the test samples of shards it holds, where it can (null: equal parts). */
  evalParts(ids: readonly string[]): Map<string, [number, number][]> | null {
    return this.layout.tests ? planEvalParts(ids, (id) => this.believed(id), this.layout.tests) : null;
  }

  /**
   * The slices of `step`, following holdings; records what each member is given. `weights`
   * (speeds) only seed a newcomer's share; then its compute times steer it (shareControl.ts).
   */
  cut(step: number, members: { peerId: string; weight: number }[], granularity: number, alive: (id: string) => boolean): Slice[] {
    for (const map of [this.given, this.claimed, this.lastCentre]) for (const id of map.keys()) if (!alive(id)) map.delete(id);
    this.control.forget(alive);
    const runs = this.layout.runs(step);
    const weights = this.control.shares(members);
    const out = planSlicesNear(runs.reduce((a, r) => a + r.count, 0), members.map((m, i) => ({ peerId: m.peerId, weight: weights[i]!, held: this.believed(m.peerId), ...(this.lastCentre.has(m.peerId) ? { lastCentre: this.lastCentre.get(m.peerId)! } : {}) })), runs, { granularity });
    for (const s of out) {
      if (s.count > 0) this.lastCentre.set(s.peerId, s.start + s.count / 2);
      const mine = this.given.get(s.peerId) ?? new Set<number>();
      for (const r of runs) if (r.start < s.start + s.count && r.start + r.count > s.start) mine.add(r.shard);
      this.given.set(s.peerId, mine);
    }
    return out;
  }
}
