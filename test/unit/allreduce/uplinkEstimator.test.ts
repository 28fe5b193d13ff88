import { describe, expect, it } from 'vitest';
import { UplinkEstimator, type UplinkEstimatorOptions } from '../../../shared/allreduce/uplinkEstimator.ts';

/**
 * A capped uplink in a pure simulation: the pacer sends at the estimator's rate (or less when
 * the application has less to send) into the transport's buffer in this host; the transport
 * moves bytes into the network's FIFO (a home router's queue, `routerMs` deep, as SCTP's
 * window lets it fill it) that drains at `capBps`. The estimator sees what a sender sees:
 * bytes departed into the network, what the transport still buffers, and an RTT one sample
 * stale (base RTT + the router queue's delay); with `noRtt`, no RTT at all.
 */
interface Sim {
  capBps: number | ((tMs: number) => number);
  baseRttMs?: number;
  routerMs?: number;
  durationMs: number;
  /** bytes/s the application offers (default: always backlogged) */
  demandBps?: number;
  noRtt?: boolean;
  opts?: UplinkEstimatorOptions;
}

function simulate(s: Sim) {
  const est = new UplinkEstimator(s.opts);
  const cap = typeof s.capBps === 'number' ? () => s.capBps as number : s.capBps;
  const base = s.baseRttMs ?? 20;
  const routerMs = s.routerMs ?? 100;
  const step = 5;
  let local = 0; // bytes in the transport's buffer here
  let net = 0; // bytes in the router's FIFO
  let departed = 0;
  let drained = 0; // bytes through the bottleneck
  let lastRtt = base;
  const trace: { t: number; rate: number; queueMs: number; drained: number }[] = [];
  for (let t = step; t <= s.durationMs; t += step) {
    const c = cap(t);
    local += Math.min(est.rate, s.demandBps ?? Infinity) * (step / 1000);
    const move = Math.min(local, Math.max(0, (c * routerMs) / 1000 - net));
    local -= move;
    net += move;
    departed += move;
    const out = Math.min(net, c * (step / 1000));
    net -= out;
    drained += out;
    if (t % 50 === 0) {
      est.sample({ t, departedBytes: departed, backlogBytes: local, rttMs: s.noRtt ? null : lastRtt });
      lastRtt = base + (net / c) * 1000;
      trace.push({ t, rate: est.rate, queueMs: ((net + local) / c) * 1000, drained });
    }
  }
  /** mean rate, mean and max queueing delay, and throughput over [fromMs, toMs] */
  const over = (fromMs: number, toMs = s.durationMs) => {
    const w = trace.filter((x) => x.t > fromMs && x.t <= toMs);
    const thr = ((w[w.length - 1]!.drained - trace.find((x) => x.t >= fromMs)!.drained) / (toMs - fromMs)) * 1000;
    return {
      rate: w.reduce((a, x) => a + x.rate, 0) / w.length,
      queueMs: w.reduce((a, x) => a + x.queueMs, 0) / w.length,
      maxQueueMs: Math.max(...w.map((x) => x.queueMs)),
      thr,
    };
  };
  return { est, trace, over };
}

const MBIT = 125_000;

describe('UplinkEstimator on a simulated capped uplink', () => {
  for (const mbit of [5, 20, 50, 200]) {
    it(`${mbit} Mbit/s, 20 ms base RTT, from 1 MB/s: near the cap with the queue kept short`, () => {
      const cap = mbit * MBIT;
      const { over } = simulate({ capBps: cap, durationMs: 20_000 });
      const late = over(10_000);
      expect(late.thr / cap).toBeGreaterThan(0.8);
      expect(late.rate / cap).toBeGreaterThan(0.75);
      expect(late.rate / cap).toBeLessThan(1.1);
      expect(late.queueMs).toBeLessThan(25);
      expect(late.maxQueueMs).toBeLessThan(80);
    });
  }

  it('starting 10× above the cap comes down, and what it over-sent drains', () => {
    const cap = 20 * MBIT;
    // the first half window hands 10× the link's rate to the transport: seconds of backlog
    const { over } = simulate({ capBps: cap, durationMs: 15_000, opts: { initialBytesPerSec: 10 * cap } });
    expect(over(1_000, 3_000).rate / cap).toBeLessThan(0.9);
    const late = over(8_000);
    expect(late.rate / cap).toBeLessThan(1.1);
    expect(late.rate / cap).toBeGreaterThan(0.7);
    expect(late.queueMs).toBeLessThan(25);
    expect(late.thr / cap).toBeGreaterThan(0.8);
  });

  it('follows the cap when it changes (50 → 10 → 30 Mbit/s)', () => {
    const capAt = (t: number) => (t < 10_000 ? 50 : t < 20_000 ? 10 : 30) * MBIT;
    const { over } = simulate({ capBps: capAt, durationMs: 30_000 });
    for (const [from, to, mbit] of [[5_000, 10_000, 50], [14_000, 20_000, 10], [25_000, 30_000, 30]] as const) {
      const w = over(from, to);
      expect(w.rate / (mbit * MBIT), `${mbit} Mbit/s`).toBeGreaterThan(0.7);
      expect(w.rate / (mbit * MBIT), `${mbit} Mbit/s`).toBeLessThan(1.15);
      expect(w.queueMs, `${mbit} Mbit/s`).toBeLessThan(30);
    }
  });

  it('an application sending less than the link carries does not inflate the rate without bound', () => {
    const { est } = simulate({ capBps: 100 * MBIT, durationMs: 20_000, demandBps: 1e6 });
    expect(est.rate).toBeLessThanOrEqual(1.6e6);
    expect(est.rate).toBeGreaterThanOrEqual(0.9e6);
  });

  it('without an RTT, the transport buffer in this host is the delay signal (the router queue fills first)', () => {
    const cap = 20 * MBIT;
    const { over } = simulate({ capBps: cap, durationMs: 20_000, noRtt: true });
    const late = over(10_000);
    expect(late.thr / cap).toBeGreaterThan(0.85);
    expect(late.rate / cap).toBeLessThan(1.15);
    // the router's queue is invisible without an RTT: only the buffer here is kept short
    expect(late.queueMs).toBeLessThan(100 + 25);
  });

  it('is deterministic and ignores samples that go back in time', () => {
    const a = simulate({ capBps: 30 * MBIT, durationMs: 5_000 }).trace.map((x) => x.rate);
    const b = simulate({ capBps: 30 * MBIT, durationMs: 5_000 }).trace.map((x) => x.rate);
    expect(a).toEqual(b);
    const e = new UplinkEstimator();
    e.sample({ t: 100, departedBytes: 0, backlogBytes: 0 });
    const r = e.sample({ t: 200, departedBytes: 1e5, backlogBytes: 0 });
    expect(e.sample({ t: 150, departedBytes: 2e5, backlogBytes: 0 })).toBe(r);
  });
});
