/**
 * BENCHMARK BASELINE, not used by the product: the ring all-reduce as it was before tuning
 * (commit 1279d2f, shared/allreduce/ring.ts), kept verbatim but for imports and names so
 * `tabswarm bench tune` can run it side by side with the tuned ring on the same links in
 * the same run. Per chunk it allocates and fills a new frame when it enqueues it, shifts
 * its send queue, and re-encodes forwarded chunks from the vector.
 *
 * Pipelined ring all-reduce over two Links (to the previous and the next rank).
 *
 * Reduce-scatter: in round r rank i sends segment (i−r) to i+1 and adds what it receives
 * from i−1 into segment (i−r−1); after N−1 rounds it holds the full sum of segment (i+1).
 * All-gather then circulates the finished segments for N−1 rounds. Every chunk is forwarded
 * as soon as it arrives, so rounds overlap. Each segment's sum is computed once, in ring
 * order, and copied to everyone else: every rank ends with bit-identical sums.
 */
import { FrameError, TabswarmError, errorCode, type ErrorCode } from '../../../shared/errors.ts';
import { decodeHeader, encodeFrame, framePayload, Phase, type FrameHeader } from '../../../shared/allreduce/frame.ts';
import { RingLayout } from '../../../shared/allreduce/layout.ts';
import type { Link } from '../../../shared/allreduce/link.ts';
import { isSyncPiece } from '../../../shared/stateTransfer.ts';

export interface BaselineRingOptions {
  jobTag: number;
  epoch: number;
  rank: number;
  size: number;
  /** null only when size is 1 */
  prev: Link | null;
  next: Link | null;
  chunkElems: number;
  /** pause sending while the next link buffers more than this many bytes */
  highWaterBytes?: number;
  /** frames of future steps kept before the step starts */
  maxEarlyBytes?: number;
  /** told about every rejected frame (stale ones too) */
  onRejectedFrame?: (code: ErrorCode, message: string) => void;
}

export interface BaselineRingStats {
  ms: number;
  bytesSent: number;
  framesSent: number;
}

interface Run {
  step: number;
  vec: Float32Array;
  layout: RingLayout;
  seen: Set<number>;
  rsLeft: number;
  agLeft: number;
  resolve: (s: BaselineRingStats) => void;
  reject: (e: Error) => void;
  t0: number;
  bytesSent: number;
  framesSent: number;
}

export class BaselineRingAllReduce {
  private run: Run | null = null;
  private early = new Map<number, Uint8Array[]>();
  private earlyBytes = 0;
  private lastStep = -1;
  private queue: Uint8Array[] = [];
  private pumping = false;
  private destroyed: Error | null = null;
  private unsubs: (() => void)[] = [];

  constructor(private readonly o: BaselineRingOptions) {
    if (o.size > 1 && (!o.prev || !o.next)) throw new TabswarmError('BAD_REQUEST', 'a ring of more than one rank needs prev and next links');
    if (o.prev) {
      this.unsubs.push(o.prev.onMessage((d) => this.onFrame(d)));
      this.unsubs.push(o.prev.onClose((e) => this.fail(new TabswarmError('LINK_CLOSED', `link from previous rank ${o.prev!.remoteId} closed`, { cause: e, peer: o.prev!.remoteId }))));
    }
    if (o.next && o.next !== o.prev) {
      this.unsubs.push(o.next.onClose((e) => this.fail(new TabswarmError('LINK_CLOSED', `link to next rank ${o.next!.remoteId} closed`, { cause: e, peer: o.next!.remoteId }))));
    }
  }

  /** Sums `vec` in place across the ring for `step`. */
  allReduce(step: number, vec: Float32Array, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<BaselineRingStats> {
    if (this.destroyed) return Promise.reject(this.destroyed);
    if (this.run) return Promise.reject(new TabswarmError('BAD_REQUEST', `step ${this.run.step} is still running`));
    if (step <= this.lastStep) return Promise.reject(new TabswarmError('BAD_REQUEST', `step ${step} is not after ${this.lastStep}`));
    const t0 = performance.now();
    for (const l of [this.o.prev, this.o.next]) {
      if (l?.closed) return Promise.reject(new TabswarmError('LINK_CLOSED', `link to ${l.remoteId} is closed`, { peer: l.remoteId }));
    }
    if (this.o.size === 1) {
      this.lastStep = step;
      return Promise.resolve({ ms: 0, bytesSent: 0, framesSent: 0 });
    }
    const layout = new RingLayout(vec.length, this.o.size, this.o.chunkElems);
    const timeoutMs = opts.timeoutMs ?? 120_000;
    return new Promise<BaselineRingStats>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new TabswarmError('TIMEOUT', `all-reduce of step ${step} (epoch ${this.o.epoch}, rank ${this.o.rank}) timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => this.fail(new TabswarmError('ABORTED', `all-reduce of step ${step} aborted`, { cause: opts.signal?.reason }));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.run = {
        step, vec, layout, seen: new Set(), t0, bytesSent: 0, framesSent: 0,
        rsLeft: layout.expectedFrames(this.o.rank, 'rs'),
        agLeft: layout.expectedFrames(this.o.rank, 'ag'),
        resolve: (s) => { cleanup(); resolve(s); },
        reject: (e) => { cleanup(); reject(e); },
      };
      if (opts.signal?.aborted) return onAbort();
      const seg = layout.rsSendSeg(this.o.rank, 0);
      for (let c = 0; c < layout.chunks(seg); c++) this.enqueue(Phase.ReduceScatter, 0, seg, c);
      const pending = this.early.get(step) ?? [];
      this.early.delete(step);
      for (const f of pending) {
        this.earlyBytes -= f.byteLength;
        this.onFrame(f);
      }
      this.maybeFinish();
    });
  }

  private enqueue(phase: Phase, round: number, seg: number, c: number) {
    const run = this.run!;
    const [off, len] = run.layout.chunk(seg, c);
    const frame = encodeFrame(
      { phase, jobTag: this.o.jobTag, epoch: this.o.epoch, step: run.step, round, segment: seg, chunk: c },
      run.vec.subarray(off, off + len),
    );
    this.queue.push(frame);
    void this.pump();
  }

  private async pump() {
    if (this.pumping) return;
    this.pumping = true;
    const next = this.o.next!;
    const high = this.o.highWaterBytes ?? 4 * 1024 * 1024;
    try {
      while (this.queue.length > 0 && !this.destroyed) {
        if (next.bufferedAmount > high) await next.drained(high / 2);
        const f = this.queue.shift()!;
        next.send(f);
        if (this.run) {
          this.run.bytesSent += f.byteLength;
          this.run.framesSent++;
        }
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
    if (fatal) this.fail(new FrameError(code, message));
  }

  private onFrame(bytes: Uint8Array) {
    if (this.destroyed) return;
    if (isSyncPiece(bytes)) return; // a state-sync piece on a shared link, not ours
    let h: FrameHeader;
    try {
      h = decodeHeader(bytes);
    } catch (e) {
      return this.reject(errorCode(e), (e as Error).message, this.run !== null);
    }
    if (h.jobTag !== this.o.jobTag) return this.reject('FRAME_WRONG_JOB', `job tag ${h.jobTag}`, this.run !== null);
    if (h.epoch < this.o.epoch) return this.reject('FRAME_STALE', `epoch ${h.epoch} < ${this.o.epoch}`, false);
    if (h.epoch > this.o.epoch) return this.reject('FRAME_MISROUTED', `epoch ${h.epoch} > ${this.o.epoch}`, false);
    const current = this.run?.step ?? this.lastStep;
    if (h.step < current || (!this.run && h.step === this.lastStep)) return this.reject('FRAME_STALE', `step ${h.step} already done`, false);
    if (!this.run || h.step > this.run.step) {
      if (h.step > current + 2 || this.earlyBytes + bytes.byteLength > (this.o.maxEarlyBytes ?? 64 * 1024 * 1024)) {
        return this.reject('FRAME_OVERFLOW', `frame for step ${h.step} arrived too early`, false);
      }
      const list = this.early.get(h.step) ?? [];
      list.push(bytes);
      this.early.set(h.step, list);
      this.earlyBytes += bytes.byteLength;
      return;
    }
    this.accept(this.run, h, bytes);
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
    const key = (h.phase * 65536 + h.round) * 4294967296 + h.chunk; // the round fixes the segment
    if (run.seen.has(key)) return this.reject('FRAME_DUPLICATE', `duplicate chunk ${h.chunk} of segment ${h.segment}`, true);
    run.seen.add(key);
    const vals = framePayload(bytes, h);
    const v = run.vec;
    if (rs) {
      let finite = true;
      for (let i = 0; i < len; i++) {
        const s = vals[i]! + v[off + i]!;
        v[off + i] = s;
        if (s - s !== 0) finite = false;
      }
      if (!finite) return this.reject('FRAME_NON_FINITE', `non-finite values in segment ${h.segment} chunk ${h.chunk}`, true);
      run.rsLeft--;
      if (h.round < n - 2) this.enqueue(Phase.ReduceScatter, h.round + 1, h.segment, h.chunk);
      else this.enqueue(Phase.AllGather, 0, h.segment, h.chunk);
    } else {
      v.set(vals, off);
      run.agLeft--;
      if (h.round < n - 2) this.enqueue(Phase.AllGather, h.round + 1, h.segment, h.chunk);
    }
    this.maybeFinish();
  }

  private maybeFinish() {
    const run = this.run;
    if (!run || run.rsLeft > 0 || run.agLeft > 0 || this.queue.length > 0 || this.pumping) return;
    this.run = null;
    this.lastStep = run.step;
    for (const [s, frames] of [...this.early]) {
      if (s > run.step) continue;
      for (const f of frames) this.earlyBytes -= f.byteLength;
      this.early.delete(s);
    }
    run.resolve({ ms: performance.now() - run.t0, bytesSent: run.bytesSent, framesSent: run.framesSent });
  }

  /** Fails the running step (if any); the ring stays usable for a later step. */
  private fail(err: Error) {
    const run = this.run;
    if (!run) return;
    this.run = null;
    this.queue.length = 0;
    this.lastStep = run.step;
    run.reject(err);
  }

  /** Idempotent: fails any running step with `err` and stops listening. */
  destroy(err: Error = new TabswarmError('ABORTED', 'ring destroyed')) {
    if (this.destroyed) return;
    this.fail(err);
    this.destroyed = err;
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.early.clear();
  }
}
