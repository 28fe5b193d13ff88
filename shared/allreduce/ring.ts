/**
 * Pipelined ring all-reduce over two Links (to the previous and the next rank).
 *
 * Reduce-scatter: in round r rank i sends segment (i−r) to i+1 and adds what it receives
 * from i−1 into segment (i−r−1); after N−1 rounds it holds the full sum of segment (i+1).
 * All-gather then circulates the finished segments for N−1 rounds. Every chunk is forwarded
 * as soon as it arrives, so rounds overlap. Each segment's sum is computed once, in ring
 * order, and copied to everyone else: every rank ends with bit-identical sums.
 *
 * Hot loop without per-chunk buffers: a received frame is summed and re-encoded in place
 * and forwarded as is (only its phase and round change); the first round's frames are
 * encoded at send time into one pooled buffer (Link.send copies). Backpressure: sending
 * pauses while the next link buffers more than `highWaterBytes`, until it drains to
 * `lowWaterBytes` (the data channel's bufferedAmountLowThreshold).
 *
 * Encodings (frames, never sums): fp32 is exact; fp16 and int8 are lossy, with error
 * feedback per worker. An exact chunk whose +0.0 values make it smaller travels masked
 * (zeroMask.ts: lossless; a masked frame is summed into a fresh one, not in place).
 * All-gathered segments travel as the owner's encoded bytes, and the
 * owner keeps the decoded values too, so replicas stay bit-identical with any encoding.
 *
 * What arrives from the previous rank passes a FrameInbox first (frameInbox.ts): only the
 * running step's frames reach the schedule here; later steps' wait there.
 */
import { CODEC_ID, decodeInto, ErrorFeedback, type CodecName } from '../codec.ts';
import { encodeChunk, encodeExactChunk, reduceChunk, reduceMaskedChunk } from './chunkCodec.ts';
import { decodeMasked, MASKED_ENCODING, maskedIsSmaller, nonZeroCount } from './zeroMask.ts';
import { FrameError, TabswarmError, type ErrorCode } from '../errors.ts';
import { denseFrameBytes, HEADER_BYTES, MAX_FRAME_BYTES, Phase, retarget, type FrameHeader } from './frame.ts';
import { FrameInbox } from './frameInbox.ts';
import type { InputGate } from './inputGate.ts';
import { RingLayout } from './layout.ts';
import type { Link } from './link.ts';
import { decodeDelayReport, DelayMeter, encodeDelayReport, frameStamp, stampFrame, stampTime } from './delayReport.ts';
import { PacedLink, realClock } from './pacedLink.ts';
import { SendQueue } from './sendQueue.ts';
import type { RingOptions, RingStats } from './ringOptions.ts';

export type { RingOptions, RingStats } from './ringOptions.ts';

interface Run {
  step: number;
  vec: Float32Array;
  layout: RingLayout;
  residual: Float32Array | null;
  seen: Uint8Array;
  maxChunks: number;
  rsLeft: number;
  agLeft: number;
  /** where this rank's contribution is already written (null: all of it) */
  gate: InputGate | null;
  /** own first-round chunks not yet queued (waiting for their input) */
  firstLeft: number[];
  /** reduce-scatter frames waiting for this rank's input at their range */
  parked: { h: FrameHeader; bytes: Uint8Array }[];
  resolve: (s: RingStats) => void;
  reject: (e: Error) => void;
  t0: number;
  stats: RingStats;
}

/** A frame to send: a received one to forward as is, or a first-round chunk to encode at send time. */
type Outgoing = { frame: Uint8Array; seg?: undefined; chunk?: undefined } | { frame: null; seg: number; chunk: number };

export const DEFAULT_HIGH_WATER = 4 * 1024 * 1024;
export const DEFAULT_SCHEDULE: 'fifo' | 'forward-first' = 'forward-first';
const MAX_CHUNK_ELEMS = (MAX_FRAME_BYTES - HEADER_BYTES) / 4;

export class RingAllReduce {
  private run: Run | null = null;
  /** sorts what arrives from the previous rank; holds frames of later steps */
  private readonly inbox: FrameInbox;
  private readonly queue: SendQueue<Outgoing>;
  private pumping = false;
  private destroyed: Error | null = null;
  private unsubs: (() => void)[] = [];
  private readonly codec: CodecName;
  /** exact chunks may travel masked (RingOptions.maskZeros) */
  private readonly maskZeros: boolean;
  private readonly chunkElems: number;
  private readonly feedback: ErrorFeedback;
  private sendBuf: Uint8Array | null = null;
  private sumBuf: Float32Array | null = null;
  /** in front of the next link when sends are paced */
  private readonly pacer: PacedLink | null;
  /** where frames to the next rank go: the pacer, or the next link itself */
  private readonly out: Link | null;
  /** one-way delay of the previous rank's stamped frames, reported back to it (automatic pacing) */
  private readonly meter = new DelayMeter();

  constructor(private readonly o: RingOptions) {
    if (o.size > 1 && (!o.prev || !o.next)) throw new TabswarmError('BAD_REQUEST', 'a ring of more than one rank needs prev and next links');
    this.codec = o.encoding ?? 'fp32';
    this.maskZeros = o.maskZeros !== false;
    if (CODEC_ID[this.codec] === undefined) throw new TabswarmError('BAD_REQUEST', `unknown encoding ${String(o.encoding)}`);
    this.chunkElems = Math.min(Math.max(1, Math.floor(o.chunkElems)), MAX_CHUNK_ELEMS);
    this.feedback = o.errorFeedback ?? new ErrorFeedback();
    this.queue = new SendQueue((o.schedule ?? DEFAULT_SCHEDULE) === 'forward-first');
    const pace = o.paceBytesPerSec;
    if (pace !== undefined && !(pace > 0)) throw new TabswarmError('BAD_REQUEST', `paceBytesPerSec must be > 0, got ${pace}`);
    // the bucket holds at least one frame, and what 8 ms of sending needs (browser timers fire every 4 ms or later)
    this.pacer =
      o.next && pace
        ? new PacedLink(o.next, () => pace, Math.max(64 * 1024, this.chunkElems * 4 + HEADER_BYTES, pace * 0.008))
        : o.next && o.autoPace
          ? new PacedLink(o.next, () => 0, Math.max(64 * 1024, this.chunkElems * 4 + HEADER_BYTES), realClock, { auto: {}, onHandOff: stampFrame })
          : null;
    this.out = this.pacer ?? o.next;
    this.inbox = new FrameInbox({
      jobTag: o.jobTag, epoch: o.epoch, firstStep: o.firstStep, maxEarlyBytes: o.maxEarlyBytes, onFutureEpochFrame: o.onFutureEpochFrame,
      reject: (code, message, fatal) => this.reject(code, message, fatal),
    });
    if (o.prev) {
      this.unsubs.push(o.prev.onMessage((d) => this.onPrevMessage(d)));
      this.unsubs.push(o.prev.onClose((e) => this.fail(new TabswarmError('LINK_CLOSED', `link from previous rank ${o.prev!.remoteId} closed`, { cause: e, peer: o.prev!.remoteId }))));
    }
    for (const f of o.carriedFrames ?? []) this.onFrame(f);
    if (o.next && o.next !== o.prev) {
      // the next rank reports the delay of what this rank sends it
      this.unsubs.push(o.next.onMessage((d) => this.onReport(d)));
      this.unsubs.push(o.next.onClose((e) => this.fail(new TabswarmError('LINK_CLOSED', `link to next rank ${o.next!.remoteId} closed`, { cause: e, peer: o.next!.remoteId }))));
    }
  }

  /**
   * Sums `vec` in place across the ring for `step`. With `input`, the ring starts before `vec`
   * is complete: it sends and sums a chunk only once `input` marks its range ready (see
   * InputGate); the result is the same.
   */
  allReduce(step: number, vec: Float32Array, opts: { signal?: AbortSignal; timeoutMs?: number; input?: InputGate } = {}): Promise<RingStats> {
    if (this.destroyed) return Promise.reject(this.destroyed);
    if (this.run) return Promise.reject(new TabswarmError('BAD_REQUEST', `step ${this.run.step} is still running`));
    if (step <= this.inbox.lastStep) return Promise.reject(new TabswarmError('BAD_REQUEST', `step ${step} is not after ${this.inbox.lastStep}`));
    const t0 = performance.now();
    for (const l of [this.o.prev, this.o.next]) {
      if (l?.closed) return Promise.reject(new TabswarmError('LINK_CLOSED', `link to ${l.remoteId} is closed`, { peer: l.remoteId }));
    }
    if (opts.input && opts.input.length !== vec.length) return Promise.reject(new TabswarmError('BAD_REQUEST', `input gate covers ${opts.input.length} values, the vector has ${vec.length}`));
    if (this.o.size === 1) {
      this.inbox.passed(step);
      const stats = { ms: 0, bytesSent: 0, bytesDense: 0, framesSent: 0, bytesReceived: 0, stallMs: 0 };
      // a ring of one: the sum is the input, once it is all there
      return !opts.input || opts.input.complete ? Promise.resolve(stats) : opts.input.whenComplete(opts.signal).then(() => ({ ...stats, ms: performance.now() - t0 }));
    }
    const n = this.o.size;
    const layout = new RingLayout(vec.length, n, this.chunkElems, this.codec === 'fp32' ? 0 : (this.o.exactTail ?? 0));
    let maxChunks = 1;
    for (let s = 0; s < n; s++) maxChunks = Math.max(maxChunks, layout.chunks(s));
    if ((this.sumBuf?.length ?? 0) < layout.maxChunkElems) this.sumBuf = new Float32Array(layout.maxChunkElems);
    const timeoutMs = opts.timeoutMs ?? 120_000;
    return new Promise<RingStats>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new TabswarmError('TIMEOUT', `all-reduce of step ${step} (epoch ${this.o.epoch}, rank ${this.o.rank}) timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => this.fail(new TabswarmError('ABORTED', `all-reduce of step ${step} aborted`, { cause: opts.signal?.reason }));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const gate = opts.input && !opts.input.complete ? opts.input : null;
      const unGate = gate?.onReady(() => this.onInputReady()) ?? (() => {});
      const cleanup = () => {
        clearTimeout(timer);
        unGate();
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.run = {
        step, vec, layout, t0, maxChunks,
        residual: this.codec === 'fp32' ? null : this.feedback.residual(vec.length),
        seen: new Uint8Array(2 * (n - 1) * maxChunks),
        stats: { ms: 0, bytesSent: 0, bytesDense: 0, framesSent: 0, bytesReceived: 0, stallMs: 0 },
        rsLeft: layout.expectedFrames(this.o.rank, 'rs'),
        agLeft: layout.expectedFrames(this.o.rank, 'ag'),
        gate,
        firstLeft: [],
        parked: [],
        resolve: (s) => { cleanup(); resolve(s); },
        reject: (e) => { cleanup(); reject(e); },
      };
      if (opts.signal?.aborted) return onAbort();
      const seg = layout.rsSendSeg(this.o.rank, 0);
      for (let c = 0; c < layout.chunks(seg); c++) this.run.firstLeft.push(c);
      this.queueReadyFirst(this.run);
      void this.pump();
      for (const f of this.inbox.take(step)) this.onFrame(f);
      this.maybeFinish();
    });
  }

  /** Queues this rank's first-round chunks whose input is ready. */
  private queueReadyFirst(run: Run) {
    const seg = run.layout.rsSendSeg(this.o.rank, 0);
    const waiting: number[] = [];
    for (const c of run.firstLeft) {
      const [off, len] = run.layout.chunk(seg, c);
      if (run.gate && !run.gate.isReady(off, len)) waiting.push(c);
      else this.queue.push({ frame: null, seg, chunk: c }, false);
    }
    run.firstLeft = waiting;
  }

  /** More input is ready: queue the first-round chunks and sum the parked frames it unblocks. */
  private onInputReady() {
    const run = this.run;
    if (!run || !run.gate) return;
    this.queueReadyFirst(run);
    const parked = run.parked;
    run.parked = [];
    for (const p of parked) {
      if (this.run !== run) return;
      this.accept(run, p.h, p.bytes);
    }
    if (this.run === run) {
      if (run.gate.complete) run.gate = null;
      void this.pump();
    }
  }

  private codecOf(run: Run, seg: number, chunk: number): CodecName {
    return this.codec !== 'fp32' && run.layout.exact(seg, chunk) ? 'fp32' : this.codec;
  }

  /** A first-round chunk of this rank's own segment, encoded into the pooled send buffer. */
  private encodeFirst(run: Run, seg: number, chunk: number): Uint8Array {
    const [off, len] = run.layout.chunk(seg, chunk);
    const codec = this.codecOf(run, seg, chunk);
    this.sendBuf ??= new Uint8Array(MAX_FRAME_BYTES);
    const header = { phase: Phase.ReduceScatter, jobTag: this.o.jobTag, epoch: this.o.epoch, step: run.step, round: 0, segment: seg, chunk, encoding: CODEC_ID[codec], count: len };
    if (codec === 'fp32') return encodeExactChunk(this.sendBuf, header, run.vec.subarray(off, off + len), { mask: this.maskZeros });
    return encodeChunk(this.sendBuf, header, codec, run.vec.subarray(off, off + len), run.residual!.subarray(off, off + len));
  }

  private async pump() {
    if (this.pumping) return;
    this.pumping = true;
    const next = this.out!;
    const high = this.o.highWaterBytes ?? DEFAULT_HIGH_WATER;
    const low = Math.min(high, this.o.lowWaterBytes ?? high / 2);
    try {
      while (this.queue.size > 0 && !this.destroyed) {
        if (next.bufferedAmount > high) {
          const t = performance.now();
          await next.drained(low);
          if (this.run) this.run.stats.stallMs += performance.now() - t;
          continue;
        }
        const run = this.run;
        const item = this.queue.shift()!;
        if (!run) continue;
        const f = item.frame ?? this.encodeFirst(run, item.seg, item.chunk);
        next.send(f);
        run.stats.bytesSent += f.byteLength;
        run.stats.bytesDense += denseFrameBytes(f);
        run.stats.framesSent++;
      }
    } catch (e) {
      this.fail(e instanceof Error ? e : new TabswarmError('LINK_FAILED', String(e)));
    } finally {
      this.pumping = false;
    }
    this.maybeFinish();
  }

  private reject(code: ErrorCode, message: string, fatal: boolean) {
    this.o.onRejectedFrame?.(code, message);
    if (fatal) this.fail(new FrameError(code, message, this.o.prev?.remoteId));
  }

  /** A message from the previous rank: a delay report, or a frame. A frame its pacer stamped is timed, and the delay reported back. */
  private onPrevMessage(bytes: Uint8Array) {
    // a report from the previous rank is about what this rank sends it: only in a ring of two
    // (where it is the next rank too); otherwise a stale one (the ring's order changed), ignored
    if (this.o.prev === this.o.next ? this.onReport(bytes) : decodeDelayReport(bytes) !== null) return;
    const stamp = frameStamp(bytes);
    if (stamp !== null && !this.destroyed) {
      const report = this.meter.arrived(stamp, performance.now());
      if (report && !this.o.prev!.closed) this.o.prev!.send(encodeDelayReport(report));
    }
    this.onFrame(bytes);
  }

  /** A delay report from the next rank (for the automatic pacer); false when `bytes` is not one. */
  private onReport(bytes: Uint8Array): boolean {
    const report = decodeDelayReport(bytes);
    if (!report) return false;
    // the pacer stamps with realClock (performance.now)
    if (!this.destroyed) this.pacer?.reportQueueDelay(report.queueMs, stampTime(report.stamp, performance.now()));
    return true;
  }

  /** A frame from the previous rank: the inbox passes on only the running step's. */
  private onFrame(bytes: Uint8Array) {
    if (this.destroyed) return;
    const h = this.inbox.admit(bytes, this.run?.step ?? null);
    if (h) this.accept(this.run!, h, bytes);
  }

  private accept(run: Run, h: FrameHeader, bytes: Uint8Array) {
    const { layout } = run;
    const n = this.o.size;
    const rs = h.phase === Phase.ReduceScatter;
    const wantSeg = rs ? layout.rsRecvSeg(this.o.rank, h.round) : layout.agRecvSeg(this.o.rank, h.round);
    if (h.round > n - 2 || h.segment !== wantSeg || h.chunk >= layout.chunks(wantSeg)) {
      return this.reject('FRAME_MISROUTED', `phase ${h.phase} round ${h.round} segment ${h.segment} chunk ${h.chunk} not expected at rank ${this.o.rank}`, true);
    }
    const [off, len] = layout.chunk(h.segment, h.chunk);
    if (h.count !== len) return this.reject('FRAME_BAD_LENGTH', `chunk of ${h.count} values, expected ${len}`, true);
    const codec = this.codecOf(run, h.segment, h.chunk);
    const masked = h.encoding === MASKED_ENCODING && codec === 'fp32';
    if (h.encoding !== CODEC_ID[codec] && !masked) return this.reject('FRAME_BAD_ENCODING', `chunk ${h.chunk} of segment ${h.segment} has encoding ${h.encoding}, expected ${codec}`, true);
    if (rs && run.gate && !run.gate.isReady(off, len)) {
      run.parked.push({ h, bytes }); // summed when this rank's own values for the range are in
      return;
    }
    const key = ((h.phase - 1) * (n - 1) + h.round) * run.maxChunks + h.chunk; // the round fixes the segment
    if (run.seen[key]) return this.reject('FRAME_DUPLICATE', `duplicate chunk ${h.chunk} of segment ${h.segment}`, true);
    run.seen[key] = 1;
    run.stats.bytesReceived += bytes.byteLength;
    // sums and decodes happen in the received buffer, which is then forwarded (4-byte aligned)
    const buf = (bytes.byteOffset & 3) === 0 ? bytes : bytes.slice();
    const payload = buf.subarray(HEADER_BYTES);
    const mine = run.vec.subarray(off, off + len);
    if (rs) {
      const last = h.round === n - 2;
      const finite = masked
        ? reduceMaskedChunk(payload, mine, last, this.sumBuf!)
        : reduceChunk(codec, payload, mine, last, this.sumBuf!, codec === 'fp32' ? null : run.residual!.subarray(off, off + len));
      if (!finite) return this.reject('FRAME_NON_FINITE', `non-finite values in segment ${h.segment} chunk ${h.chunk}`, true);
      // a dense exact frame is summed in place; a masked one and the lossy codecs into the scratch buffer
      const sum = codec === 'fp32' && !masked ? new Float32Array(payload.buffer, payload.byteOffset, len) : this.sumBuf!.subarray(0, len);
      const outOfBounds = this.o.checkPartialSum?.(h.round, off, sum);
      if (outOfBounds) return this.reject('FRAME_OUT_OF_BOUNDS', `segment ${h.segment} chunk ${h.chunk}: ${outOfBounds}`, true);
      run.rsLeft--;
      const phase = last ? Phase.AllGather : Phase.ReduceScatter;
      const round = last ? 0 : h.round + 1;
      const nonZero = codec === 'fp32' && this.maskZeros ? nonZeroCount(sum) : len;
      if (masked || maskedIsSmaller(len, nonZero)) {
        // a fresh frame in the smaller form: the sum is not in a masked frame's bytes, and a dense one stays dense
        this.forward(encodeExactChunk(null, { ...h, phase, round }, sum, { mask: this.maskZeros, nonZero }));
      } else {
        retarget(buf, phase, round);
        this.forward(buf);
      }
    } else {
      if (!(masked ? decodeMasked(payload, mine, 'set') : decodeInto(codec, payload, mine, 'set'))) return this.reject('FRAME_NON_FINITE', `non-finite values in segment ${h.segment} chunk ${h.chunk}`, true);
      run.agLeft--;
      if (h.round < n - 2) {
        retarget(buf, Phase.AllGather, h.round + 1);
        this.forward(buf);
      }
    }
    this.maybeFinish();
  }

  private forward(frame: Uint8Array) {
    this.queue.push({ frame }, true);
    void this.pump();
  }

  private maybeFinish() {
    const run = this.run;
    if (!run || run.rsLeft > 0 || run.agLeft > 0 || this.queue.size > 0 || this.pumping || run.firstLeft.length > 0) return;
    // everything this rank sends must have left its pacer (as unpaced, it has reached the data channel)
    if (this.pacer && this.pacer.queuedBytes > 0) {
      void this.pacer.handedOver().then(() => this.maybeFinish());
      return;
    }
    this.run = null;
    this.inbox.finished(run.step);
    run.resolve({ ...run.stats, ms: performance.now() - run.t0 });
  }

  /** Fails the running step (if any); the ring stays usable for a later step. */
  private fail(err: Error) {
    const run = this.run;
    if (!run) return;
    this.run = null;
    this.queue.clear();
    this.inbox.passed(run.step);
    run.reject(err);
  }

  /** Idempotent: fails any running step with `err` and stops listening. */
  destroy(err: Error = new TabswarmError('ABORTED', 'ring destroyed')) {
    if (this.destroyed) return;
    this.fail(err);
    this.destroyed = err;
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.pacer?.detach();
    this.inbox.clear();
  }
}
