/**
 * Sparse exact vectors (the ReLU gradients' +0.0 runs, −0.0, denormals) through every schedule
 * over in-memory links: whichever frames travel masked, every rank ends with the same bits,
 * and those are the bits of the schedule's documented summation order over dense values.
 */
import { describe, expect, it } from 'vitest';
import { memoryMesh, memoryRing } from './memoryRing.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { RingLayout } from '../../../shared/allreduce/layout.ts';
import { LatencyAllReduce } from '../../../shared/allreduce/latencyAllReduce.ts';
import { arcTreeOrder } from '../../../shared/allreduce/arcSchedules.ts';
import { halvingDoublingOrder, type LatencyAlgorithm, type SumTree } from '../../../shared/allreduce/schedule.ts';
import type { RingStats } from '../../../shared/allreduce/ringOptions.ts';
import { mulberry32 } from '../../../shared/random.ts';
import { maskedIsSmaller, nonZeroCount } from '../../../shared/allreduce/zeroMask.ts';

const bitsOf = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const ua = bitsOf(a);
  const ub = bitsOf(b);
  return ua.length === ub.length && ua.every((x, i) => x === ub[i]);
}

/**
 * N vectors with shared zero rows (what a pixel that is dark in every sample gives) and
 * rank-own zeros, −0.0 (sometimes at the same index on every rank: the sum is then −0.0),
 * denormals and floats of many scales.
 */
function sparseVectors(n: number, len: number, seed: number): Float32Array[] {
  const rnd = mulberry32(seed);
  const sharedZero = Uint8Array.from({ length: len }, () => (rnd() < 0.35 ? 1 : 0));
  const allNegZero = Uint8Array.from({ length: len }, () => (rnd() < 0.02 ? 1 : 0));
  return Array.from({ length: n }, () => {
    const u = new Uint32Array(len);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < len; i++) {
      if (allNegZero[i]) u[i] = 0x80000000;
      else if (sharedZero[i] || rnd() < 0.2) continue;
      else if (rnd() < 0.05) u[i] = 0x80000000;
      else if (rnd() < 0.05) u[i] = 1 + Math.floor(rnd() * 0x7fffff);
      else f[i] = (rnd() - 0.5) * 2 ** Math.floor(rnd() * 30 - 15);
    }
    return f;
  });
}

/** The ring's order: segment s starts at rank s and each next rank adds (received + own), rounded to float32. */
function ringReference(vs: Float32Array[], chunkElems: number): Float32Array {
  const n = vs.length;
  const len = vs[0]!.length;
  const layout = new RingLayout(len, n, chunkElems, 0);
  const out = new Float32Array(len);
  for (let s = 0; s < n; s++) {
    const start = layout.segStart(s);
    for (let i = start; i < start + layout.segLength(s); i++) {
      let acc = vs[s]![i]!;
      for (let k = 1; k < n; k++) acc = Math.fround(acc + vs[(s + k) % n]![i]!);
      out[i] = acc;
    }
  }
  return out;
}

function evalTree(tree: SumTree, vs: Float32Array[], i: number): number {
  if (typeof tree === 'number') return vs[tree]![i]!;
  return Math.fround(evalTree(tree[0], vs, i) + evalTree(tree[1], vs, i));
}

function latencyReference(alg: LatencyAlgorithm, vs: Float32Array[]): Float32Array {
  const len = vs[0]!.length;
  const out = new Float32Array(len);
  if (alg === 'all-to-all' || alg === 'arc-gather') {
    for (let i = 0; i < len; i++) {
      let acc = vs[0]![i]!;
      for (let r = 1; r < vs.length; r++) acc = Math.fround(acc + vs[r]![i]!);
      out[i] = acc;
    }
    return out;
  }
  const tree = alg === 'arc-tree' ? arcTreeOrder(vs.length) : halvingDoublingOrder(vs.length);
  for (let i = 0; i < len; i++) out[i] = evalTree(tree, vs, i);
  return out;
}

const total = (ss: RingStats[]) => ss.reduce((a, s) => ({ sent: a.sent + s.bytesSent, dense: a.dense + s.bytesDense }), { sent: 0, dense: 0 });

describe('sparse exact vectors: masked frames change bytes, never bits', () => {
  for (let n = 1; n <= 9; n++) {
    for (const len of [0, 1, 33, 1000, 40_001]) {
      for (const chunkElems of [7, 16_384]) {
        if (chunkElems === 7 && len > 1000) continue;
        it(`ring N=${n} length=${len} chunk=${chunkElems}: bit-identical on every rank, equal to the ring order over dense values; fewer bytes`, async () => {
          const vs = sparseVectors(n, len, n * 7919 + len + chunkElems);
          const want = ringReference(vs, chunkElems);
          const rings = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems }));
          try {
            const stats = await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
            for (let r = 0; r < n; r++) expect(sameBits(vs[r]!, want), `rank ${r}`).toBe(true);
            const t = total(stats);
            expect(t.sent).toBeLessThanOrEqual(t.dense);
            if (n > 1 && len >= 1000 && chunkElems > 1000) expect(t.sent).toBeLessThan(t.dense * 0.9);
          } finally {
            rings.forEach((r) => r.destroy());
          }
        });
      }
    }
  }

  it('dense random vectors travel dense: bytesSent equals bytesDense', async () => {
    const n = 4;
    const rnd = mulberry32(5);
    const vs = Array.from({ length: n }, () => Float32Array.from({ length: 5000 }, () => rnd() + 0.5));
    const rings = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 512 }));
    const stats = await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
    rings.forEach((r) => r.destroy());
    for (const s of stats) expect(s.bytesSent).toBe(s.bytesDense);
  });

  it('a sparse vector that becomes dense as it is summed (rank-own zeros only): frames switch form mid-ring, the result is the same', async () => {
    const n = 5;
    const len = 4000;
    // rank r is zero except on indices ≡ r (mod 5): each partial sum is denser than its inputs
    const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => (i % n === r ? i * 0.5 + r : 0)));
    const want = ringReference(vs, 256);
    const rings = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 256 }));
    const stats = await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
    rings.forEach((r) => r.destroy());
    for (const v of vs) expect(sameBits(v, want)).toBe(true);
    const t = total(stats);
    expect(t.sent).toBeLessThan(t.dense);
    expect(t.sent).toBeGreaterThan(t.dense * 0.5); // the all-gather's sums are dense
  });

  for (const alg of ['halving-doubling', 'all-to-all', 'arc-tree', 'arc-gather'] as const) {
    for (const n of [2, 3, 5, 8, 9]) {
      it(`${alg} N=${n}: bit-identical on every rank, equal to its order over dense values; fewer bytes`, async () => {
        const len = 20_011;
        const vs = sparseVectors(n, len, n * 31 + alg.length);
        const want = latencyReference(alg, vs);
        const mesh = memoryMesh(n);
        const ars = mesh.map((links, rank) => new LatencyAllReduce({ jobTag: 5, epoch: 2, rank, size: n, algorithm: alg, links, chunkElems: 4096 }));
        try {
          const stats = await Promise.all(ars.map((a, r) => a.allReduce(0, vs[r]!, { timeoutMs: 20_000 })));
          for (let r = 0; r < n; r++) expect(sameBits(vs[r]!, want), `rank ${r}`).toBe(true);
          const t = total(stats);
          expect(t.sent).toBeLessThan(t.dense * 0.9);
        } finally {
          ars.forEach((a) => a.destroy());
        }
      });
    }
  }

  for (const poison of ['nan', 'huge'] as const) {
    it(`a poisoned sparse contribution (${poison}) travels masked and is still refused by the rank that sums it, blaming its sender`, async () => {
      const n = 4;
      const len = 3000;
      const vs = sparseVectors(n, len, 99);
      // rank 2 poisons a non-zero value of the segment it sends first (segment 2 of 4: values
      // 1500..2249), in a masked frame to rank 3, the first to sum it
      const at = vs[2]!.findIndex((x, i) => x !== 0 && i >= 1500);
      vs[2]![at] = poison === 'nan' ? NaN : 1e30;
      const rejected: string[] = [];
      const links = memoryRing(n);
      const rings = links.map((l, rank) => new RingAllReduce({
        jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 512,
        checkPartialSum: (_round, _off, values) => (values.some((x) => Math.abs(x) > 1e20) ? 'a value beyond 1e20' : null),
        onRejectedFrame: (code) => rejected.push(code),
      }));
      const ctrl = new AbortController();
      const codes = await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!, { signal: ctrl.signal, timeoutMs: 5000 }).then(() => null, (e: { code?: string; peer?: string }) => {
        ctrl.abort();
        return `${e.code}${e.peer ? ` from ${e.peer}` : ''}`;
      })));
      rings.forEach((r) => r.destroy());
      // the poisoned chunk went masked; rank 3 refused it (the frames still in flight then are stale)
      expect(maskedIsSmaller(512, nonZeroCount(vs[2]!.subarray(1500, 2012)))).toBe(true);
      expect(rejected[0]).toBe(poison === 'nan' ? 'FRAME_NON_FINITE' : 'FRAME_OUT_OF_BOUNDS');
      expect(rejected.slice(1).every((c) => c === 'FRAME_STALE')).toBe(true);
      expect(codes[3]).toBe(`${rejected[0]} from ${links[3]!.prev!.remoteId}`);
    });
  }

  it('maskZeros: false on every rank sends every frame dense (bytesSent = bytesDense); ranks that differ in it end with the same bits too', async () => {
    const n = 5;
    for (const dense of [(_r: number) => true, (r: number) => r % 2 === 1]) {
      const vs = sparseVectors(n, 9000, 4242);
      const want = ringReference(vs, 1024);
      const rings = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 1024, ...(dense(rank) ? { maskZeros: false } : {}) }));
      const stats = await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
      rings.forEach((r) => r.destroy());
      for (const v of vs) expect(sameBits(v, want)).toBe(true);
      // mixed: a dense rank forwards the all-gather's frames as they came, masked or not
      stats.forEach((s, rank) => (dense(0) ? expect(s.bytesSent).toBe(s.bytesDense) : !dense(rank) && expect(s.bytesSent).toBeLessThan(s.bytesDense)));
    }
  });
});

