/**
 * One-way delay, for automatic pacing (uplinkEstimator.ts). The sender's pacer stamps each
 * ring frame as it hands it to the data channel (header flag bit 0, and the send time in the
 * header's reserved u16 in quarter milliseconds, modulo 2^16); the receiver takes the arrival
 * time minus the stamp. The two clocks' offset is unknown but constant, so that difference
 * minus its minimum (the base: the delay of a frame that waited in no queue) is the time the
 * frame spent queued: in the sender's transport buffer and in the network (a router's FIFO).
 * The receiver reports it back to the sender in a DelayReport every REPORT_EVERY_MS, with the
 * stamp of the frame it timed: the sender knows when that frame left (what the report is news
 * about), in its own clock.
 *
 * DelayReport (8 bytes, little-endian): 0 u16 magic 'TD'  2 u8 version  3 u8 reserved
 *   4 u16 queueing delay, quarter ms (saturating)  6 u16 the timed frame's stamp.
 * Stamping changes no frame's payload or address: exactness and order are those of the frames.
 */

const FLAGS = 25;
const STAMP = 26;
const STAMPED = 1;
export const REPORT_MAGIC = 0x4454;
const REPORT_VERSION = 1;
export const REPORT_BYTES = 8;
/** the receiver sends at most one report per this many ms */
export const REPORT_EVERY_MS = 25;
/** how long each bucket of the base (minimum) delay lasts, and how many are kept */
const BASE_BUCKET_MS = 2_000;
const BASE_BUCKETS = 10;

const quarterMs = (ms: number) => Math.floor(ms * 4) & 0xffff;

/** Marks a frame (in place) as handed to the transport at `nowMs`. */
export function stampFrame(bytes: Uint8Array, nowMs: number): void {
  const q = quarterMs(nowMs);
  bytes[FLAGS] = (bytes[FLAGS]! | STAMPED) & 0xff;
  bytes[STAMP] = q & 0xff;
  bytes[STAMP + 1] = q >>> 8;
}

/** Removes a stamp (a frame forwarded without a pacer must not carry its sender's old one). */
export function clearStamp(bytes: Uint8Array): void {
  bytes[FLAGS] = 0;
  bytes[STAMP] = 0;
  bytes[STAMP + 1] = 0;
}

/** The stamp of a frame (quarter ms, mod 2^16), or null when it has none. */
export function frameStamp(bytes: Uint8Array): number | null {
  if (bytes.byteLength < STAMP + 2 || (bytes[FLAGS]! & STAMPED) === 0) return null;
  return bytes[STAMP]! | (bytes[STAMP + 1]! << 8);
}

/** When (in the stamping clock, whose now is `nowMs`) a frame stamped `stamp` was sent: at most 16 s ago. */
export function stampTime(stamp: number, nowMs: number): number {
  return nowMs - ((quarterMs(nowMs) - stamp) & 0xffff) / 4;
}

export interface DelayReport {
  /** the frame's queueing delay, ms */
  queueMs: number;
  /** the frame's stamp (quarter ms of its sender's clock, mod 2^16) */
  stamp: number;
}

export function encodeDelayReport(r: DelayReport): Uint8Array {
  const b = new Uint8Array(REPORT_BYTES);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, REPORT_MAGIC, true);
  dv.setUint8(2, REPORT_VERSION);
  dv.setUint16(4, Math.min(0xffff, Math.max(0, Math.round(r.queueMs * 4))), true);
  dv.setUint16(6, r.stamp & 0xffff, true);
  return b;
}

/** The DelayReport `bytes` holds, or null when it is not one. */
export function decodeDelayReport(bytes: Uint8Array): DelayReport | null {
  if (bytes.byteLength !== REPORT_BYTES) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, REPORT_BYTES);
  if (dv.getUint16(0, true) !== REPORT_MAGIC || dv.getUint8(2) !== REPORT_VERSION) return null;
  return { queueMs: dv.getUint16(4, true) / 4, stamp: dv.getUint16(6, true) };
}

/**
 * The receiver's side: fed each stamped frame's stamp and arrival time, answers when a report
 * is due with the queueing delay to report: the smallest delay of the frames since the last
 * report (a burst's later frames wait behind its first ones: that is not a standing queue)
 * above the base, the minimum over the last BASE_BUCKETS × BASE_BUCKET_MS. Pure.
 */
export class DelayMeter {
  /** the first difference seen: later ones are taken relative to it, unwrapped */
  private ref: number | null = null;
  private buckets: { start: number; min: number }[] = [];
  private sinceReport: { rel: number; stamp: number } | null = null;
  private lastReport = -Infinity;

  /** A stamped frame arrived at `nowMs`; returns the report to send when one is due, else null. */
  arrived(stamp: number, nowMs: number): DelayReport | null {
    const diff = (quarterMs(nowMs) - stamp) & 0xffff;
    this.ref ??= diff;
    // relative to the first, in (−2^15, 2^15] quarter ms: a delay that varies by less than ±8 s
    const rel = (((diff - this.ref + 0x8000) & 0xffff) - 0x8000) / 4;
    let b = this.buckets[this.buckets.length - 1];
    if (!b || nowMs - b.start >= BASE_BUCKET_MS) {
      b = { start: nowMs, min: rel };
      this.buckets.push(b);
      if (this.buckets.length > BASE_BUCKETS) this.buckets.shift();
    } else b.min = Math.min(b.min, rel);
    if (!this.sinceReport || rel <= this.sinceReport.rel) this.sinceReport = { rel, stamp };
    if (nowMs - this.lastReport < REPORT_EVERY_MS) return null;
    const base = Math.min(...this.buckets.map((x) => x.min));
    const report = { queueMs: this.sinceReport.rel - base, stamp: this.sinceReport.stamp };
    this.sinceReport = null;
    this.lastReport = nowMs;
    return report;
  }
}
