/**
 * Finds an uplink's rate without being told, from delay: a LEDBAT-style controller (RFC 6817)
 * on a sending rate instead of a window, with GCC's "decrease to below what got through".
 * Pure: it is fed samples and answers with a rate; no clock, no timers, no I/O.
 *
 * Each sample, taken every ~50 ms by whoever sends (PacedLink with `auto`), holds:
 * - `departedBytes`: bytes that left this host so far (handed to the transport minus what it
 *   still buffers): their growth over a window is the delivery rate;
 * - `rttMs` (optional): the transport's smoothed round-trip time (SCTP's, or the selected ICE
 *   pair's). Its excess over the minimum seen recently (the base RTT) is the queueing delay
 *   on the path: the network queue the pacer exists to keep empty;
 * - `backlogBytes`: what the transport still buffers here; divided by the delivery rate it is
 *   the queueing delay inside this host (used when there is no RTT, and alongside it).
 *
 * Control, once per sample:
 * - queueing delay over `targetMs`: overuse. The rate drops to `decrease` × the delivery
 *   rate (what the path demonstrably carries), at most once per `holdMs`; further (down to
 *   a quarter) when the queue is many times the target, so that it drains;
 * - under the target: the rate grows in proportion to how far under it is (LEDBAT's
 *   off-target gain): up to `gainPerSec` × rate per second when the queue is empty, so a
 *   start far below the link converges in a few seconds and one near it creeps;
 * - app-limited (less is being sent than the rate allows): no growth beyond `appLimitedCap` ×
 *   the delivery rate, so an idle ring does not "discover" an unbounded rate.
 * The rate stays within [minBytesPerSec, maxBytesPerSec].
 */

export interface UplinkSample {
  /** ms, any monotonic origin */
  t: number;
  /** cumulative bytes that have left this host */
  departedBytes: number;
  /** bytes the transport still buffers here */
  backlogBytes: number;
  /** the transport's smoothed RTT, if known */
  rttMs?: number | null;
}

export interface UplinkEstimatorOptions {
  /** starting rate, bytes/s (default 1 MB/s) */
  initialBytesPerSec?: number;
  minBytesPerSec?: number;
  maxBytesPerSec?: number;
  /** queueing delay the controller aims under, ms (default 20: LEDBAT's is 100 for bulk, WebRTC's GCC reacts at ~12.5) */
  targetMs?: number;
  /** multiplicative growth per second at zero queueing delay (default 1: doubling-ish per second) */
  gainPerSec?: number;
  /** on overuse the rate drops to this fraction of the delivery rate (default 0.85) */
  decrease?: number;
  /** ms between two decreases (default 300: the delay of the first must show first) */
  holdMs?: number;
  /** window over which the delivery rate is measured, ms (default 500) */
  windowMs?: number;
  /** ms the base RTT is the minimum over (default 10 000) */
  baseWindowMs?: number;
  /** growth stops at this multiple of the delivery rate while app-limited (default 1.5) */
  appLimitedCap?: number;
}

export class UplinkEstimator {
  private r: number;
  private readonly o: Required<UplinkEstimatorOptions>;
  private samples: (UplinkSample & { pathQueue: number })[] = [];
  private rtts: { t: number; rtt: number }[] = [];
  private lastDecrease = -Infinity;
  private _queueMs = 0;
  private _deliveryBps: number | null = null;

  constructor(opts: UplinkEstimatorOptions = {}) {
    this.o = {
      initialBytesPerSec: 1e6, minBytesPerSec: 50_000, maxBytesPerSec: 1e9, targetMs: 20, gainPerSec: 1, decrease: 0.85,
      holdMs: 300, windowMs: 500, baseWindowMs: 10_000, appLimitedCap: 1.5, ...opts,
    };
    this.r = this.clamp(this.o.initialBytesPerSec);
  }

  /** the current sending rate, bytes/s */
  get rate(): number {
    return this.r;
  }
  /** the last queueing-delay estimate, ms */
  get queueMs(): number {
    return this._queueMs;
  }
  /** the last delivery-rate measurement, bytes/s (null until a window has passed) */
  get deliveryBytesPerSec(): number | null {
    return this._deliveryBps;
  }

  /** Feeds one sample; returns the new rate (bytes/s). */
  sample(s: UplinkSample): number {
    const prev = this.samples[this.samples.length - 1];
    if (prev && s.t <= prev.t) return this.r;

    let pathQueue = 0;
    if (typeof s.rttMs === 'number' && Number.isFinite(s.rttMs) && s.rttMs >= 0) {
      this.rtts.push({ t: s.t, rtt: s.rttMs });
      while (this.rtts.length > 1 && this.rtts[0]!.t < s.t - this.o.baseWindowMs) this.rtts.shift();
      pathQueue = s.rttMs - Math.min(...this.rtts.map((x) => x.rtt));
    }
    this.samples.push({ ...s, pathQueue });
    // keep one sample at or before the window's start
    while (this.samples.length > 2 && this.samples[1]!.t <= s.t - this.o.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const span = s.t - first.t;
    // what departed in the window went through the bottleneck in the window plus however much
    // longer the path's queue got meanwhile (the rest of it waits there)
    if (span >= this.o.windowMs * 0.5) this._deliveryBps = ((s.departedBytes - first.departedBytes) / (span + Math.max(0, pathQueue - first.pathQueue))) * 1000;
    const delivery = this._deliveryBps;
    const localQueue = delivery !== null && delivery > 0 ? (s.backlogBytes / delivery) * 1000 : 0;
    const queue = Math.max(pathQueue, localQueue);
    this._queueMs = queue;

    const dt = prev ? Math.min(s.t - prev.t, 1000) / 1000 : 0;
    if (queue > this.o.targetMs) {
      if (delivery !== null && s.t - this.lastDecrease >= this.o.holdMs) {
        // a standing queue far over the target (a start far above the link) must drain too
        const factor = queue <= 4 * this.o.targetMs ? this.o.decrease : Math.max(0.25, (this.o.decrease * 4 * this.o.targetMs) / queue);
        this.r = this.clamp(Math.min(this.r, delivery) * factor);
        this.lastDecrease = s.t;
      }
    } else if (dt > 0) {
      const offTarget = (this.o.targetMs - queue) / this.o.targetMs; // 0..1
      let next = this.r * (1 + this.o.gainPerSec * offTarget * dt);
      // app-limited: what left is well under the rate, so the rate is untested: do not grow past it
      if (delivery !== null && delivery < this.r * 0.9) next = Math.min(next, Math.max(this.r, delivery * this.o.appLimitedCap));
      this.r = this.clamp(next);
    }
    return this.r;
  }

  private clamp(x: number): number {
    return Math.min(this.o.maxBytesPerSec, Math.max(this.o.minBytesPerSec, x));
  }
}
