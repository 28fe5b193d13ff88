/** The ring's inbox on its own: which frames pass, which are held, handed on or rejected. */
import { describe, expect, it } from 'vitest';
import { encodeFrame, Phase, type FrameHeader } from '../../../shared/allreduce/frame.ts';
import { EarlyFrames, FrameInbox, type FrameInboxOptions } from '../../../shared/allreduce/frameInbox.ts';
import type { ErrorCode } from '../../../shared/errors.ts';
import { SYNC_MAGIC } from '../../../shared/stateTransfer.ts';

const JOB = 7;
const EPOCH = 3;

function frame(over: Partial<Omit<FrameHeader, 'count' | 'encoding'>> = {}, values = 4): Uint8Array {
  return encodeFrame({ phase: Phase.ReduceScatter, jobTag: JOB, epoch: EPOCH, step: 5, round: 0, segment: 0, chunk: 0, ...over }, new Float32Array(values));
}

function inbox(over: Partial<FrameInboxOptions> = {}) {
  const rejected: [ErrorCode, boolean][] = [];
  const box = new FrameInbox({ jobTag: JOB, epoch: EPOCH, firstStep: 5, reject: (code, _m, fatal) => rejected.push([code, fatal]), ...over });
  return { box, rejected };
}

describe('FrameInbox', () => {
  it('passes the running step’s frames and holds later steps’ until their step starts', () => {
    const { box, rejected } = inbox();
    expect(box.lastStep).toBe(4);
    expect(box.admit(frame({ step: 5 }), 5)).toMatchObject({ step: 5, epoch: EPOCH });
    const later = frame({ step: 6, chunk: 1 });
    expect(box.admit(later, 5)).toBeNull();
    expect(box.admit(frame({ step: 5 }), null)).toBeNull(); // before step 5 runs: held too
    expect(rejected).toEqual([]);
    expect(box.take(6)).toEqual([later]);
    expect(box.take(6)).toEqual([]);
  });

  it('rejects stale and too-early frames without failing the step, and foreign ones fatally while a step runs', () => {
    const { box, rejected } = inbox();
    box.admit(frame({ epoch: EPOCH - 1 }), 5);
    box.admit(frame({ step: 4 }), 5);
    box.admit(frame({ step: 8 }), 5); // more than two steps ahead
    box.admit(frame({ epoch: EPOCH + 1 }), 5); // no owner to carry it: misrouted
    box.admit(frame({ jobTag: JOB + 1 }), 5);
    box.admit(frame({ jobTag: JOB + 1 }), null);
    box.admit(new Uint8Array(3), 5);
    expect(rejected).toEqual([
      ['FRAME_STALE', false],
      ['FRAME_STALE', false],
      ['FRAME_OVERFLOW', false],
      ['FRAME_MISROUTED', false],
      ['FRAME_WRONG_JOB', true],
      ['FRAME_WRONG_JOB', false],
      [expect.stringMatching(/^FRAME_/), true],
    ]);
  });

  it('hands a later epoch’s frames to the owner and ignores state-sync pieces', () => {
    const carried: Uint8Array[] = [];
    const { box, rejected } = inbox({ onFutureEpochFrame: (b) => carried.push(b) });
    const next = frame({ epoch: EPOCH + 1 });
    expect(box.admit(next, 5)).toBeNull();
    const piece = new Uint8Array(16);
    new DataView(piece.buffer).setUint16(0, SYNC_MAGIC, true);
    expect(box.admit(piece, 5)).toBeNull();
    expect(carried).toEqual([next]);
    expect(rejected).toEqual([]);
  });

  it('a finished step drops what is held for it and before; a failed one only moves the cursor', () => {
    const failed = inbox();
    const six = frame({ step: 6 });
    failed.box.admit(six, null);
    failed.box.passed(6);
    expect(failed.box.lastStep).toBe(6);
    failed.box.admit(frame({ step: 6 }), null);
    expect(failed.rejected).toEqual([['FRAME_STALE', false]]);
    expect(failed.box.take(6)).toEqual([six]); // still held (never replayed: step 6 is past)

    const done = inbox();
    done.box.admit(frame({ step: 6 }), 5);
    done.box.admit(frame({ step: 7 }), 5);
    done.box.finished(6);
    expect(done.box.lastStep).toBe(6);
    expect(done.box.take(6)).toEqual([]);
    expect(done.box.take(7)).toHaveLength(1);
  });

  it('keeps within its byte budget', () => {
    const { box, rejected } = inbox({ maxEarlyBytes: 2 * frame().byteLength });
    box.admit(frame({ step: 6 }), 5);
    box.admit(frame({ step: 6, chunk: 1 }), 5);
    box.admit(frame({ step: 6, chunk: 2 }), 5);
    expect(rejected).toEqual([['FRAME_OVERFLOW', false]]);
    expect(box.take(6)).toHaveLength(2);
  });
});

describe('EarlyFrames', () => {
  it('holds at most two steps ahead, counts bytes, and frees them on take and dropThrough', () => {
    const early = new EarlyFrames<{ n: number }>((f) => f.n, 10);
    expect(early.hold(3, 0, { n: 1 })).toBe(false);
    expect(early.hold(2, 0, { n: 4 })).toBe(true);
    expect(early.hold(1, 0, { n: 4 })).toBe(true);
    expect(early.hold(1, 0, { n: 4 })).toBe(false); // 12 > 10
    expect(early.heldBytes).toBe(8);
    expect(early.take(1)).toEqual([{ n: 4 }]);
    expect(early.heldBytes).toBe(4);
    early.dropThrough(2);
    expect(early.heldBytes).toBe(0);
    expect(early.take(2)).toEqual([]);
  });
});
