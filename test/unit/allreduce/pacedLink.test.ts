import { describe, expect, it } from 'vitest';
import type { Link } from '../../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';
import { DelayMeter, frameStamp, stampFrame, stampTime } from '../../../shared/allreduce/delayReport.ts';
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

  /**
   * 20 Mbit/s below the pacer, on the virtual clock: the link's buffer drains at the cap; each
   * message's onHandOff stamp goes into a DelayMeter as the message drains (the receiver), and
   * its reports come back to reportQueueDelay 10 ms later. Always something to send.
   */
  function run(withReports: boolean, ms: number) {
    const clock = manualClock();
    const cap = 20 * 125_000;
    const inner = cappedLink(cap);
    const order: number[] = [];
    const stamps: { bytes: number; sentAt: number }[] = [];
    const meter = new DelayMeter();
    const reports: { at: number; ms: number; stamp: number }[] = [];
    const paced = new PacedLink(inner, () => 1, 64 * 1024, clock, {
      auto: {},
      onHandOff: (d, now) => {
        order.push(d[0]!);
        stampFrame(d, now);
        stamps.push({ bytes: d.byteLength, sentAt: frameStamp(d)! });
      },
    });
    let seq = 0;
    let drained = 0;
    let owed = 0; // bytes of the head message the link has carried
    const rates: number[] = [];
    for (let t = 0; t < ms; t += 5) {
      // the ring's high water: 4 MiB here and in the link below
      while (paced.bufferedAmount < 4 * 1024 * 1024) {
        const m = new Uint8Array(16 * 1024);
        m[0] = seq++ & 0xff;
        paced.send(m);
      }
      clock.advance(5);
      const out = inner.drainMs(5);
      drained += out;
      owed += out;
      while (stamps.length > 0 && owed >= stamps[0]!.bytes) {
        owed -= stamps[0]!.bytes;
        const r = meter.arrived(stamps.shift()!.sentAt, clock.now() + 5 + 777);
        if (r && withReports) reports.push({ at: clock.now() + 10, ms: r.queueMs, stamp: r.stamp });
      }
      while (reports.length > 0 && reports[0]!.at <= clock.now()) {
        const r = reports.shift()!;
        paced.reportQueueDelay(r.ms, stampTime(r.stamp, clock.now()));
      }
      rates.push(paced.currentRate);
    }
    paced.detach();
    return { cap, paced, inner, order, drained, rates };
  }

  it('without delay reports it never paces: every message goes straight to the link, in order', () => {
    const { order, rates } = run(false, 3_000);
    expect(rates.every((r) => r === Infinity)).toBe(true);
    expect(order.every((x, i) => x === (i & 0xff))).toBe(true);
  });

  it('with the receiver’s delay reports it finds a 20 Mbit/s uplink, keeps its buffer short, and keeps the order', () => {
    const { cap, inner, paced, order, rates } = run(true, 20_000);
    expect(paced.estimator!.state).not.toBe('open');
    const late = rates.slice(rates.length / 2);
    expect(late.reduce((a, r) => a + r, 0) / late.length / cap).toBeGreaterThan(0.85);
    expect(late.reduce((a, r) => a + r, 0) / late.length / cap).toBeLessThan(1.1);
    expect(inner.buffered / cap).toBeLessThan(0.05); // < 50 ms of it
    expect(order.every((x, i) => x === (i & 0xff))).toBe(true);
  });
});
