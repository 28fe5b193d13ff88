import { afterEach, describe, expect, it } from 'vitest';
import { InputGate } from '../../../shared/allreduce/inputGate.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import type { CodecName } from '../../../shared/codec.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { mulberry32 } from '../../../shared/random.ts';
import { memoryRing } from './memoryRing.ts';

let live: RingAllReduce[] = [];
afterEach(() => {
  for (const r of live) r.destroy();
  live = [];
});

function ring(n: number, chunkElems: number, encoding: CodecName = 'fp32'): RingAllReduce[] {
  const rs = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems, encoding, exactTail: 3 }));
  live.push(...rs);
  return rs;
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/** Cuts [0, len) into pieces (like per-variable gradients) and returns them in a random order. */
function pieces(len: number, rnd: () => number): [number, number][] {
  const cuts = [0, len];
  for (let k = 0; k < 6; k++) cuts.push(Math.floor(rnd() * len));
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < sorted.length; i++) out.push([sorted[i]!, sorted[i + 1]! - sorted[i]!]);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('InputGate', () => {
  it('merges ranges and answers containment', () => {
    const g = new InputGate(100);
    let calls = 0;
    const off = g.onReady(() => calls++);
    g.markReady(50, 10);
    g.markReady(70, 30);
    expect(g.isReady(50, 10)).toBe(true);
    expect(g.isReady(55, 20)).toBe(false);
    g.markReady(60, 10);
    expect(g.isReady(50, 50)).toBe(true);
    expect(g.complete).toBe(false);
    g.markReady(0, 50);
    expect(g.complete).toBe(true);
    off();
    g.markReady(0, 1);
    expect(calls).toBe(4);
  });
});

describe('ring all-reduce with input arriving while it runs', () => {
  for (const n of [1, 2, 3, 5, 8]) {
    for (const encoding of ['fp32', 'int8'] as const) {
      it(`N=${n} ${encoding}: the same bits as with all input present at the start`, async () => {
        const len = 5003;
        const rnd = mulberry32(n * 31 + len);
        const inputs = Array.from({ length: n }, () => Float32Array.from({ length: len }, () => (rnd() - 0.5) * 10));
        // reference: complete vectors
        const ref = inputs.map((v) => v.slice());
        await Promise.all(ring(n, 128, encoding).map((r, i) => r.allReduce(0, ref[i]!)));
        // gated: each rank starts with an empty vector and fills it piece by piece, in its own order, between event-loop turns
        const vecs = inputs.map(() => new Float32Array(len));
        const gates = inputs.map(() => new InputGate(len));
        const rings = ring(n, 128, encoding);
        const runs = rings.map((r, i) => r.allReduce(0, vecs[i]!, { input: gates[i]! }));
        await Promise.all(inputs.map(async (v, i) => {
          for (const [off, l] of pieces(len, rnd)) {
            await tick();
            vecs[i]!.set(v.subarray(off, off + l), off);
            gates[i]!.markReady(off, l);
          }
        }));
        const stats = await Promise.all(runs);
        for (let i = 0; i < n; i++) expect(hashFloat32(vecs[i]!)).toBe(hashFloat32(ref[i]!));
        expect(new Set(vecs.map(hashFloat32)).size).toBe(1);
        if (n > 1) expect(stats.every((s) => s.framesSent > 0)).toBe(true);
      });
    }
  }

  it('sends frames before the input is complete (the overlap is real)', async () => {
    const n = 4;
    const len = 4096;
    const vecs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => r + i));
    const gates = vecs.map(() => new InputGate(len));
    const rings = ring(n, 64);
    const received = vecs.map(() => 0);
    // count frames each rank receives while every gate is still only half open
    const links = rings.map((r) => (r as unknown as { o: { prev: { onMessage(cb: () => void): () => void } } }).o.prev);
    const offs = links.map((l, i) => l.onMessage(() => received[i]!++));
    const runs = rings.map((r, i) => r.allReduce(0, vecs[i]!, { input: gates[i]! }));
    for (const g of gates) g.markReady(len / 2, len / 2);
    for (let k = 0; k < 50; k++) await tick();
    const whileHalf = [...received];
    for (const g of gates) g.markReady(0, len / 2);
    await Promise.all(runs);
    offs.forEach((o) => o());
    expect(Math.min(...whileHalf)).toBeGreaterThan(0);
    expect(Math.max(...whileHalf)).toBeLessThan(Math.min(...received));
    for (const v of vecs) for (let i = 0; i < len; i += 257) expect(v[i]).toBe(6 + 4 * i);
  });

  it('times out naming the step when the input never completes', async () => {
    const [r0, r1] = ring(2, 64);
    const g = new InputGate(100);
    g.markReady(0, 50);
    const a = r0!.allReduce(0, new Float32Array(100), { input: g, timeoutMs: 50 });
    const b = r1!.allReduce(0, new Float32Array(100), { timeoutMs: 50 });
    await expect(a).rejects.toThrow(/all-reduce of step 0 .* timed out/);
    await expect(b).rejects.toThrow(/timed out/);
  });

  it('rejects a gate of the wrong length', async () => {
    const [r0] = ring(2, 64);
    await expect(r0!.allReduce(0, new Float32Array(10), { input: new InputGate(11) })).rejects.toThrow(/input gate covers 11/);
  });
});
