/**
 * 10,000 generated malformed all-reduce frames thrown at a live ring rank: each one is
 * rejected with a coded FRAME_* error (none is summed, none crashes the rank), and the ring
 * still all-reduces correctly afterwards. A second property injects malformed frames while a
 * step runs: the step fails with that coded error and the next step succeeds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_MAGIC, HEADER_BYTES, Phase } from '../../shared/allreduce/frame.ts';
import { encodeExactChunk } from '../../shared/allreduce/chunkCodec.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../shared/allreduce/memoryLink.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import type { ErrorCode } from '../../shared/errors.ts';

const JOB = 77;
const EPOCH = 5;
const LEN = 60;

/** A 3-rank ring; rank 1 also gets an extra inbound link the fuzzer writes to. */
function ring() {
  const rejected: ErrorCode[] = [];
  const [a2b, bFromA] = memoryLinkPair('b', 'a');
  const [b2c, cFromB] = memoryLinkPair('c', 'b');
  const [c2a, aFromC] = memoryLinkPair('a', 'c');
  const links: { prev: Link; next: Link }[] = [
    { prev: aFromC, next: a2b },
    { prev: bFromA, next: b2c },
    { prev: cFromB, next: c2a },
  ];
  const ranks = links.map((l, rank) => new RingAllReduce({
    jobTag: JOB, epoch: EPOCH, rank, size: 3, prev: l.prev, next: l.next, chunkElems: 8,
    onRejectedFrame: rank === 1 ? (code) => rejected.push(code) : undefined,
  }));
  /** what rank 1 receives from its prev (rank 0's sending end) */
  const inject = (bytes: Uint8Array) => a2b.send(bytes);
  /** Runs step s on every rank; when one fails the others are aborted (as the coordinator would). */
  const attempt = async (s: number, during?: () => void) => {
    const vs = [0, 1, 2].map((r) => Float32Array.from({ length: LEN }, (_, i) => r * 100 + i));
    const ctrl = new AbortController();
    const runs = ranks.map((rk, r) =>
      rk.allReduce(s, vs[r]!, { timeoutMs: 5000, signal: ctrl.signal }).then(
        () => null,
        (e: { code?: string }) => {
          ctrl.abort();
          return e.code ?? 'unknown';
        },
      ),
    );
    during?.();
    return { vs, codes: await Promise.all(runs) };
  };
  const step = async (s: number) => {
    const { vs, codes } = await attempt(s);
    if (codes.some((c) => c)) throw Object.assign(new Error(`step ${s} failed: ${codes.join()}`), { code: codes.find((c) => c && c !== 'ABORTED') });
    return vs;
  };
  return { ranks, rejected, inject, step, attempt };
}

const flush = () => new Promise((r) => setImmediate(r));

/** Malformed frames: random bytes, or a valid frame with one field or the length broken. */
const badFrame = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 64 }).filter((b) => b.length < 2 || (b[0]! | (b[1]! << 8)) !== 0x5954),
  fc.record({
    field: fc.constantFrom('magic', 'version', 'phase', 'encoding', 'length', 'job', 'epoch', 'stale-step', 'future-step', 'round', 'segment', 'count', 'mask'),
    value: fc.integer({ min: 0, max: 0xffff }),
    extra: fc.integer({ min: 1, max: 40 }),
  }).map(({ field, value, extra }) => {
    const f = encodeFrame({ phase: Phase.ReduceScatter, jobTag: JOB, epoch: EPOCH, step: 9, round: 0, segment: 0, chunk: 0 }, new Float32Array(8).fill(1));
    const dv = new DataView(f.buffer);
    if (field === 'mask') {
      // a masked exact frame (zeroMask.ts) whose mask disagrees with its size or its count
      const m = encodeExactChunk(null, { phase: Phase.ReduceScatter, jobTag: JOB, epoch: EPOCH, step: 9, round: 0, segment: 0, chunk: 0, count: 8 }, Float32Array.of(0, 1, 0, 0, 2, 0, 0, 3));
      const mv = new DataView(m.buffer);
      const mask = mv.getUint32(HEADER_BYTES, true);
      if (value % 3 === 0) mv.setUint32(HEADER_BYTES, mask ^ (1 << (value % 8)), true); // one value more or less than carried
      else if (value % 3 === 1) mv.setUint32(HEADER_BYTES, mask | (1 << (8 + (value % 24))), true); // a value past the count
      else return Uint8Array.from([...m, 0, 0, 0, 0]); // a word more than the mask says
      return m;
    }
    switch (field) {
      case 'magic': dv.setUint16(0, value === FRAME_MAGIC ? value + 1 : value, true); break;
      case 'version': dv.setUint8(2, (value % 255) + 2); break;
      case 'phase': dv.setUint8(3, 3 + (value % 250)); break;
      case 'encoding': dv.setUint8(24, 3 + (value % 250)); break;
      case 'length': return f.subarray(0, HEADER_BYTES + (value % 31)); // truncated payload
      case 'job': dv.setUint32(4, JOB + 1 + value, true); break;
      case 'epoch': dv.setUint32(8, value % EPOCH, true); break; // older epoch: stale
      case 'stale-step': dv.setUint32(12, value % 5, true); break; // steps 0..4 are done
      case 'future-step': dv.setUint32(12, 100 + value, true); break; // far ahead: overflow
      case 'round': dv.setUint16(16, 2 + (value % 100), true); dv.setUint32(12, 5, true); break;
      case 'segment': dv.setUint16(18, 1 + (value % 2), true); dv.setUint32(12, 5, true); break;
      case 'count': dv.setUint32(28, 9 + extra, true); break;
    }
    return f;
  }),
);

describe('malformed frames', () => {
  it('10,000 malformed frames between steps: each rejected with a coded error, the ring still sums correctly', async () => {
    const r = ring();
    for (let s = 0; s < 5; s++) await r.step(s);
    const samples = fc.sample(badFrame, { numRuns: 10_000, seed: 42 });
    for (let i = 0; i < samples.length; i++) {
      r.inject(samples[i]!);
      if (i % 500 === 499) await flush();
    }
    await flush();
    // frames aimed at the next step (5) with a broken round/segment are kept as early frames and judged when it starts
    const early = samples.filter((b) => b.length >= 32 && new DataView(b.buffer, b.byteOffset).getUint32(12, true) === 5 && new DataView(b.buffer, b.byteOffset).getUint16(0, true) === FRAME_MAGIC).length;
    expect(r.rejected.length).toBe(samples.length - early);
    expect(r.rejected.every((c) => c.startsWith('FRAME_'))).toBe(true);
    expect(new Set(r.rejected).size).toBeGreaterThanOrEqual(8);
    expect(r.rejected).toContain('FRAME_BAD_ENCODING');
    // the buffered bad frames for step 5 fail it with a coded error; step 6 is clean
    await expect(r.step(5)).rejects.toMatchObject({ code: expect.stringMatching(/^FRAME_/) });
    const vs = await r.step(6);
    for (const v of vs) for (let i = 0; i < LEN; i++) expect(v[i]).toBe(300 + 3 * i);
  }, 60_000);

  it('a malformed frame during a running step fails that step with its code; the next step succeeds', async () => {
    const r = ring();
    let s = 0;
    await fc.assert(
      fc.asyncProperty(badFrame.filter((b) => b.length >= 32 && new DataView(b.buffer, b.byteOffset).getUint16(0, true) !== FRAME_MAGIC), async (bad) => {
        const { codes } = await r.attempt(s++, () => r.inject(bad));
        expect(codes[1]).toBe('FRAME_BAD_MAGIC');
        const ok = await r.step(s++);
        expect(ok[0]![0]).toBe(300);
      }),
      { numRuns: 200, seed: 7 },
    );
  }, 120_000);
});
