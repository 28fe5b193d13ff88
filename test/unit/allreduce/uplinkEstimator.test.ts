import { describe, expect, it } from 'vitest';
import { DelayMeter, frameStamp, stampFrame, stampTime } from '../../../shared/allreduce/delayReport.ts';
import { UplinkEstimator } from '../../../shared/allreduce/uplinkEstimator.ts';
import { MBIT, simulate } from './uplinkSim.ts';

describe('UplinkEstimator on a simulated capped uplink (one-way delay reports)', () => {
  for (const mbit of [5, 20, 50, 200]) {
    it(`${mbit} Mbit/s, always something to send: converges near the cap with the queue kept short`, () => {
      const cap = mbit * MBIT;
      const { over, est } = simulate({ capBps: cap, durationMs: 20_000 });
      expect(est.state).not.toBe('open');
      const late = over(10_000);
      expect(late.thr / cap).toBeGreaterThan(0.9);
      expect(late.rate / cap).toBeGreaterThan(0.88);
      expect(late.rate / cap).toBeLessThan(1.08);
      expect(late.queueMs).toBeLessThan(20); // the target
      expect(late.maxQueueMs).toBeLessThan(60);
    });
  }

  it('no standing queue, no pacing: a link the application does not fill stays open (rate unbounded)', () => {
    const cap = 50 * MBIT;
    // ring-like bursts: 150 ms of frames at 0.8 of the cap, 100 ms of nothing
    const { trace, over } = simulate({ capBps: cap, durationMs: 10_000, demandBps: 0.8 * cap, demand: (t) => t % 250 < 150 });
    expect(trace.every((x) => x.state === 'open' && x.rate === Infinity)).toBe(true);
    expect(over(1_000).thr / cap).toBeGreaterThan(0.45); // all it offered (0.8 × 150/250) got through
  });

  it('slows only on a report of a standing queue: a drain starts only on one, and paced never slows', () => {
    const cap = 20 * MBIT;
    // a ring-like sender: 600 ms of sending, 400 ms of waiting for its neighbour
    const { trace } = simulate({ capBps: cap, durationMs: 15_000, demand: (t) => t % 1_000 < 600 });
    let drains = 0;
    for (let i = 1; i < trace.length; i++) {
      const [p, x] = [trace[i - 1]!, trace[i]!];
      if (x.state === 'drain' && p.state !== 'drain') {
        drains++;
        expect(x.report).not.toBeNull();
        expect(x.report!).toBeGreaterThan(20);
      }
      if (x.state === 'paced' && p.state === 'paced') expect(x.rate).toBeGreaterThanOrEqual(p.rate);
      if (x.state === 'open') expect(x.rate).toBe(Infinity);
    }
    expect(drains).toBeGreaterThan(0);
  });

  it('a delay that does not drain (a longer path, not a queue) becomes the floor: no endless drain', () => {
    // 50 → 10 Mbit/s with 64 KiB frames: each frame's serialisation takes 42 ms longer from 10 s on
    const capAt = (t: number) => (t < 10_000 ? 50 : 10) * MBIT;
    const { over, trace } = simulate({ capBps: capAt, durationMs: 25_000, frameBytes: 64 * 1024 });
    const late = trace.filter((x) => x.t > 20_000);
    expect(late.filter((x) => x.state === 'drain').length / late.length).toBeLessThan(0.3);
    expect(over(20_000).thr / (10 * MBIT)).toBeGreaterThan(0.88);
  });

  it('follows the cap when it changes (50 → 10 → 30 Mbit/s)', () => {
    const capAt = (t: number) => (t < 10_000 ? 50 : t < 20_000 ? 10 : 30) * MBIT;
    const { over } = simulate({ capBps: capAt, durationMs: 30_000 });
    for (const [from, to, mbit] of [[5_000, 10_000, 50], [15_000, 20_000, 10], [25_000, 30_000, 30]] as const) {
      const w = over(from, to);
      expect(w.thr / (mbit * MBIT), `${mbit} Mbit/s`).toBeGreaterThan(0.88);
      expect(w.rate / (mbit * MBIT), `${mbit} Mbit/s`).toBeLessThan(1.1);
      expect(w.queueMs, `${mbit} Mbit/s`).toBeLessThan(25);
    }
  });

  it('without reports (an old peer) it never paces: exactly the unpaced sender', () => {
    const { trace } = simulate({ capBps: 20 * MBIT, durationMs: 5_000, noReports: true });
    expect(trace.every((x) => x.rate === Infinity)).toBe(true);
  });

  it('is deterministic and ignores samples that go back in time', () => {
    const a = simulate({ capBps: 30 * MBIT, durationMs: 5_000 }).trace.map((x) => x.rate);
    const b = simulate({ capBps: 30 * MBIT, durationMs: 5_000 }).trace.map((x) => x.rate);
    expect(a).toEqual(b);
    const e = new UplinkEstimator();
    const at = (t: number, bytes: number, ms: number) => {
      e.report(t - 10, ms, t - 50);
      e.report(t, ms, t - 40);
      return e.sample({ t, departedBytes: bytes, busy: true, backlogBytes: 1e5 });
    };
    at(100, 0, 0);
    at(300, 1e5, 0);
    const r = at(500, 2e5, 40);
    expect(r).toBeLessThan(Infinity);
    expect(at(450, 3e5, 80)).toBe(r);
  });
});

describe('DelayMeter', () => {
  it('reports the queueing delay above the minimum, whatever the clocks’ offset, across the stamp’s wrap', () => {
    const m = new DelayMeter();
    const b = new Uint8Array(32);
    const got: number[] = [];
    // sender clock near the 2^16 quarter-ms wrap; receiver 1e6 ms ahead; 5 ms propagation
    const sent: number[] = [];
    for (let i = 0; i < 200; i++) {
      const sentAt = 16_300 + i * 5;
      sent.push(sentAt);
      const queued = i < 100 ? 0 : 30; // a standing 30 ms queue from frame 100
      stampFrame(b, sentAt);
      const r = m.arrived(frameStamp(b)!, sentAt + 1e6 + 5 + queued);
      if (r) {
        got.push(r.queueMs);
        // the report names the timed frame: its sender can tell when it left
        expect(sent).toContain(stampTime(r.stamp, sentAt));
      }
    }
    expect(got.length).toBeGreaterThan(20);
    expect(got.slice(0, 10).every((q) => Math.abs(q) < 0.5)).toBe(true);
    expect(Math.abs(got[got.length - 1]! - 30)).toBeLessThan(0.5);
  });
});
