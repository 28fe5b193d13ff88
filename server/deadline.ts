/**
 * How long the coordinator waits for a step before dropping the members that have not
 * finished computing. Derived from observed step times, not a constant: a slow model or a
 * slow swarm gets a longer deadline, a fast one detects stalls quickly.
 */
export interface DeadlineOptions {
  /** used until enough steps have been seen (first steps compile shaders, open links) */
  initialMs: number;
  minMs: number;
  /** deadline = factor × p90 of recent step times + slackMs */
  factor: number;
  slackMs: number;
  window: number;
  warmupSteps: number;
}

export const DEFAULT_DEADLINE: DeadlineOptions = { initialMs: 60_000, minMs: 3_000, factor: 5, slackMs: 1_000, window: 20, warmupSteps: 5 };

export function stepDeadlineMs(recentStepMs: readonly number[], o: DeadlineOptions = DEFAULT_DEADLINE): number {
  if (recentStepMs.length < o.warmupSteps) return o.initialMs;
  const recent = recentStepMs.slice(-o.window).slice().sort((a, b) => a - b);
  const p90 = recent[Math.min(recent.length - 1, Math.floor(recent.length * 0.9))]!;
  return Math.max(o.minMs, Math.min(o.initialMs, o.factor * p90 + o.slackMs));
}
