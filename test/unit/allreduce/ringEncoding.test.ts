import { afterEach, describe, expect, it } from 'vitest';
import { CODEC_ID, ErrorFeedback, type CodecName } from '../../../shared/codec.ts';
import { encodeFrame, Phase } from '../../../shared/allreduce/frame.ts';
import { RingLayout } from '../../../shared/allreduce/layout.ts';
import { memoryRing } from './memoryRing.ts';
import { RingAllReduce, type RingOptions } from '../../../shared/allreduce/ring.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { mulberry32 } from '../../../shared/random.ts';


let live: RingAllReduce[] = [];
afterEach(() => {
  for (const r of live) r.destroy();
  live = [];
});

function rings(n: number, o: Partial<RingOptions>): RingAllReduce[] {
  const links = memoryRing(n);
  const rs = links.map((l, rank) => new RingAllReduce({ jobTag: 5, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 300, ...o }));
  live.push(...rs);
  return rs;
}

/** gradient-like inputs plus an exact tail of [loss sum, correct, count] */
function inputs(n: number, len: number, seed: number): Float32Array[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, (_, r) => {
    const v = Float32Array.from({ length: len }, () => (rnd() - 0.5) * 10 ** (-3 + 3 * rnd()));
    v[len - 3] = 1.25 * (r + 1);
    v[len - 2] = 17 + r;
    v[len - 1] = 64 + r;
    return v;
  });
}

function exactSum(vs: Float32Array[]): Float64Array {
  const out = new Float64Array(vs[0]!.length);
  for (const v of vs) for (let i = 0; i < v.length; i++) out[i]! += v[i]!;
  return out;
}

describe('layout with an exact tail', () => {
  it('cuts chunks at the tail and covers every element exactly once', () => {
    for (const [len, n, chunk, tail] of [[1000, 4, 64, 3], [10, 8, 4, 3], [5, 8, 2, 3], [70_003, 3, 16384, 3], [2, 2, 7, 3]] as const) {
      const l = new RingLayout(len, n, chunk, tail);
      const hit = new Uint8Array(len);
      for (let s = 0; s < n; s++) {
        for (let c = 0; c < l.chunks(s); c++) {
          const [off, cl] = l.chunk(s, c);
          expect(cl).toBeGreaterThan(0);
          expect(cl).toBeLessThanOrEqual(chunk);
          for (let i = off; i < off + cl; i++) hit[i]!++;
          // a chunk is wholly before the tail or wholly in it
          expect(off >= l.cut || off + cl <= l.cut).toBe(true);
          expect(l.exact(s, c)).toBe(off >= l.cut);
        }
      }
      expect(Array.from(hit).every((h) => h === 1)).toBe(true);
    }
  });
});

describe('ring all-reduce with lossy encodings', () => {
  for (const encoding of ['fp16', 'int8'] as const) {
    for (const n of [2, 3, 4, 8]) {
      it(`${encoding}, N=${n}: bit-identical on every rank, close to the exact sum, exact tail`, async () => {
        const len = 5000;
        const vs = inputs(n, len, n * 31);
        const want = exactSum(vs);
        const rs = rings(n, { encoding, exactTail: 3 });
        const stats = await Promise.all(rs.map((r, i) => r.allReduce(0, vs[i]!)));
        const h = hashFloat32(vs[0]!);
        for (const v of vs) expect(hashFloat32(v)).toBe(h);
        // tail: sums of small integers and quarters are exact
        for (let i = len - 3; i < len; i++) expect(vs[0]![i]).toBe(want[i]);
        let maxAbs = 0;
        for (let i = 0; i < len - 3; i++) maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
        const perHop = encoding === 'int8' ? maxAbs / 127 : maxAbs * 2 ** -10;
        for (let i = 0; i < len - 3; i++) expect(Math.abs(vs[0]![i]! - want[i]!)).toBeLessThanOrEqual(perHop * n);
        // fewer bytes than fp32 would send: 2(N−1)/N of the vector, less the header and tail overhead
        const fp32Bytes = (2 * (n - 1) * len * 4) / n;
        const ratio = encoding === 'int8' ? 0.3 : 0.55;
        for (const s of stats) expect(s.bytesSent).toBeLessThan(fp32Bytes * ratio + 4096);
      });
    }
  }

  it('error feedback: the mean of many reduced steps converges to the exact mean', async () => {
    const n = 4;
    const len = 2000;
    const fbs = Array.from({ length: n }, () => new ErrorFeedback());
    const links = memoryRing(n);
    const rs = links.map((l, rank) => new RingAllReduce({ jobTag: 5, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 256, encoding: 'int8', errorFeedback: fbs[rank]! }));
    live.push(...rs);
    const base = inputs(n, len, 9);
    const want = exactSum(base);
    const steps = 40;
    const acc = new Float64Array(len);
    let firstErr = 0;
    for (let s = 0; s < steps; s++) {
      const vs = base.map((v) => Float32Array.from(v));
      await Promise.all(rs.map((r, i) => r.allReduce(s, vs[i]!)));
      for (let i = 0; i < len; i++) acc[i]! += vs[0]![i]!;
      if (s === 0) for (let i = 0; i < len; i++) firstErr = Math.max(firstErr, Math.abs(vs[0]![i]! - want[i]!));
    }
    let meanErr = 0;
    for (let i = 0; i < len; i++) meanErr = Math.max(meanErr, Math.abs(acc[i]! / steps - want[i]!));
    expect(firstErr).toBeGreaterThan(0);
    expect(meanErr).toBeLessThan(firstErr / 5);
  });

  it('a frame in another encoding than the job’s fails the step with FRAME_BAD_ENCODING', async () => {
    const links = memoryRing(3);
    const r1 = new RingAllReduce({ jobTag: 5, epoch: 1, rank: 1, size: 3, prev: links[1]!.prev, next: links[1]!.next, chunkElems: 2, encoding: 'int8' });
    live.push(r1);
    const p = r1.allReduce(0, new Float32Array(12), { timeoutMs: 5000 });
    // rank 1 receives reduce-scatter round 0 (segment 0, values [0, 4)) from rank 0
    links[0]!.next!.send(encodeFrame({ phase: Phase.ReduceScatter, jobTag: 5, epoch: 1, step: 0, round: 0, segment: 0, chunk: 0 }, Float32Array.of(1, 2)));
    await expect(p).rejects.toMatchObject({ code: 'FRAME_BAD_ENCODING' });
    expect(CODEC_ID.int8).toBe(2);
  });

  it('fp32 stays exact and sends what it always sent', async () => {
    const n = 3;
    const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: 999 }, (_, i) => r * 1000 + i));
    const rs = rings(n, { encoding: 'fp32' as CodecName, exactTail: 3 });
    const stats = await Promise.all(rs.map((r, i) => r.allReduce(0, vs[i]!)));
    for (const v of vs) for (let i = 0; i < 999; i++) expect(v[i]).toBe(3000 + 3 * i);
    for (const s of stats) expect(s.bytesSent).toBe(2 * 2 * (999 / 3) * 4 + s.framesSent * 32);
  });
});

describe('send order', () => {
  for (const schedule of ['fifo', 'forward-first'] as const) {
    it(`${schedule}: exact integer sums for N = 2..6, several steps on the same ring`, async () => {
      for (let n = 2; n <= 6; n++) {
        const rs = rings(n, { schedule, chunkElems: 7 });
        for (let step = 0; step < 3; step++) {
          const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: 101 }, (_, i) => r * 1000 + i + step));
          await Promise.all(rs.map((r, i) => r.allReduce(step, vs[i]!)));
          const want = Array.from({ length: 101 }, (_, i) => (1000 * n * (n - 1)) / 2 + n * (i + step));
          for (const v of vs) expect(Array.from(v)).toEqual(want);
        }
      }
    });
  }

  it('the send queue serves forwarded frames first only when asked to', async () => {
    const { SendQueue } = await import('../../../shared/allreduce/sendQueue.ts');
    const ff = new SendQueue<string>(true);
    const fifo = new SendQueue<string>(false);
    for (const q of [ff, fifo]) {
      q.push('own0', false);
      q.push('fwd0', true);
      q.push('own1', false);
      q.push('fwd1', true);
    }
    const drain = (q: InstanceType<typeof SendQueue<string>>) => Array.from({ length: q.size }, () => q.shift());
    expect(drain(ff)).toEqual(['fwd0', 'fwd1', 'own0', 'own1']);
    expect(drain(fifo)).toEqual(['own0', 'fwd0', 'own1', 'fwd1']);
    expect(ff.size).toBe(0);
  });
});
