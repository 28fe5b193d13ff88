/**
 * The worker's all-reduce as RingLinks builds it (schedule choice, partners, rank mapping),
 * over in-memory links: for N = 1..9 and vector lengths from 0 to large, every rank ends
 * with the same bits, equal to the exact sum; small vectors on rings of 3 to 9 really run
 * arc-tree (pipelined in lanes of one 16 KiB frame here), over ring-neighbour links only.
 */
import { describe, expect, it } from 'vitest';
import { RingLinks } from '../../../client/worker/ringLinks.ts';
import type { Mesh } from '../../../client/worker/sessionTypes.ts';
import { ErrorFeedback } from '../../../shared/codec.ts';
import type { JobSpec } from '../../../shared/jobSpec.ts';
import type { Link } from '../../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';
import { ARC_TREE_MAX_BYTES as LATENCY_SCHEDULE_MAX_BYTES, workerSchedule } from '../../../shared/allreduce/scheduleChoice.ts';

/** Meshes over one shared table of in-memory link pairs; records who connected to whom. */
function memoryMeshes(ids: string[]) {
  const pairs = new Map<string, [Link, Link]>();
  const connects: [string, string][] = [];
  const mesh = (me: string): Mesh => ({
    connect: async (other) => {
      connects.push([me, other]);
      const [lo, hi] = me < other ? [me, other] : [other, me];
      const key = `${lo}|${hi}`;
      if (!pairs.has(key)) pairs.set(key, memoryLinkPair(hi, lo)); // [at lo (to hi), at hi (to lo)]
      const [atLo, atHi] = pairs.get(key)!;
      return me === lo ? atLo : atHi;
    },
    handleSignal: () => {},
    retain: () => {},
    destroy: () => {},
  });
  return { meshes: ids.map(mesh), connects };
}

/** RingLinks reads only the frame size and the encoding of the spec */
const spec = { chunkBytes: 16 * 1024, encoding: 'fp32' } as JobSpec;

async function reduceAll(n: number, len: number, steps = 2) {
  const ids = Array.from({ length: n }, (_, i) => `p${i}`);
  const { meshes, connects } = memoryMeshes(ids);
  const links = meshes.map((mesh) => new RingLinks({ mesh, jobId: 'job', spec, vectorLength: len, latencyMaxBytes: LATENCY_SCHEDULE_MAX_BYTES, feedback: new ErrorFeedback(), checkPartialSum: () => null, checkSum: () => null }));
  const ctrl = new AbortController();
  const schedules = new Set<string>();
  try {
    for (let step = 0; step < steps; step++) {
      const vs = ids.map((_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 7919 + r * 104729 + step) % 20001) - 10000));
      const exact = Float32Array.from({ length: len }, (_, i) => vs.reduce((acc, v) => acc + v[i]!, 0));
      const reducers = await Promise.all(links.map((l, rank) => l.ringFor(1, step === 0 ? 0 : step, ids, rank, ctrl.signal)));
      for (const r of reducers) schedules.add(r.schedule);
      await Promise.all(reducers.map((r, rank) => r.allReduce(step, vs[rank]!, { timeoutMs: 20_000 })));
      for (const v of vs) expect(Buffer.from(v.buffer).equals(Buffer.from(exact.buffer))).toBe(true);
    }
  } finally {
    for (const l of links) l.destroy();
  }
  return { schedules: [...schedules], connects };
}

describe('the worker all-reduce (RingLinks) over in-memory links', () => {
  const large = 200_003;
  for (let n = 1; n <= 9; n++) {
    for (const len of [0, 1, 7, 1000, LATENCY_SCHEDULE_MAX_BYTES / 4, LATENCY_SCHEDULE_MAX_BYTES / 4 + 1, large]) {
      it(`N=${n} length=${len}: ${workerSchedule(len * 4, n, 'fp32', LATENCY_SCHEDULE_MAX_BYTES).kind}, every rank the exact sum, bit for bit`, async () => {
        const { schedules, connects } = await reduceAll(n, len);
        expect(schedules).toEqual([workerSchedule(len * 4, n, 'fp32', LATENCY_SCHEDULE_MAX_BYTES).kind]);
        expect(schedules).toEqual([n >= 3 && n <= 9 && len * 4 <= LATENCY_SCHEDULE_MAX_BYTES ? 'arc-tree' : 'ring']);
        // every link is to a ring neighbour
        for (const [a, b] of connects) {
          const i = Number(a.slice(1));
          const j = Number(b.slice(1));
          expect([(i + 1) % n, (i + n - 1) % n]).toContain(j);
        }
      });
    }
  }
});
