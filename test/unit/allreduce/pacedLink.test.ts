import { describe, expect, it } from 'vitest';
import type { Link } from '../../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';
import { PacedLink, paceForUplink, type PaceClock } from '../../../shared/allreduce/pacedLink.ts';
import { linkCompliance } from './linkCompliance.ts';

let n = 0;
linkCompliance('paced link over an in-memory link', async () => {
  n++;
  const [a, b] = memoryLinkPair(`p${n}b`, `p${n}a`);
  return [new PacedLink(a, () => 64 * 1024 * 1024), new PacedLink(b, () => 64 * 1024 * 1024)];
}, { buffers: true, timeoutMs: 30_000 });

/** A clock that only moves when the test says so. */
function manualClock(): PaceClock & { advance(ms: number): void } {
  let t = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => t,
    after(ms, fn) {
      const timer = { at: t + ms, fn };
      timers.push(timer);
      return () => {
        timers = timers.filter((x) => x !== timer);
      };
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = timers.filter((x) => x.at <= end).sort((x, y) => x.at - y.at)[0];
        if (!due) break;
        timers = timers.filter((x) => x !== due);
        t = due.at;
        due.fn();
      }
      t = end;
    },
  };
}

/** Counts the bytes handed to the link below. */
function countingLink(): Link & { handed: number } {
  const [a] = memoryLinkPair('x', 'y');
  const l = Object.create(a) as Link & { handed: number };
  l.handed = 0;
  l.send = (d: Uint8Array) => {
    l.handed += d.byteLength;
  };
  return l;
}

describe('PacedLink', () => {
  it('hands bytes on no faster than the rate plus one burst, and all of them in the end', () => {
    const clock = manualClock();
    const inner = countingLink();
    const rate = 1_000_000; // bytes/s
    const burst = 64 * 1024;
    const paced = new PacedLink(inner, () => rate, burst, clock);
    for (let i = 0; i < 100; i++) paced.send(new Uint8Array(10_000)); // 1 MB at once
    expect(inner.handed).toBeLessThanOrEqual(burst + 10_000);
    expect(paced.bufferedAmount).toBe(1_000_000 - inner.handed);
    for (let ms = 100; ms <= 1500; ms += 100) {
      clock.advance(100);
      expect(inner.handed).toBeLessThanOrEqual(burst + 10_000 + (rate * ms) / 1000);
    }
    expect(inner.handed).toBe(1_000_000);
    expect(paced.bufferedAmount).toBe(0);
  });

  it('drained() waits for the pacer’s own queue', async () => {
    const clock = manualClock();
    const paced = new PacedLink(countingLink(), () => 100_000, 10_000, clock);
    for (let i = 0; i < 10; i++) paced.send(new Uint8Array(10_000));
    let done = false;
    const d = paced.drained(20_000).then(() => (done = true));
    clock.advance(100);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1000);
    await d;
    expect(paced.bufferedAmount).toBeLessThanOrEqual(20_000);
  });

  it('an uplink of 50 Mbit/s is paced at 85 % of it', () => {
    expect(paceForUplink(50)).toBe(50 * 125_000 * 0.85);
  });
});

describe('PacedLink with auto pacing (UplinkEstimator)', () => {
  /** A link below whose buffer drains at `capBps` as the clock moves (a capped uplink, cwnd-limited). */
  function cappedLink(capBps: number): Link & { buffered: number; drainMs(ms: number): number; handed: number } {
    const l = countingLink() as Link & { buffered: number; drainMs(ms: number): number; handed: number };
    l.buffered = 0;
    const send = l.send;
    l.send = (d) => {
      send(d);
      l.buffered += d.byteLength;
    };
    Object.defineProperty(l, 'bufferedAmount', { get: () => l.buffered });
    l.drainMs = (ms) => {
      const out = Math.min(l.buffered, (capBps * ms) / 1000);
      l.buffered -= out;
      return out;
    };
    return l;
  }

  it('off by default: the given rate, no estimator', () => {
    const paced = new PacedLink(countingLink(), () => 123, 1000, manualClock());
    expect(paced.estimator).toBeNull();
    expect(paced.currentRate).toBe(123);
  });

  it('finds a 20 Mbit/s uplink from the link’s buffer alone, without being told', () => {
    const clock = manualClock();
    const cap = 20 * 125_000;
    const inner = cappedLink(cap);
    const rates: number[] = [];
    const paced = new PacedLink(inner, () => 1, 64 * 1024, clock, { auto: { onRate: (r) => rates.push(r) } });
    const msg = new Uint8Array(16 * 1024);
    let drainedTotal = 0;
    let at10s = 0;
    for (let t = 0; t < 20_000; t += 5) {
      while (paced.queuedBytes < 256 * 1024) paced.send(msg); // always something to send
      clock.advance(5);
      drainedTotal += inner.drainMs(5);
      if (t === 10_000) at10s = drainedTotal;
    }
    expect(rates.length).toBeGreaterThan(10);
    expect(paced.currentRate / cap).toBeGreaterThan(0.6);
    expect(paced.currentRate / cap).toBeLessThan(1.2);
    // the link below is kept busy, and its buffer short
    expect((drainedTotal - at10s) / 10 / cap).toBeGreaterThan(0.8);
    expect(inner.buffered / cap).toBeLessThan(0.1); // < 100 ms of it
    paced.detach();
  });
});
