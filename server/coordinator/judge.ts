/**
 * Judging faults on evidence, as pure functions of what the coordinator saw.
 *
 * - A step past its deadline: members that have not computed are late; if everyone computed
 *   and a strict majority reported the result, those that did not are stalled; else members
 *   silent for 1.5 heartbeats are; if everyone is demonstrably alive (heard from since), the
 *   step is redone on fresh links — nobody is dropped for a ring that jammed.
 * - A pause of the server's own event loop (GC, SIGSTOP, an overloaded host): the timer fires
 *   late while the messages that arrived meanwhile are still queued behind it, so the time
 *   the server did not watch must not count against anyone.
 */
export type DeadlineVerdict = { kind: 'drop'; ids: string[] } | { kind: 'wait' } | { kind: 'redo' };

export interface StepEvidence {
  ring: readonly string[];
  computed: ReadonlySet<string>;
  reported: ReadonlySet<string>;
  deadlineAt: number;
  lastSeen(id: string): number;
}

export function judgeDeadline(o: StepEvidence, now: number, heartbeatMs: number): DeadlineVerdict {
  const late = o.ring.filter((id) => !o.computed.has(id));
  if (late.length > 0 && late.length < o.ring.length) return { kind: 'drop', ids: late };
  if (late.length === 0 && o.reported.size * 2 > o.ring.length) return { kind: 'drop', ids: o.ring.filter((id) => !o.reported.has(id)) };
  const silentMs = 1.5 * heartbeatMs;
  const silent = o.ring.filter((id) => now - o.lastSeen(id) > silentMs);
  if (silent.length > 0 && silent.length < o.ring.length) return { kind: 'drop', ids: silent };
  // a member frozen just before the deadline needs the time to show it
  if (now < o.deadlineAt + silentMs && silent.length === 0) return { kind: 'wait' };
  return { kind: 'redo' };
}

/** Notices that the timer that should fire every `intervalMs` fired late. */
export class PauseDetector {
  private last: number;
  constructor(
    private readonly intervalMs: number,
    now: number,
  ) {
    this.last = now;
  }

  /** The ms the server stood still before this tick (0: it did not). */
  tick(now: number): number {
    const gap = now - this.last - this.intervalMs;
    this.last = now;
    return gap > Math.max(1000, 2 * this.intervalMs) ? gap : 0;
  }
}
