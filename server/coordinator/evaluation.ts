/**
 * Distributed evaluation: the test set is cut into equal parts in sample order (every member
 * holds the same test set, so part i of n is the same samples everywhere) — or, for a stored
 * dataset, into the test samples of the shards each member holds (evalParts.ts) — one per member, and
 * the members' counts of right answers are summed — whole numbers, so the sum is exactly what
 * one process scoring the same weights would count. Each member scores 1/N of the set instead
 * of all of it. A member that goes before it reports leaves the evaluation incomplete: no
 * accuracy is claimed for it.
 */
import type { EvalCounts, EvalPart } from '../../shared/protocol.ts';

/** summed parts; absErr / sqErr: a regression job's ∑ per-sample errors (0 for a classifier) */
export interface EvalTotal {
  correct: number;
  count: number;
  absErr: number;
  sqErr: number;
}

export class Evaluation {
  readonly parts = new Map<string, number>();
  readonly reports = new Map<string, EvalTotal>();
  /** `ranges`: each member's ranges of test samples (evalParts.ts); without, equal parts in sample order */
  constructor(members: readonly string[], private readonly ranges: ReadonlyMap<string, [number, number][]> | null = null) {
    members.forEach((id, i) => this.parts.set(id, i));
  }

  /** the part of the test set `id` scores */
  partOf(id: string): EvalPart | null {
    const index = this.parts.get(id);
    if (index === undefined) return null;
    const ranges = this.ranges?.get(id);
    return ranges ? { index, of: this.parts.size, ranges } : { index, of: this.parts.size };
  }

  /** false when `id` has no part or already answered */
  report(id: string, ev: EvalCounts): boolean {
    const { correct, count } = ev;
    if (!this.parts.has(id) || this.reports.has(id) || correct > count) return false;
    this.reports.set(id, { correct, count, absErr: ev.absErr ?? 0, sqErr: ev.sqErr ?? 0 });
    return true;
  }

  get complete(): boolean {
    return this.reports.size === this.parts.size;
  }

  /** the summed counts once every part is in */
  total(): EvalTotal | null {
    if (!this.complete) return null;
    const t: EvalTotal = { correct: 0, count: 0, absErr: 0, sqErr: 0 };
    // in part order, so the float sums are the same whichever report came first
    const ordered = [...this.parts.entries()].sort((a, b) => a[1] - b[1]);
    for (const [id] of ordered) {
      const r = this.reports.get(id)!;
      t.correct += r.correct;
      t.count += r.count;
      t.absErr += r.absErr;
      t.sqErr += r.sqErr;
    }
    return t;
  }
}
