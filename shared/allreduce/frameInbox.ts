/**
 * Where a ring frame goes before the all-reduce schedule sees it.
 *
 * A link carries more than the running step's frames: state-sync pieces (not ours), frames of
 * another job (rejected), of an earlier epoch or an earlier step (stale), of a later epoch (a
 * neighbour already runs the next ring: handed to the owner, who carries them into it), and
 * of a later step of this epoch (a neighbour is ahead: held, within bounds, and replayed when
 * that step starts). Only the running step's frames come out of the inbox.
 */
import { errorCode, type ErrorCode } from '../errors.ts';
import { isSyncPiece } from '../stateTransfer.ts';
import { EXCHANGE_PHASE } from './exchangeFrame.ts';
import { decodeHeader, HEADER_BYTES, type FrameHeader } from './frame.ts';


export const DEFAULT_MAX_EARLY_BYTES = 64 * 1024 * 1024;

/** Frames of later steps, kept until their step starts: at most two steps ahead, and `maxBytes` in all. */
export class EarlyFrames<T> {
  private readonly byStep = new Map<number, T[]>();
  private bytes = 0;

  constructor(
    private readonly sizeOf: (f: T) => number,
    private readonly maxBytes = DEFAULT_MAX_EARLY_BYTES,
  ) {}

  /** Keeps `f` for `step`, unless it is more than two steps after `current` or over the byte budget (false: refused). */
  hold(step: number, current: number, f: T): boolean {
    const size = this.sizeOf(f);
    if (step > current + 2 || this.bytes + size > this.maxBytes) return false;
    const list = this.byStep.get(step) ?? [];
    list.push(f);
    this.byStep.set(step, list);
    this.bytes += size;
    return true;
  }

  /** The frames held for `step`, in arrival order; they leave the store. */
  take(step: number): T[] {
    const list = this.byStep.get(step) ?? [];
    this.byStep.delete(step);
    for (const f of list) this.bytes -= this.sizeOf(f);
    return list;
  }

  /** Drops what is held for `step` and every earlier step. */
  dropThrough(step: number): void {
    for (const s of [...this.byStep.keys()]) if (s <= step) this.take(s);
  }

  clear(): void {
    this.byStep.clear();
    this.bytes = 0;
  }

  get heldBytes(): number {
    return this.bytes;
  }
}

export interface FrameInboxOptions {
  jobTag: number;
  epoch: number;
  /** the first step the ring will run (default 0) */
  firstStep?: number;
  /** frames of future steps kept before the step starts */
  maxEarlyBytes?: number;
  /** frames of a later epoch go here; unset, they are rejected as misrouted */
  onFutureEpochFrame?: (bytes: Uint8Array) => void;
  /** a rejected frame; `fatal` while a step runs whose links it came over (the step fails) */
  reject(code: ErrorCode, message: string, fatal: boolean): void;
}

/** The step cursor of one ring epoch and the frames it holds for later steps. */
export class FrameInbox {
  private readonly early: EarlyFrames<Uint8Array>;
  private last: number;

  constructor(private readonly o: FrameInboxOptions) {
    this.early = new EarlyFrames((f) => f.byteLength, o.maxEarlyBytes);
    this.last = (o.firstStep ?? 0) - 1;
  }

  /** The last step run (finished or failed); the next must come after it. */
  get lastStep(): number {
    return this.last;
  }

  /**
   * Sorts a frame that arrived while step `running` runs (null: none runs). Returns its header
   * when it belongs to that step; otherwise it is ignored, held, handed on or rejected, and
   * the answer is null.
   */
  admit(bytes: Uint8Array, running: number | null): FrameHeader | null {
    if (isSyncPiece(bytes)) return null; // a state-sync piece on a shared link, not ours
    if (bytes.byteLength >= HEADER_BYTES && bytes[3] === EXCHANGE_PHASE) {
      // a latency schedule's frame (latencyAllReduce.ts): a neighbour already runs a later
      // epoch with that schedule (carried over), or one of an earlier epoch (stale); never ours
      // (same epoch or another job: not a schedule of ours, judged below like any bad frame)
      const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
      const epoch = dv.getUint32(8, true);
      if (dv.getUint32(4, true) === this.o.jobTag && epoch !== this.o.epoch) {
        if (epoch < this.o.epoch) return this.refuse('FRAME_STALE', `epoch ${epoch} < ${this.o.epoch}`, false);
        if (this.o.onFutureEpochFrame) {
          this.o.onFutureEpochFrame(bytes);
          return null;
        }
      }
    }
    const fatal = running !== null;
    let h: FrameHeader;
    try {
      h = decodeHeader(bytes);
    } catch (e) {
      return this.refuse(errorCode(e), (e as Error).message, fatal);
    }
    if (h.jobTag !== this.o.jobTag) return this.refuse('FRAME_WRONG_JOB', `job tag ${h.jobTag}`, fatal);
    if (h.epoch < this.o.epoch) return this.refuse('FRAME_STALE', `epoch ${h.epoch} < ${this.o.epoch}`, false);
    if (h.epoch > this.o.epoch) {
      if (this.o.onFutureEpochFrame) {
        this.o.onFutureEpochFrame(bytes);
        return null;
      }
      return this.refuse('FRAME_MISROUTED', `epoch ${h.epoch} > ${this.o.epoch}`, false);
    }
    const current = running ?? this.last;
    if (h.step < current || (running === null && h.step === this.last)) return this.refuse('FRAME_STALE', `step ${h.step} already done`, false);
    if (running === null || h.step > running) {
      if (!this.early.hold(h.step, current, bytes)) return this.refuse('FRAME_OVERFLOW', `frame for step ${h.step} arrived too early`, false);
      return null;
    }
    return h;
  }

  /** The frames held for `step`, which starts now. */
  take(step: number): Uint8Array[] {
    return this.early.take(step);
  }

  /** `step` is done (or has failed): frames for it and before are stale from now on. */
  passed(step: number): void {
    this.last = step;
  }

  /** `step` finished: it is passed, and what is held for it or earlier steps is dropped. */
  finished(step: number): void {
    this.last = step;
    this.early.dropThrough(step);
  }

  clear(): void {
    this.early.clear();
  }

  private refuse(code: ErrorCode, message: string, fatal: boolean): null {
    this.o.reject(code, message, fatal);
    return null;
  }
}
