/**
 * Distributed evaluation: the test set is cut into equal parts in sample order (every member
 * holds the same test set, so part i of n is the same samples everywhere), one per member, and
 * the members' counts of right answers are summed — whole numbers, so the sum is exactly what
 * one process scoring the same weights would count. Each member scores 1/N of the set instead
 * of all of it. A member that goes before it reports leaves the evaluation incomplete: no
 * accuracy is claimed for it.
 */
import type { EvalPart } from '../../shared/protocol.ts';

export class Evaluation {
  readonly parts = new Map<string, number>();
  readonly reports = new Map<string, { correct: number; count: number }>();
  constructor(members: readonly string[]) {
    members.forEach((id, i) => this.parts.set(id, i));
  }

  /** the part of the test set `id` scores */
  partOf(id: string): EvalPart | null {
    const index = this.parts.get(id);
    return index === undefined ? null : { index, of: this.parts.size };
  }

  /** false when `id` has no part or already answered */
  report(id: string, correct: number, count: number): boolean {
    if (!this.parts.has(id) || this.reports.has(id) || correct > count) return false;
    this.reports.set(id, { correct, count });
    return true;
  }

  get complete(): boolean {
    return this.reports.size === this.parts.size;
  }

  /** the summed counts once every part is in */
  total(): { correct: number; count: number } | null {
    if (!this.complete) return null;
    let correct = 0;
    let count = 0;
    for (const r of this.reports.values()) {
      correct += r.correct;
      count += r.count;
    }
    return { correct, count };
  }
}
