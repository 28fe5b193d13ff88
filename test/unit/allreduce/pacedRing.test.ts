import { afterEach, describe, expect, it } from 'vitest';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { memoryRing } from './memoryRing.ts';

let live: RingAllReduce[] = [];
afterEach(() => {
  for (const r of live) r.destroy();
  live = [];
});

describe('paced ring over in-memory links', () => {
  it('each rank may destroy its ring as soon as its step resolves: its pacer had handed every frame on', async () => {
    const n = 4;
    const len = 1 << 18;
    const rs = memoryRing(n).map((l, rank) => new RingAllReduce({ jobTag: 3, epoch: 1, rank, size: n, prev: l.prev, next: l.next, chunkElems: 4096, paceBytesPerSec: 20e6 }));
    live.push(...rs);
    const vs = rs.map((_, r) => Float32Array.from({ length: len }, (_, i) => r + (i % 100)));
    await Promise.all(rs.map((r, i) => r.allReduce(0, vs[i]!, { timeoutMs: 10_000 }).then(() => r.destroy())));
    for (const v of vs) for (let i = 0; i < len; i += 997) expect(v[i]).toBe(6 + 4 * (i % 100));
  });
});
