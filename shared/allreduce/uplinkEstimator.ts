/**
 * Finds an uplink's rate without being told, from one-way delay: a LEDBAT-style controller
 * (RFC 6817: a target queueing delay, growth in proportion to how far under it the delay is)
 * on a sending rate instead of a window, with GCC's "on overuse, go below what got through".
 * Pure: it is fed samples and answers with a rate; no clock, no timers, no I/O.
 *
 * Why the design: a ring's traffic is bursty (a rank waits for its neighbour's chunks, then
 * forwards them at once), so what a window of traffic shows as "delivered" is often what the
 * application offered, not what the link carries. A controller that caps itself near that
 * figure throttles the ring below the link (the first automatic pacer measured 0.37 of
 * point-to-point where unpaced gave 0.49). So this one never slows down without evidence.
 * States (one transition function: sample):
 * - OPEN at first: no pacing at all (`rate` is Infinity), until the receiver reports a
 *   standing queue: a frame's one-way delay over the minimum by more than `targetMs`;
 * - DRAIN: the rate at which bytes left this host while it had more to send (busy intervals
 *   only: idle gaps do not dilute it; intervals where the transport still buffered, when there
 *   are enough: then the link set the pace) is the capacity; the rate drops under it in
 *   proportion to the queue (`drainMs`), and to almost nothing while the transport's own
 *   backlog keeps the link busy anyway. A report of a frame sent since the drain began that
 *   shows the queue under the target ends it:
 * - PACED at `settle` × the capacity. Only a report of a frame sent while paced can start a
 *   new drain (older frames waited in the queue that the last drain dealt with);
 * - under the target, and only while the sender is busy, the rate grows in proportion to how
 *   far under the target the delay is: `probeGainPerSec` per second after a drain, faster the
 *   longer no queue forms;
 * - app-limited (nothing waits in the pacer): the rate is untested and stays as it is;
 * - no reports (an old peer, reports lost): no evidence, so no cut;
 * - a delay that does not fall in a drain (`drainTimeoutMs`) was no queue: a longer path (a
 *   larger frame's serialisation at a lower rate, a new route); it becomes the floor that
 *   later reports are measured above (and sinks with any report below it).
 *
 * Each sample, taken every ~50 ms by the sender (PacedLink with `auto`), holds the bytes that
 * left this host so far, whether bytes wait (in the pacer or the transport's buffer), what
 * the transport buffers, and the receiver's latest fresh report (delayReport.ts).
 */

export interface UplinkSample {
  /** ms, any monotonic origin */
  t: number;
  /** cumulative bytes that left this host: handed to the transport minus what it still buffers */
  departedBytes: number;
  /** bytes were waiting to be sent at this sample (in the pacer, or in the transport's buffer here) */
  busy: boolean;
  /** bytes the transport still buffers here (more than 0: the link, not the pacer, limits what leaves) */
  backlogBytes: number;
}

export type UplinkState = 'open' | 'drain' | 'paced';

export interface UplinkEstimatorOptions {
  minBytesPerSec?: number;
  maxBytesPerSec?: number;
  /** queueing delay the controller aims under, ms (default 20; LEDBAT's 100 is for bulk transfers that may delay others, WebRTC's GCC reacts at ~12.5; a loaded receiver's timing noise reaches 10–20) */
  targetMs?: number;
  /** paced rate after a queue drained, as a fraction of what got through when it formed (default 0.95) */
  settle?: number;
  /** while draining, the rate is capacity × (1 − queue / drainMs), within [0.5, 0.9] of it (default 500) */
  drainMs?: number;
  /** while draining, nothing more is handed to a transport that holds more than this many ms of the link (default 100) */
  backlogMs?: number;
  /** a drain ends after this long (default 2000; the time the transport's backlog held it back not counted): a delay that has not fallen by then is the path's floor */
  drainTimeoutMs?: number;
  /** growth per second while paced, at zero queueing delay, just after a drain (default 0.05: probing for more); it grows by as much again every second without a queue, to 0.5 */
  probeGainPerSec?: number;
  /** a standing queue is the least delay the reports of this many ms show (default 200: a receiver that stalls for less — its event loop busy summing — delays a burst of frames, not all) */
  standingMs?: number;
  /** window over which what got through is measured, ms (default 500) */
  windowMs?: number;
}

interface Interval {
  t: number;
  ms: number;
  bytes: number;
}

export class UplinkEstimator {
  private st: UplinkState = 'open';
  private r = Infinity;
  private readonly o: Required<UplinkEstimatorOptions>;
  private prev: UplinkSample | null = null;
  /** the window's intervals: all, those the sender was busy through, those the link limited */
  private all: Interval[] = [];
  private busy: Interval[] = [];
  private linkBound: Interval[] = [];
  /** when the current state began: only reports of frames sent since then are news about it */
  private since = -Infinity;
  /** what got through when the last queue formed, bytes/s */
  private capacity = 0;
  private _delivered: number | null = null;
  /** reports received (at `t`, this host's clock) */
  private reports: { t: number; ms: number; sentAt: number }[] = [];
  /** a delay that did not drain while the rate was under capacity: the path's, not a queue (ms) */
  private floorMs = 0;
  /** in a drain: since when it has not held back for the transport's backlog; the least delay of a frame sent in it */
  private drainClock = 0;
  private drainLow = Infinity;

  constructor(opts: UplinkEstimatorOptions = {}) {
    this.o = {
      minBytesPerSec: 50_000, maxBytesPerSec: 1e9, targetMs: 20, settle: 0.95, drainMs: 500, backlogMs: 100, drainTimeoutMs: 2000,
      probeGainPerSec: 0.05, standingMs: 200, windowMs: 500, ...opts,
    };
  }

  /** the sending rate now, bytes/s; Infinity while open (nothing paced yet) */
  get rate(): number {
    return this.r;
  }
  get state(): UplinkState {
    return this.st;
  }
  /** what got through in the last window's busy intervals, bytes/s (null until measured) */
  get deliveredBytesPerSec(): number | null {
    return this._delivered;
  }

  /** The receiver's report, received at `t`: the queueing delay (ms) of a frame this host sent at `sentAt` (all three in this host's clock). */
  report(t: number, ms: number, sentAt: number): void {
    this.reports.push({ t, ms, sentAt });
    while (this.reports.length > 0 && this.reports[0]!.t <= t - this.o.standingMs) this.reports.shift();
  }

  /** The standing queue: the least delay of the last `standingMs` of reports (two at least), sent no earlier than the earliest of them. */
  private standing(t: number): { ms: number; sentAt: number } | null {
    const rs = this.reports.filter((r) => r.t > t - this.o.standingMs && r.t <= t);
    if (rs.length < 2) return null;
    return { ms: Math.min(...rs.map((r) => r.ms)), sentAt: Math.min(...rs.map((r) => r.sentAt)) };
  }

  /** Feeds one sample; returns the new rate (bytes/s, Infinity while open). */
  sample(s: UplinkSample): number {
    const p = this.prev;
    if (p && s.t <= p.t) return this.r;
    this.prev = s;
    if (!p) return this.r;
    const ms = s.t - p.t;
    const iv: Interval = { t: s.t, ms, bytes: Math.max(0, s.departedBytes - p.departedBytes) };
    this.all.push(iv);
    if (p.busy && s.busy) this.busy.push(iv);
    if (p.backlogBytes > 0 && s.backlogBytes > 0) this.linkBound.push(iv);
    for (const l of [this.all, this.busy, this.linkBound]) while (l.length > 0 && l[0]!.t <= s.t - this.o.windowMs) l.shift();
    const got = (this._delivered = this.measure());

    const q = this.standing(s.t);
    // a report is news about the current state only if its frame was sent in it
    const news = q !== null && q.sentAt >= this.since;
    if (q && q.ms < this.floorMs) this.floorMs = q.ms;
    const over = q !== null && q.ms - this.floorMs > this.o.targetMs;
    switch (this.st) {
      case 'open':
        if (over && got !== null) this.drain(s.t, got, q.ms);
        break;
      case 'drain': {
        if (news) this.drainLow = Math.min(this.drainLow, q.ms);
        if (news && !over) this.enter('paced', s.t, this.capacity * this.o.settle);
        else if (s.t - this.drainClock >= this.o.drainTimeoutMs) {
          // the delay did not fall though the rate is under what got through: not a queue but a
          // longer path (a larger frame's serialisation at a lower rate, a new route); it is the
          // floor from now on
          if (this.drainLow < Infinity) this.floorMs = Math.max(this.floorMs, this.drainLow);
          this.enter('paced', s.t, this.capacity * this.o.settle);
        } else {
          // the transport's backlog drains at the link's rate: a better capacity than the onset's
          // (a transport that had been idle starts slowly, and not every interval was busy)
          const link = this.rateOf(this.linkBound, 0.8);
          if (link !== null) this.capacity = link;
          // a deeper queue than the drain began with (its frames waited behind a backlog): drain faster
          if (over) this.r = this.clamp(Math.min(this.r, this.drainRate(q.ms - this.floorMs)));
          // while the transport holds more than `backlogMs` of the link, what it holds keeps the
          // link busy: hand it (almost) nothing until then
          if (s.backlogBytes > (this.capacity * this.o.backlogMs) / 1000) {
            this.r = this.o.minBytesPerSec;
            this.drainClock = s.t;
          } else if (this.r === this.o.minBytesPerSec) this.r = this.clamp(this.drainRate(q ? q.ms - this.floorMs : 0));
        }
        break;
      }
      case 'paced':
        // the rate the queue formed at is the capacity: a false alarm (a receiver's stall that
        // outlasted standingMs) then costs a short drain and 1 − settle, and a real overshoot
        // shrinks the rate by settle per drain until no queue forms
        if (over && news) this.drain(s.t, this.r, q.ms - this.floorMs);
        else if (!over && s.busy && p.busy) {
          const off = q === null ? 1 : (this.o.targetMs - Math.max(0, q.ms - this.floorMs)) / this.o.targetMs;
          // probing speeds up the longer no queue has formed (a link that got faster, a floor that moved)
          const gain = Math.min(0.5, this.o.probeGainPerSec * (1 + (s.t - this.since) / 1000));
          this.r = this.clamp(this.r * (1 + (gain * off * Math.min(ms, 1000)) / 1000));
        }
        break;
    }
    return this.r;
  }

  /** A standing queue: what got through is the capacity; send under it until the queue is gone. */
  private drain(t: number, capacity: number, queueMs: number) {
    this.capacity = capacity;
    this.enter('drain', t, this.drainRate(queueMs));
    this.drainClock = t;
    this.drainLow = Infinity;
  }

  private drainRate(queueMs: number): number {
    return this.capacity * Math.min(0.9, Math.max(0.5, 1 - queueMs / this.o.drainMs));
  }

  private enter(st: UplinkState, t: number, rate: number) {
    this.st = st;
    this.since = t;
    this.r = this.clamp(rate);
  }

  /** Bytes that left per second: in the window's link-bound intervals, else its busy ones, else all of it. */
  private measure(): number | null {
    return this.rateOf(this.linkBound) ?? this.rateOf(this.busy) ?? this.rateOf(this.all, 0);
  }

  /** bytes/s over `ivs`, null when they cover less than `minShare` of the window */
  private rateOf(ivs: Interval[], minShare = 0.2): number | null {
    const ms = ivs.reduce((a, x) => a + x.ms, 0);
    return ms > 0 && ms >= this.o.windowMs * minShare ? (ivs.reduce((a, x) => a + x.bytes, 0) / ms) * 1000 : null;
  }

  private clamp(x: number): number {
    return Math.min(this.o.maxBytesPerSec, Math.max(this.o.minBytesPerSec, x));
  }
}
