import { describe, expect, it } from 'vitest';
import { memoryRing } from './memoryRing.ts';
import { decodeDelayReport, encodeDelayReport, frameStamp } from '../../../shared/allreduce/delayReport.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { mulberry32 } from '../../../shared/random.ts';


function randomVectors(n: number, len: number, seed: number): Float32Array[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: len }, () => (rnd() - 0.5) * 100));
}

/** The sum each segment gets: accumulated in ring order starting after the owner. */
function exactSum(vs: Float32Array[]): Float64Array {
  const out = new Float64Array(vs[0]!.length);
  for (const v of vs) for (let i = 0; i < v.length; i++) out[i]! += v[i]!;
  return out;
}

function ringOf(n: number, chunkElems: number): RingAllReduce[] {
  return memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 7, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems }));
}

async function allReduceAll(n: number, vs: Float32Array[], chunkElems: number) {
  const rings = ringOf(n, chunkElems);
  await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
  rings.forEach((r) => r.destroy());
}

describe('ring all-reduce over in-memory links', () => {
  for (let n = 1; n <= 8; n++) {
    for (const len of [1, 3, n - 1, 1001, 4099]) {
      for (const chunkElems of [1, 7, 16384]) {
        if (len < 1 || (chunkElems === 1 && len > 1001)) continue;
        it(`N=${n} length=${len} chunk=${chunkElems}: exact sum, bit-identical on every rank`, async () => {
          const vs = randomVectors(n, len, n * 1000 + len);
          const want = exactSum(vs);
          await allReduceAll(n, vs, chunkElems);
          const h = hashFloat32(vs[0]!);
          for (const v of vs) expect(hashFloat32(v)).toBe(h);
          for (let i = 0; i < len; i++) expect(Math.abs(vs[0]![i]! - want[i]!)).toBeLessThan(1e-3 * n);
        });
      }
    }
  }

  it('sums integers exactly and runs several steps on the same ring', async () => {
    const n = 5;
    const steps = 4;
    // rank r's vector at step s: r·1000 + i + s, so the sum is 10000 + 5i + 5s (exact in float32)
    const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: 777 }, (_, i) => r * 1000 + i));
    const rings = ringOf(n, 50);
    for (let s = 0; s < steps; s++) {
      const step = vs.map((v) => v.map((x) => x + s));
      await Promise.all(rings.map((r, i) => r.allReduce(s, step[i]!)));
      for (const v of step) for (let i = 0; i < 777; i++) expect(v[i]).toBe(10000 + 5 * i + 5 * s);
    }
    rings.forEach((r) => r.destroy());
  });

  it('handles a large vector with large chunks', async () => {
    const n = 4;
    const len = 1 << 20;
    const vs = randomVectors(n, len, 99);
    const want = exactSum(vs);
    await allReduceAll(n, vs, 16384);
    for (const v of vs) expect(hashFloat32(v)).toBe(hashFloat32(vs[0]!));
    let maxErr = 0;
    for (let i = 0; i < len; i += 97) maxErr = Math.max(maxErr, Math.abs(vs[0]![i]! - want[i]!));
    expect(maxErr).toBeLessThan(1e-3);
  });

  it('keeps frames that arrive before a rank starts the step', async () => {
    const n = 3;
    const links = memoryRing(n);
    const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 1, epoch: 0, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4 }));
    const vs = randomVectors(n, 50, 3);
    const want = exactSum(vs);
    const first = [rings[0]!.allReduce(0, vs[0]!), rings[1]!.allReduce(0, vs[1]!)];
    await new Promise((r) => setImmediate(r)); // let ranks 0 and 1 send before rank 2 starts
    await Promise.all([...first, rings[2]!.allReduce(0, vs[2]!)]);
    for (let i = 0; i < 50; i++) expect(vs[2]![i]!).toBeCloseTo(want[i]!, 3);
  });

  it('fails the step with LINK_CLOSED when a neighbour goes away', async () => {
    const n = 3;
    const links = memoryRing(n);
    const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 1, epoch: 0, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4 }));
    const p = rings[0]!.allReduce(0, new Float32Array(30));
    links[1]!.prev!.close();
    await expect(p).rejects.toMatchObject({ code: 'LINK_CLOSED' });
  });

  it('times out with a message that names the step', async () => {
    const links = memoryRing(2);
    const ring = new RingAllReduce({ jobTag: 1, epoch: 0, rank: 0, size: 2, prev: links[0]!.prev, next: links[0]!.next, chunkElems: 4 });
    await expect(ring.allReduce(5, new Float32Array(10), { timeoutMs: 20 })).rejects.toThrow(/all-reduce of step 5 .* timed out/);
  });
});

describe('automatic pacing', () => {
  for (const n of [2, 4]) {
    it(`an auto-paced ring of ${n} (no stated rate) gives the same bits as an unpaced one, and its ranks report one-way delay to their senders`, async () => {
      const len = 50_000;
      const plain = randomVectors(n, len, 99);
      const paced = plain.map((v) => Float32Array.from(v));
      await allReduceAll(n, plain, 4096);
      const reports = new Array<number>(n).fill(0);
      const links = memoryRing(n);
      // count the delay reports that reach each rank (on its next link: in a ring of two, its only one)
      links.forEach((l, rank) => l.next!.onMessage((d) => {
        if (decodeDelayReport(d)) reports[rank]!++;
      }));
      const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 7, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4096, autoPace: true }));
      await Promise.all(rings.map((r, i) => r.allReduce(0, paced[i]!, { timeoutMs: 20_000 })));
      rings.forEach((r) => r.destroy());
      for (let i = 0; i < n; i++) expect(hashFloat32(paced[i]!)).toBe(hashFloat32(plain[i]!));
      expect(reports.every((c) => c > 0)).toBe(true);
    });
  }

  it('a delay report on the link from the previous rank (left from an earlier ring order) is ignored, not taken for a bad frame', async () => {
    const n = 3;
    const links = memoryRing(n);
    const vecs = randomVectors(n, 20_000, 8);
    const want = vecs.map((v) => Float32Array.from(v));
    await allReduceAll(n, want, 4096);
    const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 7, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4096 }));
    // rank 0 sends its next rank a report: rank 1 gets it on its prev link
    links[0]!.next!.send(encodeDelayReport({ queueMs: 500, stamp: 1 }));
    await Promise.all(rings.map((r, i) => r.allReduce(0, vecs[i]!, { timeoutMs: 20_000 })));
    rings.forEach((r) => r.destroy());
    for (let i = 0; i < n; i++) expect(hashFloat32(vecs[i]!)).toBe(hashFloat32(want[i]!));
  });

  it('a rank that forwards without a pacer drops its sender’s stamp (a stale one would be timed)', async () => {
    const n = 3;
    const links = memoryRing(n);
    // stamped frames each rank receives from its previous rank
    const stamped = [0, 0, 0];
    links.forEach((l, rank) => l.prev!.onMessage((d) => {
      if (d.byteLength > 8 && frameStamp(d) !== null) stamped[rank]!++;
    }));
    const vecs = randomVectors(n, 30_000, 5);
    // only rank 0 paces automatically (and stamps); rank 1 forwards its frames to rank 2 unpaced
    const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 7, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4096, autoPace: rank === 0 }));
    await Promise.all(rings.map((r, i) => r.allReduce(0, vecs[i]!, { timeoutMs: 20_000 })));
    rings.forEach((r) => r.destroy());
    expect(stamped[1]).toBeGreaterThan(0);
    expect(stamped[2]).toBe(0);
  });
});
