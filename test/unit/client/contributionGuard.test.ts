import { describe, expect, it } from 'vitest';
import { ContributionGuard } from '../../../client/worker/contributionGuard.ts';

const P = 6;
/** a contribution vector: P gradient values, then loss sum, correct, ∑absErr, ∑sqErr, count (shared/losses.ts TAIL) */
const contribution = (grad: number[], count: number, loss = count * 0.5, correct = 0) => Float32Array.from([...grad, loss, correct, 0, 0, count]);

function trained(steps = 5) {
  const g = new ContributionGuard(1000, 5);
  for (let i = 0; i < steps; i++) g.learn(contribution([0.1, -0.2, 0.05, 0, 0.3, -0.1].map((x) => x * 10), 10), 10);
  return g;
}

// ring a → b → c, we are rank 1 (b); each holds 10 samples
const shape = { rank: 1, ring: ['a', 'b', 'c'], slices: [{ peerId: 'a', count: 10 }, { peerId: 'b', count: 10 }, { peerId: 'c', count: 10 }], length: P + 5 };

describe('contribution guard', () => {
  it('accepts honest partial sums and their bookkeeping', () => {
    const check = trained().checker(shape);
    expect(check(0, 0, Float32Array.from([0.5, -1, 2, 0, 1, 1]))).toBeNull();
    expect(check(0, P, Float32Array.from([10, 15, 0, 0, 20]))).toBeNull();
  });

  it('rejects a gradient scaled by 1e6 once it has learned the scale', () => {
    const check = trained().checker(shape);
    const bad = check(0, 0, Float32Array.from([0.5e6, -1e6, 2, 0, 1, 1]));
    expect(bad).toMatch(/exceeds the learned bound/);
  });

  it('does not judge gradients before the warm-up, but always checks the sample count', () => {
    const check = trained(2).checker(shape);
    expect(check(0, 0, Float32Array.from([1e9, 0, 0, 0, 0, 0]))).toBeNull();
    expect(check(0, P + 4, Float32Array.from([21]))).toMatch(/sample count 21, expected 20/);
  });

  it('rejects impossible loss and correct counts', () => {
    const check = trained().checker(shape);
    expect(check(0, P, Float32Array.from([-1]))).toMatch(/loss sum/);
    expect(check(0, P + 1, Float32Array.from([21]))).toMatch(/correct count/);
    expect(check(0, P + 2, Float32Array.from([-1]))).toMatch(/error sum/);
    expect(check(0, P + 3, Float32Array.from([Infinity]))).toMatch(/error sum/);
  });

  it('bounds the loss sum only for a loss that is bounded (clipped cross-entropy)', () => {
    const unbounded = new ContributionGuard(1000, 5, Infinity);
    for (let i = 0; i < 5; i++) unbounded.learn(contribution([1, 1, 1, 1, 1, 1], 10), 10);
    expect(unbounded.checker(shape)(0, P, Float32Array.from([1e6]))).toBeNull();
    expect(unbounded.checker(shape)(0, P, Float32Array.from([-1]))).toMatch(/loss sum/);
    expect(trained().checker(shape)(0, P, Float32Array.from([1e6]))).toMatch(/loss sum/);
  });

  it('counts the contributors of later rounds: round r holds r+2 ranks', () => {
    const check = trained().checker({ ...shape, slices: [{ peerId: 'a', count: 5 }, { peerId: 'b', count: 7 }, { peerId: 'c', count: 11 }] });
    expect(check(0, P + 4, Float32Array.from([12]))).toBeNull(); // b + a
    expect(check(1, P + 4, Float32Array.from([23]))).toBeNull(); // b + a + c
  });

  it('latency schedules: a partial sum of any set of ring positions is bounded by their samples', () => {
    const g = trained();
    const check = g.sumChecker({ ...shape, slices: [{ peerId: 'a', count: 5 }, { peerId: 'b', count: 7 }, { peerId: 'c', count: 11 }] });
    expect(check([0, 2], P + 4, Float32Array.from([16]))).toBeNull(); // a + c
    expect(check([0, 2], P + 4, Float32Array.from([12]))).toMatch(/sample count 12, expected 16/);
    expect(check([1], 0, Float32Array.from([1e6, 0, 0, 0, 0, 0]))).toMatch(/exceeds the learned bound/);
  });
});
