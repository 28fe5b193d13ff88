/**
 * Addresses that cost a job something and may not come straight back. A member dropped for
 * what it did — a sync it never completed (which held the job's step boundary), an eviction,
 * a spent violation budget — bars its address from joining that job again for a while, and
 * the wait doubles with each offence (2 s, 4 s, 8 s, … at most 10 min; forgotten after 10 min
 * without one). Addresses are shared (NAT, a rack of headless workers), so the first waits are
 * short: honest neighbours of an offender retry with backoff and get in; one address cannot
 * keep a job stalled.
 */
export interface PenaltyBox {
  penalize(ip: string, jobId: string): void;
  /** ms until `ip` may join `jobId` again (0: it may) */
  barredFor(ip: string, jobId: string): number;
}

export function createPenaltyBox(o: { now: () => number; baseMs?: number; maxMs?: number; maxKeys?: number }): PenaltyBox {
  const base = o.baseMs ?? 2_000;
  const max = o.maxMs ?? 600_000;
  const maxKeys = o.maxKeys ?? 10_000;
  const entries = new Map<string, { offences: number; until: number }>();
  const key = (ip: string, jobId: string) => `${ip}\u0000${jobId}`;
  return {
    penalize(ip, jobId) {
      const k = key(ip, jobId);
      const now = o.now();
      const e = entries.get(k) ?? { offences: 0, until: 0 };
      entries.delete(k); // re-inserted: the map's order is the eviction order
      if (now - e.until > max) e.offences = 0;
      e.offences++;
      e.until = now + Math.min(max, base * 2 ** (e.offences - 1));
      entries.set(k, e);
      for (const old of entries.keys()) {
        if (entries.size <= maxKeys) break;
        entries.delete(old);
      }
    },
    barredFor(ip, jobId) {
      const e = entries.get(key(ip, jobId));
      return e ? Math.max(0, e.until - o.now()) : 0;
    },
  };
}
