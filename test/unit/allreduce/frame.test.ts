/** Long on purpose: one case per header field and per rejection code of the frame format. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeHeader,
  encodeFrame,
  Encoding,
  FRAME_MAGIC,
  FRAME_VERSION,
  framePayload,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  payloadBytes,
  Phase,
  type FrameHeader,
} from '../../../shared/allreduce/frame.ts';
import type { Link } from '../../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { FrameError, TabswarmError, type ErrorCode } from '../../../shared/errors.ts';
import { mulberry32 } from '../../../shared/random.ts';

type Fields = Omit<FrameHeader, 'count' | 'encoding'>;

const BASE: Fields = { phase: Phase.ReduceScatter, jobTag: 7, epoch: 3, step: 11, round: 1, segment: 2, chunk: 5 };
const MAX_VALUES = (MAX_FRAME_BYTES - HEADER_BYTES) / 4;

function bits(v: Float32Array): number[] {
  return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
}

function frameError(fn: () => unknown): FrameError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
    return e as FrameError;
  }
  throw new Error('expected a FrameError, nothing was thrown');
}

function expectFrameError(fn: () => unknown, code: ErrorCode) {
  const e = frameError(fn);
  expect(e.code).toBe(code);
  expect(e.message.startsWith(`${code}: `)).toBe(true);
}

/** a valid frame, then `edit` applied to a DataView over it */
function edited(edit: (dv: DataView, bytes: Uint8Array) => void, values = Float32Array.of(1, 2, 3)): Uint8Array {
  const bytes = encodeFrame(BASE, values);
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes);
  return bytes;
}

describe('frame header', () => {
  it('is 32 bytes, little-endian, at the documented offsets', () => {
    const bytes = encodeFrame(
      { phase: Phase.AllGather, jobTag: 0x04030201, epoch: 0x08070605, step: 0x0c0b0a09, round: 0x0e0d, segment: 0x1211, chunk: 0x16151413 },
      Float32Array.of(1.5),
    );
    expect(HEADER_BYTES).toBe(32);
    expect(bytes.byteLength).toBe(HEADER_BYTES + 4);
    expect(Array.from(bytes.subarray(0, 32))).toEqual([
      0x54, 0x57, FRAME_VERSION, Phase.AllGather, //   magic 'TW', version, phase
      0x01, 0x02, 0x03, 0x04, //                       job tag
      0x05, 0x06, 0x07, 0x08, //                       epoch
      0x09, 0x0a, 0x0b, 0x0c, //                       step
      0x0d, 0x0e, 0x11, 0x12, //                       round, segment
      0x13, 0x14, 0x15, 0x16, //                       chunk
      Encoding.fp32, 0, 0, 0, //                       encoding, flags, reserved
      1, 0, 0, 0, //                                   element count
    ]);
    expect(String.fromCharCode(bytes[0]!, bytes[1]!)).toBe('TW');
    expect(new DataView(bytes.buffer).getUint16(0, true)).toBe(FRAME_MAGIC);
  });

  const cases: [string, Fields][] = [
    ['all zero', { phase: Phase.ReduceScatter, jobTag: 0, epoch: 0, step: 0, round: 0, segment: 0, chunk: 0 }],
    ['all at their maximum', { phase: Phase.AllGather, jobTag: 0xffffffff, epoch: 0xffffffff, step: 0xffffffff, round: 0xffff, segment: 0xffff, chunk: 0xffffffff }],
    ['high bit set in every field', { phase: Phase.ReduceScatter, jobTag: 0x80000001, epoch: 0x80000000, step: 0x80000002, round: 0x8000, segment: 0x8001, chunk: 0x80000003 }],
    ['ordinary values', { phase: Phase.AllGather, jobTag: 123456789, epoch: 42, step: 100000, round: 6, segment: 7, chunk: 31 }],
  ];
  for (const [name, h] of cases) {
    it(`round-trips every field: ${name}`, () => {
      for (const count of [0, 1, 17]) {
        const values = Float32Array.from({ length: count }, (_, i) => i - 3.25);
        const got = decodeHeader(encodeFrame(h, values));
        expect(got).toEqual({ ...h, encoding: Encoding.fp32, count });
      }
    });
  }

  it('round-trips the largest element count that fits in MAX_FRAME_BYTES', () => {
    const values = Float32Array.from({ length: MAX_VALUES }, (_, i) => i);
    const bytes = encodeFrame(BASE, values);
    expect(bytes.byteLength).toBe(MAX_FRAME_BYTES);
    const h = decodeHeader(bytes);
    expect(h.count).toBe(MAX_VALUES);
    expect(bits(framePayload(bytes, h))).toEqual(bits(values));
  });

  it('payloadBytes: 4 per value for fp32, 2 for fp16, 1 plus a scale per block for int8; rejects unknown encodings', () => {
    expect(payloadBytes(Encoding.fp32, 0)).toBe(0);
    expect(payloadBytes(Encoding.fp32, 1000)).toBe(4000);
    expect(payloadBytes(Encoding.fp16, 1000)).toBe(2000);
    expect(payloadBytes(Encoding.int8, 1000)).toBe(1000 + 4 * 4);
    expectFrameError(() => payloadBytes(3, 10), 'FRAME_BAD_ENCODING');
  });
});

describe('frame payload', () => {
  it('is bit-equal to the values sent, including -0, NaN, infinities, subnormals and extremes', () => {
    const u = new Uint32Array([0x7fc00000, 0x7fa00001, 0xffc12345, 0x00000001, 0x807fffff]); // NaNs with payloads, subnormals
    const values = Float32Array.of(0, -0, 1, -1, Infinity, -Infinity, 3.4028234663852886e38, -1.1754943508222875e-38, Math.PI, ...new Float32Array(u.buffer));
    const bytes = encodeFrame(BASE, values);
    const h = decodeHeader(bytes);
    expect(h.count).toBe(values.length);
    expect(bits(framePayload(bytes, h))).toEqual(bits(values));
  });

  it('copies the values: changing the source after encoding does not change the frame', () => {
    const values = Float32Array.of(1, 2, 3);
    const bytes = encodeFrame(BASE, values);
    values[1] = 99;
    expect(Array.from(framePayload(bytes, decodeHeader(bytes)))).toEqual([1, 2, 3]);
  });

  it('encodes a subarray view (non-zero byteOffset) as just the view', () => {
    const big = Float32Array.from({ length: 100 }, (_, i) => i);
    const bytes = encodeFrame(BASE, big.subarray(40, 45));
    expect(Array.from(framePayload(bytes, decodeHeader(bytes)))).toEqual([40, 41, 42, 43, 44]);
  });

  it('is a view without a copy when the buffer is 4-byte aligned', () => {
    const frame = encodeFrame(BASE, Float32Array.of(4, 5, 6));
    const host = new Uint8Array(8 + frame.byteLength);
    host.set(frame, 8);
    const bytes = host.subarray(8);
    const p = framePayload(bytes, decodeHeader(bytes));
    expect(p.buffer).toBe(host.buffer);
    expect(p.byteOffset).toBe(8 + HEADER_BYTES);
    expect(Array.from(p)).toEqual([4, 5, 6]);
  });

  for (const offset of [1, 2, 3, 5, 7]) {
    it(`still decodes from a misaligned buffer (byteOffset ${offset})`, () => {
      const rnd = mulberry32(offset);
      const values = Float32Array.from({ length: 257 }, () => (rnd() - 0.5) * 1e6);
      const frame = encodeFrame({ ...BASE, chunk: offset }, values);
      const host = new Uint8Array(offset + frame.byteLength + 3);
      host.set(frame, offset);
      const bytes = host.subarray(offset, offset + frame.byteLength);
      expect(bytes.byteOffset % 4).not.toBe(0);
      const h = decodeHeader(bytes);
      expect(h).toEqual({ ...BASE, chunk: offset, encoding: Encoding.fp32, count: 257 });
      const p = framePayload(bytes, h);
      expect(bits(p)).toEqual(bits(values));
    });
  }
});

describe('malformed frames are rejected with a coded FrameError', () => {
  it('too short: anything under the 32-byte header', () => {
    for (const n of [0, 1, 4, 28, HEADER_BYTES - 1]) {
      const bytes = encodeFrame(BASE, new Float32Array(0)).subarray(0, n);
      expectFrameError(() => decodeHeader(bytes), 'FRAME_TOO_SHORT');
    }
    expect(decodeHeader(encodeFrame(BASE, new Float32Array(0))).count).toBe(0);
  });

  it('too long: over MAX_FRAME_BYTES, even when the header agrees with the length', () => {
    const values = new Float32Array(MAX_VALUES + 1);
    const bytes = encodeFrame(BASE, values);
    expect(bytes.byteLength).toBe(MAX_FRAME_BYTES + 4);
    const e = frameError(() => decodeHeader(bytes));
    expect(e.code).toBe('FRAME_BAD_LENGTH');
    expect(e.message).toContain(String(MAX_FRAME_BYTES));
  });

  it('too long: checked before anything else is read (garbage of MAX_FRAME_BYTES + 1 bytes)', () => {
    expectFrameError(() => decodeHeader(new Uint8Array(MAX_FRAME_BYTES + 1)), 'FRAME_BAD_LENGTH');
    // the same garbage at the size limit is looked at, and is not a frame
    expectFrameError(() => decodeHeader(new Uint8Array(MAX_FRAME_BYTES)), 'FRAME_BAD_MAGIC');
  });

  it('bad magic', () => {
    expectFrameError(() => decodeHeader(edited((dv) => dv.setUint16(0, 0x5457, true))), 'FRAME_BAD_MAGIC'); // 'WT'
    expectFrameError(() => decodeHeader(edited((dv) => dv.setUint8(0, 0))), 'FRAME_BAD_MAGIC');
    expectFrameError(() => decodeHeader(edited((dv) => dv.setUint8(1, 0x58))), 'FRAME_BAD_MAGIC');
  });

  it('bad version', () => {
    for (const v of [0, FRAME_VERSION + 1, 255]) {
      expectFrameError(() => decodeHeader(edited((dv) => dv.setUint8(2, v))), 'FRAME_BAD_VERSION');
    }
  });

  it('bad phase', () => {
    for (const p of [0, 3, 255]) {
      const e = frameError(() => decodeHeader(edited((dv) => dv.setUint8(3, p))));
      expect(e.code).toBe('FRAME_BAD_PHASE');
      expect(e.message).toContain(`phase ${p}`);
    }
  });

  it('bad encoding', () => {
    for (const enc of [3, 9, 255]) {
      expectFrameError(() => decodeHeader(edited((dv) => dv.setUint8(24, enc))), 'FRAME_BAD_ENCODING');
    }
  });

  it('length mismatch: truncated payload', () => {
    const whole = encodeFrame(BASE, Float32Array.of(1, 2, 3, 4));
    for (const cut of [1, 3, 4, 16]) {
      expectFrameError(() => decodeHeader(whole.subarray(0, whole.byteLength - cut)), 'FRAME_BAD_LENGTH');
    }
  });

  it('length mismatch: extra bytes after the payload', () => {
    const whole = encodeFrame(BASE, Float32Array.of(1, 2, 3, 4));
    for (const extra of [1, 4, 100]) {
      const longer = new Uint8Array(whole.byteLength + extra);
      longer.set(whole);
      expectFrameError(() => decodeHeader(longer), 'FRAME_BAD_LENGTH');
    }
  });

  it('length mismatch: element count that disagrees with the byte length', () => {
    for (const count of [0, 2, 4, 0xffffffff]) {
      expectFrameError(() => decodeHeader(edited((dv) => dv.setUint32(28, count, true))), 'FRAME_BAD_LENGTH');
    }
  });

  it('checks in order: length bounds, magic, version, phase, encoding, then length', () => {
    const allBad = () => edited((dv) => {
      dv.setUint16(0, 0);
      dv.setUint8(2, 9);
      dv.setUint8(3, 9);
      dv.setUint8(24, 9);
      dv.setUint32(28, 9, true);
    });
    expectFrameError(() => decodeHeader(allBad().subarray(0, 31)), 'FRAME_TOO_SHORT');
    expectFrameError(() => decodeHeader(allBad()), 'FRAME_BAD_MAGIC');
    const fix = (b: Uint8Array, n: number) => {
      const dv = new DataView(b.buffer);
      if (n > 0) dv.setUint16(0, FRAME_MAGIC, true);
      if (n > 1) dv.setUint8(2, FRAME_VERSION);
      if (n > 2) dv.setUint8(3, Phase.AllGather);
      if (n > 3) dv.setUint8(24, Encoding.fp32);
      return b;
    };
    expectFrameError(() => decodeHeader(fix(allBad(), 1)), 'FRAME_BAD_VERSION');
    expectFrameError(() => decodeHeader(fix(allBad(), 2)), 'FRAME_BAD_PHASE');
    expectFrameError(() => decodeHeader(fix(allBad(), 3)), 'FRAME_BAD_ENCODING');
    expectFrameError(() => decodeHeader(fix(allBad(), 4)), 'FRAME_BAD_LENGTH');
  });
});

// ---------------------------------------------------------------------------------------
// The ring's use of the header: stale frames are dropped, bad ones fail the running step.
// ---------------------------------------------------------------------------------------

const JOB = 7;
const EPOCH = 5;
const N = 3;
const LEN = 12; // 3 segments of 4 values
const CHUNK = 2; // 2 chunks per segment

interface Harness {
  rings: RingAllReduce[];
  /** the link whose other end is rank r's `prev`: sending on it delivers to rank r */
  intoRank: Link[];
  rejected: [number, ErrorCode, string][];
}

let live: RingAllReduce[] = [];
afterEach(() => {
  for (const r of live) r.destroy();
  live = [];
});

function harness(): Harness {
  const prev: Link[] = [];
  const next: Link[] = [];
  for (let i = 0; i < N; i++) {
    const j = (i + 1) % N;
    const [toNext, fromPrev] = memoryLinkPair(`r${j}`, `r${i}`);
    next[i] = toNext;
    prev[j] = fromPrev;
  }
  const rejected: [number, ErrorCode, string][] = [];
  const rings = Array.from(
    { length: N },
    (_, rank) =>
      new RingAllReduce({
        jobTag: JOB, epoch: EPOCH, rank, size: N, prev: prev[rank]!, next: next[rank]!, chunkElems: CHUNK,
        onRejectedFrame: (code, message) => rejected.push([rank, code, message]),
      }),
  );
  live.push(...rings);
  return { rings, intoRank: Array.from({ length: N }, (_, r) => next[(r + N - 1) % N]!), rejected };
}

/** lets every queued in-memory delivery (microtasks) run; no timers involved */
const settle = () => new Promise<void>((r) => setImmediate(r));

function inputs(step: number): Float32Array[] {
  return Array.from({ length: N }, (_, rank) => Float32Array.from({ length: LEN }, (_, i) => (rank + 1) * 100 + i + step * 1000));
}

function expectedSum(step: number): number[] {
  const vs = inputs(step);
  return Array.from({ length: LEN }, (_, i) => vs.reduce((a, v) => a + v[i]!, 0));
}

async function runStep(h: Harness, step: number) {
  const vs = inputs(step);
  await Promise.all(h.rings.map((r, i) => r.allReduce(step, vs[i]!)));
  for (const v of vs) expect(Array.from(v)).toEqual(expectedSum(step));
}

/**
 * Rank 1 receives reduce-scatter round 0 from rank 0: segment rsRecvSeg(1, 0) = 0, i.e.
 * values [0, 4), in chunks [0, 2) and [2, 4).
 */
const R1_RS0: Fields = { phase: Phase.ReduceScatter, jobTag: JOB, epoch: EPOCH, step: 1, round: 0, segment: 0, chunk: 0 };

/** a step that should fail fast gets this timeout, so a missed rejection fails with TIMEOUT instead of hanging */
const FAIL_FAST = { timeoutMs: 5000 };

async function expectStepFails(p: Promise<unknown>, code: ErrorCode) {
  const e = await p.then(
    () => {
      throw new Error(`step succeeded, expected ${code}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FrameError);
  expect((e as FrameError).code).toBe(code);
}

describe('the ring drops stale frames and reports them', () => {
  it('frames of an older epoch or an older step, before and during a step, do not fail it', async () => {
    const h = harness();
    await runStep(h, 0);
    expect(h.rejected).toEqual([]);

    // between steps: older epoch (for the next step) and the step already done
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, epoch: EPOCH - 1, step: 1 }, Float32Array.of(1e9, 1e9)));
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, step: 0 }, Float32Array.of(1e9, 1e9)));
    await settle();
    expect(h.rejected).toEqual([
      [1, 'FRAME_STALE', expect.stringContaining(`epoch ${EPOCH - 1}`)],
      [1, 'FRAME_STALE', expect.stringContaining('step 0')],
    ]);

    // during step 1 on rank 1 (its neighbours have not started, so it cannot have finished)
    const vs = inputs(1);
    const p1 = h.rings[1]!.allReduce(1, vs[1]!);
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, epoch: 0 }, Float32Array.of(1e9, 1e9)));
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, step: 0 }, Float32Array.of(NaN, NaN)));
    await settle();
    expect(h.rejected.slice(2)).toEqual([
      [1, 'FRAME_STALE', expect.stringContaining('epoch 0')],
      [1, 'FRAME_STALE', expect.stringContaining('step 0')],
    ]);
    // the stale payloads were not added in
    await Promise.all([h.rings[0]!.allReduce(1, vs[0]!), p1, h.rings[2]!.allReduce(1, vs[2]!)]);
    for (const v of vs) expect(Array.from(v)).toEqual(expectedSum(1));

    // and a later step is unaffected too
    await runStep(h, 2);
    expect(h.rejected.length).toBe(4);
  });

  it('frames of a newer epoch are reported as misrouted but do not fail the step', async () => {
    const h = harness();
    const vs = inputs(1);
    const p1 = h.rings[1]!.allReduce(1, vs[1]!);
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, epoch: EPOCH + 1 }, Float32Array.of(1, 1)));
    await settle();
    expect(h.rejected).toEqual([[1, 'FRAME_MISROUTED', expect.stringContaining(`epoch ${EPOCH + 1}`)]]);
    await Promise.all([h.rings[0]!.allReduce(1, vs[0]!), p1, h.rings[2]!.allReduce(1, vs[2]!)]);
    for (const v of vs) expect(Array.from(v)).toEqual(expectedSum(1));
  });

  it('garbage or a wrong job tag between steps is reported but fails nothing', async () => {
    const h = harness();
    await runStep(h, 0);
    h.intoRank[2]!.send(new Uint8Array(10));
    h.intoRank[2]!.send(encodeFrame({ ...R1_RS0, jobTag: JOB + 1 }, Float32Array.of(1, 1)));
    await settle();
    expect(h.rejected.map(([r, c]) => [r, c])).toEqual([
      [2, 'FRAME_TOO_SHORT'],
      [2, 'FRAME_WRONG_JOB'],
    ]);
    await runStep(h, 1);
  });
});

describe('a bad frame fails the running step with its code', () => {
  /** starts step 1 on rank 1 only, injects `frames`, and expects the step to fail with `code` */
  async function failsWith(frames: Uint8Array[], code: ErrorCode) {
    const h = harness();
    await runStep(h, 0);
    const p = h.rings[1]!.allReduce(1, inputs(1)[1]!, FAIL_FAST);
    for (const f of frames) h.intoRank[1]!.send(f);
    await expectStepFails(p, code);
    expect(h.rejected.at(-1)?.slice(0, 2)).toEqual([1, code]);
    // the failed rank is not stuck: the ring runs the next step
    await runStep(h, 2);
    return h;
  }

  it('wrong job tag → FRAME_WRONG_JOB', async () => {
    await failsWith([encodeFrame({ ...R1_RS0, jobTag: JOB + 1 }, Float32Array.of(1, 1))], 'FRAME_WRONG_JOB');
  });

  it('misrouted segment → FRAME_MISROUTED', async () => {
    await failsWith([encodeFrame({ ...R1_RS0, segment: 1 }, Float32Array.of(1, 1))], 'FRAME_MISROUTED');
  });

  it('misrouted: a round past N−2, or a chunk past the segment → FRAME_MISROUTED', async () => {
    await failsWith([encodeFrame({ ...R1_RS0, round: N - 1, segment: 2 }, Float32Array.of(1, 1))], 'FRAME_MISROUTED');
    await failsWith([encodeFrame({ ...R1_RS0, chunk: 2 }, Float32Array.of(1, 1))], 'FRAME_MISROUTED');
    // all-gather round 0 at rank 1 carries segment agRecvSeg(1, 0) = 1, not 0
    await failsWith([encodeFrame({ ...R1_RS0, phase: Phase.AllGather }, Float32Array.of(1, 1))], 'FRAME_MISROUTED');
  });

  it('duplicate chunk → FRAME_DUPLICATE', async () => {
    const f = encodeFrame({ ...R1_RS0, chunk: 1 }, Float32Array.of(1, 1));
    const h = await failsWith([f, f], 'FRAME_DUPLICATE');
    expect(h.rejected.filter(([r]) => r === 1).map(([, c]) => c)).toEqual(['FRAME_DUPLICATE']);
  });

  it('NaN or infinite values → FRAME_NON_FINITE', async () => {
    await failsWith([encodeFrame(R1_RS0, Float32Array.of(1, NaN))], 'FRAME_NON_FINITE');
    await failsWith([encodeFrame(R1_RS0, Float32Array.of(Infinity, 0))], 'FRAME_NON_FINITE');
    await failsWith([encodeFrame({ ...R1_RS0, chunk: 1 }, Float32Array.of(-Infinity, 0))], 'FRAME_NON_FINITE');
  });

  it('a chunk of the wrong size → FRAME_BAD_LENGTH', async () => {
    await failsWith([encodeFrame(R1_RS0, Float32Array.of(1, 2, 3))], 'FRAME_BAD_LENGTH');
  });

  it('a malformed frame while a step runs fails it with the decoder’s code', async () => {
    await failsWith([edited((dv) => dv.setUint8(2, 9))], 'FRAME_BAD_VERSION');
    await failsWith([new Uint8Array(5)], 'FRAME_TOO_SHORT');
  });

  it('the failure is a TabswarmError whose message names the frame', async () => {
    const h = harness();
    const p = h.rings[1]!.allReduce(1, inputs(1)[1]!, FAIL_FAST);
    h.intoRank[1]!.send(encodeFrame({ ...R1_RS0, segment: 2 }, Float32Array.of(1, 1)));
    const e = await p.catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TabswarmError);
    expect((e as Error).message).toMatch(/^FRAME_MISROUTED: .*segment 2/);
  });
});
