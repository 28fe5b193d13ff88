/**
 * Runs a latency-optimal schedule (schedule.ts: 'halving-doubling', 'all-to-all', or the
 * ring-neighbour-only 'arc-tree' and 'arc-gather') over Links to the ranks it needs
 * (`peersNeeded`). Exact fp32 only; every rank ends with the same bits, summed in the order
 * schedule.ts documents. Frames: exchangeFrame.ts.
 */
import { FrameError, TabswarmError } from '../errors.ts';
import { decodeExchangeHeader, EXCHANGE_PHASE } from './exchangeFrame.ts';
import { denseFrameBytes, FRAME_MAGIC, HEADER_BYTES, MAX_FRAME_BYTES, type FrameHeader } from './frame.ts';
import { encodeExactChunk } from './chunkCodec.ts';
import { decodeMasked, MASKED_ENCODING } from './zeroMask.ts';
import { EarlyFrames } from './frameInbox.ts';
import type { Link } from './link.ts';
import type { LatencyAllReduceOptions } from './latencyOptions.ts';
import type { RingStats } from './ringOptions.ts';
import { contributorsByRound, planRounds, roundCount, type Round, type Transfer } from './schedule.ts';
import type { InputGate } from './inputGate.ts';

export { decodeExchangeHeader, EXCHANGE_PHASE } from './exchangeFrame.ts';
export type { LatencyAllReduceOptions } from './latencyOptions.ts';

const MAX_CHUNK_ELEMS = (MAX_FRAME_BYTES - HEADER_BYTES) / 4;

interface Incoming {
  lane: number;
  round: number;
  from: number;
  len: number;
  chunks: number;
  buf: Float32Array;
  got: Uint8Array;
  left: number;
}

/** One piece of the vector, all-reduced by its own copy of the plan (see `pipelineElems`). */
interface Lane {
  index: number;
  off: number;
  len: number;
  rounds: Round[];
  /** messages not yet complete, per round */
  roundLeft: number[];
}

interface Run {
  step: number;
  vec: Float32Array;
  lanes: Lane[];
  /** by `${frame round}:${from}`, frame round = lane · rounds per lane + round */
  incoming: Map<string, Incoming>;
  /** other ranks' whole vectors received so far, by origin ('gather' and 'fold' rounds) */
  held: (Float32Array | null)[];
  /** woken when a message completes or the step fails */
  waiters: Set<() => void>;
  failed: Error | null;
  stats: RingStats;
}

export class LatencyAllReduce {
  private run: Run | null = null;
  private lastStep = -1;
  /** frames of later steps, replayed when their step starts */
  private readonly early: EarlyFrames<{ from: number; bytes: Uint8Array }>;
  private destroyed: Error | null = null;
  private unsubs: (() => void)[] = [];
  private readonly chunkElems: number;
  private readonly laneElems: number;
  private readonly roundsPerLane: number;
  private readonly pool = new Uint8Array(MAX_FRAME_BYTES);
  /** per round: the ranks whose contributions this rank's values hold after an 'add' */
  private readonly contributors: number[][];
  private readonly everyone: number[];

  constructor(private readonly o: LatencyAllReduceOptions) {
    if (!(o.size >= 1) || o.rank < 0 || o.rank >= o.size) throw new TabswarmError('BAD_REQUEST', `rank ${o.rank} of ${o.size}`);
    this.early = new EarlyFrames((f) => f.bytes.byteLength, o.maxEarlyBytes);
    this.chunkElems = Math.min(Math.max(1, Math.floor(o.chunkElems ?? MAX_CHUNK_ELEMS)), MAX_CHUNK_ELEMS);
    this.laneElems = Math.max(1, Math.floor(o.pipelineElems ?? Infinity));
    this.roundsPerLane = roundCount(o.algorithm, o.size);
    this.contributors = contributorsByRound(o.algorithm, o.rank, o.size);
    this.everyone = Array.from({ length: o.size }, (_, r) => r);
    if (o.firstStep !== undefined) this.lastStep = o.firstStep - 1;
    // one listener per distinct link (with two ranks, one link may serve both directions)
    const seen = new Set<Link>();
    for (const peer of this.peers()) {
      const link = o.links[peer];
      if (!link) throw new TabswarmError('BAD_REQUEST', `schedule ${o.algorithm} at rank ${o.rank} of ${o.size} needs a link to rank ${peer}`);
      if (seen.has(link)) continue;
      seen.add(link);
      this.unsubs.push(link.onMessage((d) => this.onFrame(peer, d)));
      this.unsubs.push(link.onClose((e) => this.fail(new TabswarmError('LINK_CLOSED', `link to rank ${peer} (${link.remoteId}) closed`, { cause: e, peer: link.remoteId }))));
    }
    for (const f of o.carriedFrames ?? []) if (o.links[f.from]) this.onFrame(f.from, f.bytes);
  }

  private peers(): number[] {
    const s = new Set<number>();
    for (const r of planRounds(this.o.algorithm, this.o.rank, this.o.size, 2 * this.o.size + 2)) for (const t of [...r.sends, ...r.recvs]) s.add(t.peer);
    return [...s];
  }

  /** The vector cut into lanes of at most laneElems, each with the plan shifted to its range. */
  private lanes(length: number): Lane[] {
    const count = Math.max(1, Math.ceil(length / this.laneElems));
    if (count * this.roundsPerLane > 0xffff) throw new TabswarmError('BAD_REQUEST', `${count} lanes of ${this.roundsPerLane} rounds do not fit the frame's round field`);
    return Array.from({ length: count }, (_, index) => {
      const off = Math.floor((index * length) / count);
      const len = Math.floor(((index + 1) * length) / count) - off;
      const shift = (ts: Transfer[]) => ts.map((t) => ({ ...t, off: t.off + off }));
      const rounds = planRounds(this.o.algorithm, this.o.rank, this.o.size, len).map((r) => ({ ...r, sends: shift(r.sends), recvs: shift(r.recvs) }));
      return { index, off, len, rounds, roundLeft: rounds.map((r) => r.recvs.length) };
    });
  }

  /** Sums `vec` in place across all ranks for `step` (exact, bit-identical on every rank). */
  async allReduce(step: number, vec: Float32Array, opts: { signal?: AbortSignal; timeoutMs?: number; input?: InputGate } = {}): Promise<RingStats> {
    if (this.destroyed) throw this.destroyed;
    if (this.run) throw new TabswarmError('BAD_REQUEST', `step ${this.run.step} is still running`);
    if (step <= this.lastStep) throw new TabswarmError('BAD_REQUEST', `step ${step} is not after ${this.lastStep}`);
    if (opts.input && opts.input.length !== vec.length) throw new TabswarmError('BAD_REQUEST', `input gate covers ${opts.input.length} values, the vector has ${vec.length}`);
    const t0 = performance.now();
    const lanes = this.lanes(vec.length);
    const run: Run = { step, vec, lanes, incoming: new Map(), held: new Array<Float32Array | null>(this.o.size).fill(null), waiters: new Set(), failed: null, stats: { ms: 0, bytesSent: 0, bytesDense: 0, framesSent: 0, bytesReceived: 0, stallMs: 0 } };
    for (const lane of lanes) {
      lane.rounds.forEach((round, t) => {
        for (const tr of round.recvs) {
          const chunks = Math.ceil(tr.len / this.chunkElems);
          run.incoming.set(`${lane.index * this.roundsPerLane + t}:${tr.peer}`, { lane: lane.index, round: t, from: tr.peer, len: tr.len, chunks, buf: new Float32Array(tr.len), got: new Uint8Array(chunks), left: chunks });
        }
      });
    }
    this.run = run;
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => this.fail(new TabswarmError('TIMEOUT', `all-reduce (${this.o.algorithm}) of step ${step} (epoch ${this.o.epoch}, rank ${this.o.rank}) timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => this.fail(new TabswarmError('ABORTED', `all-reduce of step ${step} aborted`, { cause: opts.signal?.reason }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) onAbort();
      for (const f of this.early.take(step)) this.onFrame(f.from, f.bytes);
      // lanes run side by side: a chain schedule pipelines, and a lane starts once its range is written
      await Promise.all(lanes.map((lane) => this.runLane(run, lane, opts.input)));
      if (run.failed) throw run.failed;
      run.stats.ms = performance.now() - t0;
      return run.stats;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (this.run === run) this.run = null;
      this.lastStep = Math.max(this.lastStep, step);
      this.early.dropThrough(step);
    }
  }

  private async runLane(run: Run, lane: Lane, input: InputGate | undefined) {
    // every round sends whole ranges of the lane: its input must be complete first (partners' frames wait in `incoming`)
    if (input) await this.until(run, input, () => input.isReady(lane.off, lane.len));
    for (let t = 0; t < lane.rounds.length; t++) {
      const round = lane.rounds[t]!;
      const at = lane.index * this.roundsPerLane + t;
      for (const tr of round.sends) await this.send(run, at, tr.peer, this.source(run, tr.origin), tr.off, tr.len);
      await this.until(run, null, () => lane.roundLeft[t] === 0);
      this.apply(run, lane, t);
    }
  }

  /** Resolves once `ready()` holds (checked after each completed message, or each input mark); throws once the step fails. */
  private async until(run: Run, input: InputGate | null, ready: () => boolean) {
    while (!run.failed && !ready()) {
      await new Promise<void>((resolve) => {
        const un = input?.onReady(wake);
        function wake() {
          un?.();
          run.waiters.delete(wake);
          resolve();
        }
        run.waiters.add(wake);
      });
    }
    if (run.failed) throw run.failed;
  }

  /** What a send carries: this rank's running values, or a kept vector of another rank (forwarded). */
  private source(run: Run, origin: number | undefined): Float32Array {
    if (origin === undefined || origin === this.o.rank) return run.vec;
    const v = run.held[origin];
    if (!v) throw new TabswarmError('BAD_REQUEST', `plan forwards rank ${origin}'s vector before rank ${this.o.rank} holds it`);
    return v;
  }

  private async send(run: Run, round: number, peer: number, src: Float32Array, off: number, len: number) {
    const link = this.o.links[peer]!;
    const high = this.o.highWaterBytes ?? 4 * 1024 * 1024;
    const low = Math.min(high, this.o.lowWaterBytes ?? high / 2);
    for (let c = 0, at = off; at < off + len; c++, at += this.chunkElems) {
      if (run.failed) throw run.failed;
      if (link.bufferedAmount > high) {
        const t = performance.now();
        await link.drained(low);
        run.stats.stallMs += performance.now() - t;
      }
      const count = Math.min(this.chunkElems, off + len - at);
      // dense, or masked when its +0.0 values make it smaller (zeroMask.ts)
      const frame = encodeExactChunk(this.pool, { phase: EXCHANGE_PHASE as never, jobTag: this.o.jobTag, epoch: this.o.epoch, step: run.step, round, segment: this.o.rank, chunk: c, count }, src.subarray(at, at + count), { mask: this.o.maskZeros });
      link.send(frame); // the link copies
      run.stats.bytesSent += frame.byteLength;
      run.stats.bytesDense += denseFrameBytes(frame);
      run.stats.framesSent++;
    }
  }

  private apply(run: Run, lane: Lane, t: number) {
    const { vec } = run;
    const round = lane.rounds[t]!;
    const key = (peer: number) => `${lane.index * this.roundsPerLane + t}:${peer}`;
    if (round.op === 'gather' || round.op === 'fold') {
      // whole vectors of single ranks: each checked as that rank's contribution, blaming the
      // partner it came from (an honest partner checked it before forwarding it)
      for (const tr of round.recvs) {
        const buf = run.incoming.get(key(tr.peer))!.buf;
        const origin = tr.origin ?? tr.peer;
        this.checkFinite(buf, 0, buf.length, tr.peer);
        this.check([origin], tr.off, buf, tr.peer);
        (run.held[origin] ??= new Float32Array(vec.length)).set(buf, tr.off);
      }
      if (round.op === 'gather' || lane.len === 0) return;
      // ((x0 + x1) + x2) + … in rank order, each sum rounded to float32, over the lane's range
      const { off, len } = lane;
      const src = (r: number) => (r === this.o.rank ? vec : run.held[r]!).subarray(off, off + len);
      const acc = Float32Array.from(src(0));
      for (let r = 1; r < this.o.size; r++) {
        const x = src(r);
        for (let i = 0; i < len; i++) acc[i] = acc[i]! + x[i]!;
      }
      this.checkFinite(acc, 0, len);
      vec.set(acc, off);
      return;
    }
    for (const tr of round.recvs) {
      const buf = run.incoming.get(key(tr.peer))!.buf;
      if (round.op === 'set') {
        // a finished sum: checked as every rank's contribution, so a rank that sums last (the
        // root of 'arc-tree', an owner in 'halving-doubling') cannot slip its own poison into
        // what it hands out
        this.checkFinite(buf, 0, tr.len, tr.peer);
        this.check(this.everyone, tr.off, buf, tr.peer);
        vec.set(buf, tr.off);
      } else {
        for (let i = 0; i < tr.len; i++) vec[tr.off + i] = vec[tr.off + i]! + buf[i]!;
        this.checkFinite(vec, tr.off, tr.len, tr.peer);
        this.check(this.contributors[t]!, tr.off, vec.subarray(tr.off, tr.off + tr.len), tr.peer);
      }
    }
  }

  private check(ranks: readonly number[], off: number, values: Float32Array, from: number) {
    const why = this.o.checkSum?.(ranks, off, values);
    if (why) throw new FrameError('FRAME_OUT_OF_BOUNDS', `${why} (from rank ${from})`, this.o.links[from]?.remoteId);
  }

  /** Non-finite values: blamed on the partner `from` whose values came in (as the ring blames its predecessor). */
  private checkFinite(v: Float32Array, off: number, len: number, from?: number) {
    for (let i = off; i < off + len; i++) {
      const x = v[i]!;
      if (x - x !== 0) throw new FrameError('FRAME_NON_FINITE', `non-finite sum at element ${i}${from === undefined ? '' : ` (from rank ${from})`}`, from === undefined ? undefined : this.o.links[from]?.remoteId);
    }
  }

  private onFrame(from: number, bytes: Uint8Array) {
    if (this.destroyed) return;
    if (bytes.byteLength >= HEADER_BYTES && new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES).getUint16(0, true) === FRAME_MAGIC) {
      // a partner already in a later epoch (whatever schedule it runs there): its owner carries the frame over
      const epoch = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES).getUint32(8, true);
      if (epoch > this.o.epoch) return void this.o.onFutureEpochFrame?.(from, bytes);
    }
    if (bytes.byteLength >= 4 && bytes[3] !== EXCHANGE_PHASE) return; // a ring's or a state-sync piece on a shared link
    const run = this.run;
    let h: FrameHeader;
    try {
      h = decodeExchangeHeader(bytes);
    } catch (e) {
      return this.reject(e as FrameError, from);
    }
    if (h.jobTag !== this.o.jobTag) return this.reject(new FrameError('FRAME_WRONG_JOB', `job tag ${h.jobTag}`), from);
    if (h.epoch !== this.o.epoch) return; // another epoch's schedule: not ours
    if (h.segment !== from) return this.reject(new FrameError('FRAME_MISROUTED', `frame says it is from rank ${h.segment}, it came from rank ${from}`), from);
    const current = run?.step ?? this.lastStep;
    if (h.step < current || (!run && h.step === this.lastStep)) return; // stale
    if (!run || h.step > run.step) {
      this.early.hold(h.step, current, { from, bytes }); // dropped when too early
      return;
    }
    const inc = run.incoming.get(`${h.round}:${from}`);
    if (!inc) return this.reject(new FrameError('FRAME_MISROUTED', `round ${h.round} from rank ${from} not expected at rank ${this.o.rank}`), from);
    if (h.chunk >= inc.chunks) return this.reject(new FrameError('FRAME_MISROUTED', `chunk ${h.chunk} of ${inc.chunks} in round ${h.round} from rank ${from}`), from);
    const at = h.chunk * this.chunkElems;
    const want = Math.min(this.chunkElems, inc.len - at);
    if (h.count !== want) return this.reject(new FrameError('FRAME_BAD_LENGTH', `chunk of ${h.count} values, expected ${want}`), from);
    if (inc.got[h.chunk]) return this.reject(new FrameError('FRAME_DUPLICATE', `duplicate chunk ${h.chunk} of round ${h.round} from rank ${from}`), from);
    inc.got[h.chunk] = 1;
    if (h.encoding === MASKED_ENCODING) {
      // finiteness is checked where the values are used (apply)
      decodeMasked((bytes.byteOffset & 3) === 0 ? bytes.subarray(HEADER_BYTES) : bytes.slice(HEADER_BYTES), inc.buf.subarray(at, at + h.count), 'set');
    } else {
      const payload = (bytes.byteOffset & 3) === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, h.count) : new Float32Array(bytes.slice(HEADER_BYTES).buffer);
      inc.buf.set(payload, at);
    }
    run.stats.bytesReceived += bytes.byteLength;
    if (--inc.left === 0) {
      run.lanes[inc.lane]!.roundLeft[inc.round]!--;
      for (const w of [...run.waiters]) w();
    }
  }

  private reject(err: FrameError, from: number) {
    const link = this.o.links[from];
    this.fail(new FrameError(err.code, `${err.detail} (from rank ${from})`, link?.remoteId));
  }

  private fail(err: Error) {
    const run = this.run;
    if (!run || run.failed) return;
    run.failed = err;
    for (const w of [...run.waiters]) w();
  }

  /** Idempotent: fails any running step with `err` and stops listening. */
  destroy(err: Error = new TabswarmError('ABORTED', 'all-reduce destroyed')) {
    if (this.destroyed) return;
    this.fail(err);
    this.destroyed = err;
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.early.clear();
  }
}
