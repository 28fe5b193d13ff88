/**
 * Checks what a neighbour forwards in reduce-scatter before it is summed further: a partial
 * sum holding C samples' gradients may not exceed C × (a per-sample scale learned from this
 * worker's own, trusted contributions) × a generous factor, and its bookkeeping slots (loss,
 * correct, count) must be consistent with C. A NaN or a gradient scaled by 1e6 is caught at
 * the first honest rank it reaches; the hash vote catches the rest.
 */
import { TAIL } from '../../shared/losses.ts';
import { EXTRA_SLOTS } from '../../shared/replica.ts';

export interface StepShape {
  rank: number;
  ring: string[];
  slices: { peerId: string; count: number }[];
  /** length of the vector being reduced */
  length: number;
}


export class ContributionGuard {
  private scale = 0;
  private seen = 0;

  constructor(
    private readonly factor = 1000,
    private readonly warmupSteps = 5,
    /** the largest per-sample loss the job's loss can give (shared/losses.ts maxSampleLoss; Infinity: unbounded) */
    private readonly maxSampleLoss = 16.2,
  ) {}

  /** Learns from this worker's own contribution (a sum over `count` samples). */
  learn(vec: Float32Array, count: number): void {
    if (count <= 0) return;
    const P = vec.length - EXTRA_SLOTS;
    let max = 0;
    for (let i = 0; i < P; i++) {
      const a = Math.abs(vec[i]!);
      if (a > max) max = a;
    }
    const s = max / count;
    this.scale = this.seen === 0 ? s : Math.max(0.9 * this.scale + 0.1 * s, s);
    this.seen++;
  }

  get learned(): boolean {
    return this.seen >= this.warmupSteps;
  }

  checker(shape: StepShape): (round: number, offset: number, values: Float32Array) => string | null {
    const n = shape.ring.length;
    const check = this.sumChecker(shape);
    // contributions summed so far: this rank and the round+1 ranks before it
    return (round, off, values) => check(Array.from({ length: round + 2 }, (_, k) => (shape.rank - k + n * (round + 2)) % n), off, values);
  }

  /** The same bounds for a partial sum holding the contributions of the ring positions `positions` (latency schedules). */
  sumChecker(shape: StepShape): (positions: readonly number[], offset: number, values: Float32Array) => string | null {
    const counts = shape.ring.map((id) => shape.slices.find((s) => s.peerId === id)?.count ?? 0);
    const P = shape.length - EXTRA_SLOTS;
    const bound = this.learned ? this.factor * this.scale : Infinity;
    return (positions, off, values) => {
      let c = 0;
      for (const k of positions) c += counts[k]!;
      const limit = bound * Math.max(1, c);
      for (let i = 0; i < values.length; i++) {
        const idx = off + i;
        const v = values[i]!;
        if (idx < P) {
          if (Math.abs(v) > limit) return `gradient value ${v.toExponential(2)} exceeds the learned bound ${limit.toExponential(2)} for ${c} samples`;
        } else if (idx === P + TAIL.loss) {
          if (!(v >= 0 && (v <= c * this.maxSampleLoss || (this.maxSampleLoss === Infinity && Number.isFinite(v))))) return `loss sum ${v} impossible for ${c} samples`;
        } else if (idx === P + TAIL.correct) {
          if (!(v >= 0 && v <= c)) return `correct count ${v} impossible for ${c} samples`;
        } else if (idx === P + TAIL.absErr || idx === P + TAIL.sqErr) {
          if (!(v >= 0 && Number.isFinite(v))) return `error sum ${v} impossible`;
        } else if (v !== c) return `sample count ${v}, expected ${c}`;
      }
      return null;
    };
  }
}
