import { DelayMeter, frameStamp, stampFrame, stampTime } from '../../../shared/allreduce/delayReport.ts';
import { UplinkEstimator, type UplinkEstimatorOptions } from '../../../shared/allreduce/uplinkEstimator.ts';

/**
 * A capped uplink in a pure simulation on a virtual clock (1 ms steps), frame by frame:
 * the application offers frames to the pacer (a token bucket at the estimator's rate); the
 * pacer stamps each as it hands it to the transport's buffer in this host; the transport
 * moves frames into the network's FIFO (a home router's queue, `routerMs` deep, as SCTP's
 * window fills it), which drains at the cap. A frame that leaves the FIFO arrives `baseMs`
 * later (on a receiver clock 12345 ms ahead); a DelayMeter there times it, and its reports
 * reach the sender `baseMs` after they are sent. Every 50 ms the estimator gets a sample.
 */
export interface Sim {
  capBps: number | ((tMs: number) => number);
  /** one-way propagation delay, ms (default 10) */
  baseMs?: number;
  routerMs?: number;
  durationMs: number;
  /** ms → whether the application has frames to offer now (default: always) */
  demand?: (tMs: number) => boolean;
  /** offered bytes/s while it has (default: unbounded) */
  demandBps?: number;
  frameBytes?: number;
  /** the receiver sends no reports (an old peer) */
  noReports?: boolean;
  opts?: UplinkEstimatorOptions;
}

export const MBIT = 125_000;
const HIGH_WATER = 4 * 1024 * 1024;

export function simulate(s: Sim) {
  const est = new UplinkEstimator(s.opts);
  const meter = new DelayMeter();
  const cap = typeof s.capBps === 'number' ? () => s.capBps as number : s.capBps;
  const base = s.baseMs ?? 10;
  // as the bench's paced rings: frames of at most ~12 ms of the link, 16–64 KiB
  const frame = s.frameBytes ?? Math.min(64 * 1024, Math.max(16 * 1024, 2 ** Math.floor(Math.log2((cap(0) * 0.012) / 1024)) * 1024));
  const netCap = (t: number) => (cap(t) * (s.routerMs ?? 50)) / 1000;
  const stamp = new Uint8Array(32);
  let waiting = 0; // bytes in the pacer
  let tokens = 64 * 1024;
  let offered = 0;
  const local: number[] = []; // stamps of frames in the transport's buffer
  const net: { stamp: number; left: number }[] = [];
  let netBytes = 0;
  let departed = 0;
  let through = 0;
  const inFlight: { at: number; stamp: number }[] = []; // frames on the wire to the receiver
  const reports: { at: number; ms: number; stamp: number }[] = []; // reports on the way back
  let report: { at: number; ms: number; stamp: number } | null = null;
  const trace: { t: number; rate: number; state: string; queueMs: number; through: number; report: number | null; delivered: number | null }[] = [];
  for (let t = 1; t <= s.durationMs; t++) {
    const c = cap(t);
    if (s.demand?.(t) ?? true) {
      offered += (s.demandBps ?? Infinity) / 1000;
      // the ring's high water: at most 4 MiB waiting here and in the transport's buffer
      while (waiting + local.length * frame < HIGH_WATER && offered >= frame) {
        waiting += frame;
        offered = Number.isFinite(offered) ? offered - frame : offered;
      }
    }
    // the pacer
    const r = est.rate;
    tokens = Number.isFinite(r) ? Math.min(64 * 1024, tokens + r / 1000) : 64 * 1024;
    while (waiting >= frame && tokens >= 0) {
      waiting -= frame;
      tokens -= frame;
      stampFrame(stamp, t);
      local.push(frameStamp(stamp)!);
    }
    // the transport fills the router's FIFO
    while (local.length > 0 && (netBytes === 0 || netBytes + frame <= netCap(t))) {
      net.push({ stamp: local.shift()!, left: frame });
      netBytes += frame;
      departed += frame;
    }
    // the router drains
    let budget = c / 1000;
    while (net.length > 0 && budget > 0) {
      const h = net[0]!;
      const take = Math.min(budget, h.left);
      h.left -= take;
      budget -= take;
      netBytes -= take;
      through += take;
      if (h.left <= 0) {
        net.shift();
        inFlight.push({ at: t + base, stamp: h.stamp });
      }
    }
    while (inFlight.length > 0 && inFlight[0]!.at <= t) {
      const f = inFlight.shift()!;
      const q = meter.arrived(f.stamp, t + 12_345);
      if (q !== null && !s.noReports) reports.push({ at: t + base, ms: q.queueMs, stamp: q.stamp });
    }
    while (reports.length > 0 && reports[0]!.at <= t) {
      report = reports.shift()!;
      est.report(t, report.ms, stampTime(report.stamp, t));
    }
    if (t % 50 === 0) {
      const fresh = report && t - report.at <= 250 ? report.ms : null;
      est.sample({ t, departedBytes: departed, busy: waiting > 0 || local.length > 0, backlogBytes: local.length * frame });
      // what waits: the transport's buffer and the router's FIFO, less the frame on the wire
      const waitingBytes = netBytes - (net[0]?.left ?? 0) + local.length * frame;
      trace.push({ t, rate: est.rate, state: est.state, queueMs: (waitingBytes / c) * 1000, through, report: fresh, delivered: est.deliveredBytesPerSec });
    }
  }
  /** mean rate, mean and max queueing delay, and throughput over (fromMs, toMs] */
  const over = (fromMs: number, toMs = s.durationMs) => {
    const w = trace.filter((x) => x.t > fromMs && x.t <= toMs);
    const start = trace.find((x) => x.t >= fromMs)!.through;
    return {
      rate: w.reduce((a, x) => a + x.rate, 0) / w.length,
      queueMs: w.reduce((a, x) => a + x.queueMs, 0) / w.length,
      maxQueueMs: Math.max(...w.map((x) => x.queueMs)),
      thr: ((w[w.length - 1]!.through - start) / (toMs - fromMs)) * 1000,
    };
  };
  return { est, trace, over };
}
