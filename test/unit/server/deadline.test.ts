import { describe, expect, it } from 'vitest';
import { DEFAULT_DEADLINE, stepDeadlineMs } from '../../../server/deadline.ts';

describe('step deadline', () => {
  it('uses the generous initial deadline until enough steps were seen', () => {
    expect(stepDeadlineMs([])).toBe(DEFAULT_DEADLINE.initialMs);
    expect(stepDeadlineMs([10, 10, 10, 10])).toBe(DEFAULT_DEADLINE.initialMs);
  });

  it('follows observed step times: factor × p90 + slack', () => {
    const times = Array.from({ length: 20 }, (_, i) => 1000 + i * 10); // p90 = 1180
    expect(stepDeadlineMs(times)).toBe(5 * 1180 + 1000);
  });

  it('a slower swarm gets a longer deadline than a faster one', () => {
    const fast = Array(20).fill(200);
    const slow = Array(20).fill(2000);
    expect(stepDeadlineMs(slow)).toBeGreaterThan(stepDeadlineMs(fast));
  });

  it('never drops below the minimum nor above the initial deadline', () => {
    expect(stepDeadlineMs(Array(20).fill(1))).toBe(DEFAULT_DEADLINE.minMs);
    expect(stepDeadlineMs(Array(20).fill(1e6))).toBe(DEFAULT_DEADLINE.initialMs);
  });

  it('looks only at the recent window', () => {
    const old = Array(50).fill(5000);
    const recent = Array(20).fill(500);
    expect(stepDeadlineMs([...old, ...recent])).toBe(stepDeadlineMs(recent));
  });
});
