/**
 * A Link that hands messages to the one below it no faster than `rate()` bytes per second
 * (a token bucket of `burstBytes`).
 *
 * Why: on a capped uplink with a deep FIFO (a home router), every ring rank sends data to its
 * next rank and, on the same uplink, the SCTP acknowledgements for what its previous rank
 * sends it. Unpaced, SCTP keeps that queue full (~50 ms), the acknowledgements wait behind
 * the data, the previous rank's congestion window stalls, and the ring runs at ~0.85 of what
 * one channel achieves alone. Paced just under the uplink's rate (what SQM shapers do at ~90 %
 * of a line's rate), the queue stays here, in the sender, and the network queue stays empty.
 * Measured with `tabswarm bench allreduce` (capped rows, paced vs not, same run).
 */
import { TabswarmError } from '../errors.ts';
import type { Link } from './link.ts';
import { SendQueue } from './sendQueue.ts';
import { UplinkEstimator, type UplinkEstimatorOptions } from './uplinkEstimator.ts';

/**
 * Automatic pacing (PacedLink's `auto` option): the rate comes from an UplinkEstimator fed
 * every `sampleMs` with the bytes that left (handed to the link below minus what it still
 * buffers), whether bytes wait here or in the link below, and with each of the receiver's
 * DelayReports (given to `reportQueueDelay`; see delayReport.ts); the `rate` the PacedLink was
 * constructed with is then ignored. Until the receiver reports a standing queue the
 * estimator's rate is Infinity: nothing is paced. An operator's `--uplink-mbit` is the
 * override: a fixed rate, no `auto`.
 */
export interface AutoPaceOptions {
  /** ms between samples (default 50) */
  sampleMs?: number;
  estimator?: UplinkEstimatorOptions;
  /** told every new rate (bytes/s), e.g. for logs */
  onRate?: (bytesPerSec: number) => void;
}

export interface PacedLinkOptions {
  /** set the rate from delay measurements instead of `rate()` (default: off) */
  auto?: AutoPaceOptions;
  /** called with each message as it is handed to the link below (the ring stamps its send time there) */
  onHandOff?: (data: Uint8Array, nowMs: number) => void;
}

/**
 * The pace for an uplink of `mbit` Mbit/s: 85 % of it in application bytes. Headers (IP, UDP,
 * DTLS, SCTP: ~9 % at this MTU) and the SCTP acknowledgements of the traffic this host
 * receives (~5 %) share the uplink; 85 % leaves the network queue empty.
 */
export function paceForUplink(mbit: number): number {
  return mbit * 125_000 * PACE_FRACTION;
}
export const PACE_FRACTION = 0.85;

/** what the bucket of an automatic pacer holds, in ms of its rate */
const AUTO_BURST_MS = 40;

export interface PaceClock {
  now(): number;
  after(ms: number, fn: () => void): () => void;
}

export const realClock: PaceClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export class PacedLink implements Link {
  private readonly queue = new SendQueue<Uint8Array>(false);
  private queued = 0;
  private tokens: number;
  private last: number;
  private timer: (() => void) | null = null;
  private waiters: { low: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private emptyWaiters: (() => void)[] = [];
  private readonly unsubClose: () => void;
  private readonly rate: () => number;
  /** the estimator setting the rate (`auto` only) */
  readonly estimator: UplinkEstimator | null = null;
  private handed = 0;
  private sampler: (() => void) | null = null;
  private readonly onHandOff: ((data: Uint8Array, nowMs: number) => void) | null;

  constructor(
    private readonly inner: Link,
    rate: () => number,
    private readonly burstBytes = 64 * 1024,
    private readonly clock: PaceClock = realClock,
    opts: PacedLinkOptions = {},
  ) {
    this.tokens = burstBytes;
    this.last = clock.now();
    this.unsubClose = inner.onClose(() => this.detach());
    this.onHandOff = opts.onHandOff ?? null;
    const auto = opts.auto;
    if (auto) {
      const est = new UplinkEstimator(auto.estimator);
      this.estimator = est;
      this.rate = () => est.rate;
      const every = auto.sampleMs ?? 50;
      const tick = () => {
        const before = est.rate;
        const t = this.clock.now();
        const buffered = this.inner.bufferedAmount;
        est.sample({ t, departedBytes: this.handed - buffered, busy: this.queued > 0 || buffered > 0, backlogBytes: buffered });
        if (est.rate !== before) auto.onRate?.(est.rate);
        this.sampler = this.clock.after(every, tick);
      };
      this.sampler = this.clock.after(every, tick);
    } else this.rate = rate;
  }

  /** The receiver's latest report: the queueing delay of a frame sent (stamped by onHandOff) at `sentAt` ms of this link's clock (auto pacing's signal). */
  reportQueueDelay(ms: number, sentAt: number): void {
    this.estimator?.report(this.clock.now(), ms, sentAt);
  }

  /** the rate now, bytes/s */
  get currentRate(): number {
    return this.rate();
  }

  get remoteId() {
    return this.inner.remoteId;
  }
  get closed() {
    return this.inner.closed;
  }
  get bufferedAmount() {
    return this.queued + this.inner.bufferedAmount;
  }
  /** bytes still waiting here, not yet handed to the link below */
  get queuedBytes() {
    return this.queued;
  }

  send(data: Uint8Array): void {
    if (this.inner.closed) throw new TabswarmError('LINK_CLOSED', `link to ${this.inner.remoteId} is closed`, { peer: this.inner.remoteId });
    if (this.queue.size === 0) {
      this.refill();
      if (this.tokens >= 0) {
        // within the budget: straight through (the link below copies), no copy here
        this.tokens -= data.byteLength;
        this.handOff(data);
        return;
      }
    }
    this.queue.push(data.slice(), false); // the caller may reuse its buffer at once
    this.queued += data.byteLength;
    this.flush();
  }

  private handOff(m: Uint8Array) {
    this.onHandOff?.(m, this.clock.now());
    this.inner.send(m);
    this.handed += m.byteLength;
  }

  private refill() {
    const now = this.clock.now();
    const rate = this.rate();
    if (!Number.isFinite(rate)) {
      // an unbounded rate (automatic pacing before any queue showed): a full bucket, nothing paced
      this.tokens = this.burstBytes;
    } else {
      // automatic pacing: the bucket holds AUTO_BURST_MS of the rate too (a timer that fires late under load must not lose the link's time)
      const burst = this.estimator ? Math.max(this.burstBytes, (rate * AUTO_BURST_MS) / 1000) : this.burstBytes;
      this.tokens = Math.min(burst, this.tokens + ((now - this.last) / 1000) * rate);
    }
    this.last = now;
  }

  private flush() {
    this.refill();
    while (this.queue.size > 0 && this.tokens >= 0) {
      const m = this.queue.shift()!;
      this.queued -= m.byteLength;
      this.tokens -= m.byteLength;
      this.handOff(m);
    }
    this.notify();
    if (this.queue.size > 0 && !this.timer) {
      const wait = Math.max(1, (-this.tokens / this.rate()) * 1000);
      this.timer = this.clock.after(wait, () => {
        this.timer = null;
        this.flush();
      });
    }
  }

  /** Waiters whose share of the queue has left it wait on the link below for the rest. */
  private notify() {
    if (this.queue.size === 0 && this.emptyWaiters.length > 0) {
      const ws = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of ws) w();
    }
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.bufferedAmount <= w.low) w.resolve();
      else if (this.queued <= w.low) this.inner.drained(w.low - this.queued).then(w.resolve, w.reject);
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Resolves once every message sent so far has been handed to the link below. */
  handedOver(): Promise<void> {
    if (this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  drained(lowWater: number): Promise<void> {
    if (this.inner.closed) return Promise.reject(this.closedError());
    if (this.bufferedAmount <= lowWater) return Promise.resolve();
    if (this.queued <= lowWater) return this.inner.drained(lowWater - this.queued);
    return new Promise((resolve, reject) => this.waiters.push({ low: lowWater, resolve, reject }));
  }

  onMessage(cb: (d: Uint8Array) => void) {
    return this.inner.onMessage(cb);
  }
  onClose(cb: (e?: Error) => void) {
    return this.inner.onClose(cb);
  }
  close(err?: Error) {
    this.detach();
    this.inner.close(err);
  }

  /** Stops pacing, forgets the queue and fails drained() waiters (the link below stays open). */
  detach(): void {
    this.timer?.();
    this.timer = null;
    this.sampler?.();
    this.sampler = null;
    this.queue.clear();
    this.queued = 0;
    this.unsubClose();
    for (const w of this.waiters) w.reject(this.closedError());
    this.waiters = [];
    this.notify(); // the queue is gone: nothing is left to hand over
  }

  private closedError() {
    return new TabswarmError('LINK_CLOSED', `link to ${this.inner.remoteId} closed (or its pacer detached)`, { peer: this.inner.remoteId });
  }
}
