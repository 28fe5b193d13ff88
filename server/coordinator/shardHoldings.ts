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
  /** each member's share of the batch, smoothed over steps (see `shares`) */
  private readonly share = new Map<string, number>();

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

  /** Each member's ranges of test samples: the test samples of shards it holds, where it can (null: equal parts). */
  evalParts(ids: readonly string[]): Map<string, [number, number][]> | null {
    return this.layout.tests ? planEvalParts(ids, (id) => this.believed(id), this.layout.tests) : null;
  }

  /** The slices of `step`, following holdings; records what each member is given. */
  cut(step: number, members: { peerId: string; weight: number }[], granularity: number, alive: (id: string) => boolean): Slice[] {
    for (const map of [this.given, this.claimed, this.lastCentre, this.share]) for (const id of map.keys()) if (!alive(id)) map.delete(id);
    const runs = this.layout.runs(step);
    const weights = this.shares(members);
    const out = planSlicesNear(runs.reduce((a, r) => a + r.count, 0), members.map((m, i) => ({ peerId: m.peerId, weight: weights[i]!, held: this.believed(m.peerId), ...(this.lastCentre.has(m.peerId) ? { lastCentre: this.lastCentre.get(m.peerId)! } : {}) })), runs, { granularity });
    for (const s of out) {
      if (s.count > 0) this.lastCentre.set(s.peerId, s.start + s.count / 2);
      const mine = this.given.get(s.peerId) ?? new Set<number>();
      for (const r of runs) if (r.start < s.start + s.count && r.start + r.count > s.start) mine.add(r.shard);
      this.given.set(s.peerId, mine);
    }
    return out;
  }

  /**
   * The members' weights as smoothed shares of the batch: a step's measured speed swings with
   * the load (and with the step's own shard fetches), and a share that swings moves the cuts
   * off the shards their members hold. Each share moves SHARE_ALPHA of the way to the new
   * proportion per step; a newcomer starts at its proportion. Still proportional to speed over
   * a few steps — a member that really slows loses its extra work within ~10 steps.
   */
  private shares(members: readonly { peerId: string; weight: number }[]): number[] {
    const w = members.map((m) => (Number.isFinite(m.weight) && m.weight > 0 ? m.weight : 0));
    const total = w.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return w;
    const out = members.map((m, i) => {
      const now = w[i]! / total;
      const was = this.share.get(m.peerId);
      return now === 0 ? 0 : was === undefined ? now : was + SHARE_ALPHA * (now - was);
    });
    const sum = out.reduce((a, b) => a + b, 0);
    members.forEach((m, i) => this.share.set(m.peerId, out[i]! / sum));
    return out.map((x) => x / sum);
  }
}

/** how far a member's smoothed share moves towards its measured proportion per step */
export const SHARE_ALPHA = 0.2;
