import { describe, expect, it } from 'vitest';
import { memoryMesh } from './memoryRing.ts';
import { decodeExchangeHeader, EXCHANGE_PHASE, LatencyAllReduce } from '../../../shared/allreduce/latencyAllReduce.ts';
import { arcTreeOrder } from '../../../shared/allreduce/arcSchedules.ts';
import { chooseSchedule, crossoverBytes, DEFAULT_NET_MODEL, halvingDoublingOrder, peersNeeded, planRounds, roundCount, scheduleCostMs, type LatencyAlgorithm, type SumTree } from '../../../shared/allreduce/schedule.ts';
import { decodeHeader, encodeFrame, Phase } from '../../../shared/allreduce/frame.ts';
import { mulberry32 } from '../../../shared/random.ts';
import { InputGate } from '../../../shared/allreduce/inputGate.ts';


/** The value of `tree` at element i, each addition rounded to float32. */
function evalTree(tree: SumTree, vs: Float32Array[], i: number): number {
  if (typeof tree === 'number') return vs[tree]![i]!;
  return Math.fround(evalTree(tree[0], vs, i) + evalTree(tree[1], vs, i));
}

/** What every rank must hold, bit for bit, under `alg`. */
function reference(alg: LatencyAlgorithm, vs: Float32Array[]): Float32Array {
  const n = vs.length;
  const len = vs[0]!.length;
  const out = new Float32Array(len);
  if (alg === 'all-to-all' || alg === 'arc-gather') {
    for (let i = 0; i < len; i++) {
      let acc = vs[0]![i]!;
      for (let r = 1; r < n; r++) acc = Math.fround(acc + vs[r]![i]!);
      out[i] = acc;
    }
    return out;
  }
  const tree = alg === 'arc-tree' ? arcTreeOrder(n) : halvingDoublingOrder(n);
  for (let i = 0; i < len; i++) out[i] = evalTree(tree, vs, i);
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return false;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

async function runAll(alg: LatencyAlgorithm, vs: Float32Array[], steps = 1, chunkElems?: number, pipelineElems?: number) {
  const n = vs.length;
  const mesh = memoryMesh(n);
  const ars = mesh.map((links, rank) => new LatencyAllReduce({ jobTag: 5, epoch: 2, rank, size: n, algorithm: alg, links, chunkElems, pipelineElems }));
  try {
    for (let s = 0; s < steps; s++) await Promise.all(ars.map((a, r) => a.allReduce(s, vs[r]!, { timeoutMs: 20_000 })));
  } finally {
    for (const a of ars) a.destroy();
  }
}

const ALGS: LatencyAlgorithm[] = ['halving-doubling', 'all-to-all', 'arc-tree', 'arc-gather'];

describe('latency-optimal all-reduce schedules over in-memory links', () => {
  for (const alg of ALGS) {
    for (let n = 1; n <= 9; n++) {
      for (const len of [0, 1, 7, 1000, 200_003]) {
        it(`${alg} N=${n} length=${len}: integers sum exactly (one lane); random floats (lanes of 4099) are bit-identical on every rank and follow the documented order`, async () => {
          const ints = Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 7919 + r * 104729) % 20001) - 10000));
          const exact = Float32Array.from({ length: len }, (_, i) => ints.reduce((acc, v) => acc + v[i]!, 0));
          await runAll(alg, ints);
          for (const v of ints) expect(sameBits(v, exact)).toBe(true);

          const rnd = mulberry32(n * 100_003 + len);
          const vs = Array.from({ length: n }, () => Float32Array.from({ length: len }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 20)));
          const want = reference(alg, vs);
          await runAll(alg, vs, 1, undefined, 4099);
          for (let r = 0; r < n; r++) expect(sameBits(vs[r]!, vs[0]!), `rank ${r} vs rank 0`).toBe(true);
          expect(sameBits(vs[0]!, want)).toBe(true);
        });
      }
    }
  }

  it('runs several steps on the same instances, with small frames (many chunks per transfer) and lanes', async () => {
    for (const alg of ALGS) {
      const n = 6;
      const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: 333 }, (_, i) => r + i));
      await runAll(alg, vs, 3, 10, 50);
      // three all-reduces: each multiplies the sum over ranks; integers stay exact
      const once = (i: number) => 15 + 6 * i;
      for (const v of vs) for (let i = 0; i < 333; i++) expect(v[i]).toBe(once(i) * 36);
    }
  });

  it('lanes start as their input is written (InputGate, marked back to front); the sum is the same', async () => {
    for (const alg of ['arc-tree', 'halving-doubling'] as const) {
      const n = 5;
      const len = 1000;
      const mesh = memoryMesh(n);
      const ars = mesh.map((links, rank) => new LatencyAllReduce({ jobTag: 1, epoch: 0, rank, size: n, algorithm: alg, links, pipelineElems: 128 }));
      const vs = Array.from({ length: n }, () => new Float32Array(len));
      const gates = vs.map(() => new InputGate(len));
      let sent = 0;
      for (const row of mesh) for (const l of row) if (l) {
        const send = l.send.bind(l);
        l.send = (d) => (sent++, send(d));
      }
      const running = ars.map((a, r) => a.allReduce(0, vs[r]!, { input: gates[r]!, timeoutMs: 10_000 }));
      for (let off = len - 100; off >= 0; off -= 100) {
        await new Promise((r) => setImmediate(r)); // lanes already written run meanwhile
        if (off === 0) expect(sent, 'frames sent before the input was complete').toBeGreaterThan(0);
        for (let r = 0; r < n; r++) {
          for (let i = off; i < off + 100; i++) vs[r]![i] = r * 1000 + i;
          gates[r]!.markReady(off, 100);
        }
      }
      await Promise.all(running);
      for (const v of vs) for (let i = 0; i < len; i++) expect(v[i]).toBe(10_000 + 5 * i);
      for (const a of ars) a.destroy();
    }
  });

  it('keeps frames that arrive before a rank starts the step', async () => {
    const n = 5;
    const mesh = memoryMesh(n);
    const ars = mesh.map((links, rank) => new LatencyAllReduce({ jobTag: 1, epoch: 0, rank, size: n, algorithm: 'halving-doubling', links }));
    const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: 50 }, (_, i) => r * i));
    const first = ars.slice(0, 4).map((a, r) => a.allReduce(0, vs[r]!));
    await new Promise((r) => setImmediate(r));
    await Promise.all([...first, ars[4]!.allReduce(0, vs[4]!)]);
    for (const v of vs) for (let i = 0; i < 50; i++) expect(v[i]).toBe(10 * i);
    for (const a of ars) a.destroy();
  });

  it('fails with LINK_CLOSED when a partner goes away, and TIMEOUT when one never starts', async () => {
    const mesh = memoryMesh(3);
    const ars = mesh.map((links, rank) => new LatencyAllReduce({ jobTag: 1, epoch: 0, rank, size: 3, algorithm: 'all-to-all', links }));
    const p = ars[0]!.allReduce(0, new Float32Array(10), { timeoutMs: 5000 });
    mesh[1]![0]!.close();
    await expect(p).rejects.toThrow(/LINK_CLOSED/);
    const mesh2 = memoryMesh(4);
    const b = mesh2.map((links, rank) => new LatencyAllReduce({ jobTag: 1, epoch: 0, rank, size: 4, algorithm: 'halving-doubling', links }));
    await expect(b[0]!.allReduce(0, new Float32Array(10), { timeoutMs: 100 })).rejects.toThrow(/TIMEOUT: all-reduce \(halving-doubling\) of step 0/);
    for (const a of [...ars, ...b]) a.destroy();
  });

  it('rejects a misrouted frame (wrong round) with a coded error', async () => {
    const mesh = memoryMesh(2);
    const a = new LatencyAllReduce({ jobTag: 1, epoch: 0, rank: 0, size: 2, algorithm: 'halving-doubling', links: mesh[0]! });
    const p = a.allReduce(0, new Float32Array(4), { timeoutMs: 5000 });
    const f = encodeFrame({ phase: Phase.ReduceScatter, jobTag: 1, epoch: 0, step: 0, round: 7, segment: 1, chunk: 0 }, new Float32Array(2));
    f[3] = EXCHANGE_PHASE;
    mesh[1]![0]!.send(f);
    await expect(p).rejects.toThrow(/FRAME_MISROUTED: round 7 from rank 1/);
    a.destroy();
  });

  it('exchange frames and ring frames cannot be confused', () => {
    const f = encodeFrame({ phase: Phase.ReduceScatter, jobTag: 1, epoch: 0, step: 0, round: 0, segment: 0, chunk: 0 }, new Float32Array(3));
    expect(() => decodeExchangeHeader(f)).toThrow(/FRAME_BAD_PHASE/);
    f[3] = EXCHANGE_PHASE;
    expect(() => decodeHeader(f)).toThrow(/FRAME_BAD_PHASE/);
    expect(decodeExchangeHeader(f).count).toBe(3);
  });
});

describe('schedule plans', () => {
  it('every send has a matching receive on the partner, in the same round, and the round counts agree', () => {
    for (const alg of ALGS) {
      for (let n = 1; n <= 17; n++) {
        for (const len of [0, 1, 5, 97]) {
          const plans = Array.from({ length: n }, (_, r) => planRounds(alg, r, n, len));
          for (const p of plans) expect(p.length).toBe(roundCount(alg, n));
          for (let r = 0; r < n; r++) {
            plans[r]!.forEach((round, t) => {
              const carries = (x: { origin?: number }, sender: number) => (x.origin === undefined ? {} : { origin: x.origin ?? sender });
              for (const s of round.sends) expect(plans[s.peer]![t]!.recvs).toContainEqual({ peer: r, off: s.off, len: s.len, ...carries(s, r) });
              for (const q of round.recvs) expect(plans[q.peer]![t]!.sends).toContainEqual({ peer: r, off: q.off, len: q.len, ...carries(q, q.peer) });
            });
          }
        }
      }
    }
  });

  it('halving-doubling: log-many rounds and partners; the documented sum order', () => {
    expect(roundCount('halving-doubling', 8)).toBe(6);
    expect(roundCount('halving-doubling', 9)).toBe(8);
    expect(peersNeeded('halving-doubling', 0, 8)).toEqual([1, 2, 4]);
    expect(peersNeeded('halving-doubling', 1, 6)).toEqual([0]); // a pre-step helper talks to its even neighbour only
    expect(peersNeeded('all-to-all', 2, 4)).toEqual([0, 1, 3]);
    expect(peersNeeded('ring', 0, 2)).toEqual([1]);
    expect(halvingDoublingOrder(1)).toBe(0);
    expect(halvingDoublingOrder(4)).toEqual([[0, 1], [2, 3]]);
    expect(halvingDoublingOrder(6)).toEqual([[[0, 1], [2, 3]], [4, 5]]);
    expect(halvingDoublingOrder(7)).toEqual([[[0, 1], [2, 3]], [[4, 5], 6]]);
  });

  it('arc-tree and arc-gather talk to ring neighbours only; their round counts and sum order', () => {
    for (const alg of ['arc-tree', 'arc-gather'] as const) {
      for (let n = 1; n <= 17; n++) {
        for (let r = 0; r < n; r++) {
          const neighbours = n === 1 ? [] : [...new Set([(r + n - 1) % n, (r + 1) % n])];
          for (const p of peersNeeded(alg, r, n)) expect(neighbours, `${alg} N=${n} rank ${r}`).toContain(p);
        }
      }
    }
    // the ring's 2(N−1) = 14 sequential hops at N = 8: arc-tree 2·4 (+1 plan round with no hop of its own), arc-gather 4
    expect(roundCount('arc-tree', 8)).toBe(9);
    expect(roundCount('arc-gather', 8)).toBe(4);
    expect(roundCount('arc-gather', 9)).toBe(4);
    expect(arcTreeOrder(1)).toBe(0);
    expect(arcTreeOrder(2)).toEqual([0, 1]);
    expect(arcTreeOrder(5)).toEqual([[0, [1, 2]], [4, 3]]);
    expect(arcTreeOrder(8)).toEqual([[0, [1, [2, [3, 4]]]], [7, [6, 5]]]);
  });

  it('chooseSchedule: latency-optimal for small vectors, the ring for large ones; deterministic crossover', () => {
    for (const n of [3, 4, 8, 9]) {
      expect(chooseSchedule(64, n)).not.toBe('ring');
      expect(chooseSchedule(64 * 1024 * 1024, n)).toBe('ring');
      const x = crossoverBytes(n);
      expect(x).toBeGreaterThan(0);
      expect(chooseSchedule(x, n)).toBe('ring');
      expect(chooseSchedule(x - 1, n)).not.toBe('ring');
    }
    expect(chooseSchedule(1000, 1)).toBe('ring');
    expect(chooseSchedule(16, 32)).toBe('halving-doubling'); // beyond maxAllToAll
    expect(scheduleCostMs('all-to-all', 0, 32)).toBe(Infinity);
    // with the defaults, 8 ranks: the ring's 14 latencies cost 140 ms; halving-doubling's 6 cost 60 ms
    expect(scheduleCostMs('ring', 0, 8)).toBe(14 * DEFAULT_NET_MODEL.latencyMs);
    expect(scheduleCostMs('halving-doubling', 0, 8)).toBe(6 * DEFAULT_NET_MODEL.latencyMs);
    console.info(`crossover to the ring (default model): ${[2, 3, 4, 8, 9, 16].map((n) => `N=${n}: ${crossoverBytes(n)} B`).join(', ')}`);
  });
});

describe('latency schedules: the checks and the carry-over the worker relies on', () => {
  for (const alg of ['halving-doubling', 'arc-tree', 'arc-gather', 'all-to-all'] as const)
  it(`${alg}: checkSum sees, after each add, exactly the contributions of the ranks it is told about (N = 2..9)`, async () => {
    for (let n = 2; n <= 9; n++) {
      const mesh = memoryMesh(n);
      const seen: { ranks: readonly number[]; values: Float32Array }[] = [];
      const ars = mesh.map((links, rank) => new LatencyAllReduce({
        jobTag: 5, epoch: 2, rank, size: n, algorithm: alg, links,
        checkSum: (ranks, _off, values) => (seen.push({ ranks: [...ranks], values: values.slice() }), null),
      }));
      // rank r contributes 2^r everywhere: a partial sum names its contributors
      const vs = Array.from({ length: n }, (_, r) => new Float32Array(12).fill(2 ** r));
      try {
        await Promise.all(ars.map((a, r) => a.allReduce(0, vs[r]!, { timeoutMs: 10_000 })));
      } finally {
        for (const a of ars) a.destroy();
      }
      expect(seen.length).toBeGreaterThan(0);
      for (const s of seen) {
        const want = s.ranks.reduce((acc, r) => acc + 2 ** r, 0);
        expect([...s.values].every((v) => v === want), `N=${n} ranks ${s.ranks.join(',')}`).toBe(true);
      }
    }
  });

  for (const [alg, n, bad, victim, blamed, poison, code] of [
    ['arc-tree', 6, 2, 1, 2, 1e6, 'FRAME_OUT_OF_BOUNDS'], // 2 adds itself to 3's partial sum and hands it to 1
    ['arc-gather', 7, 3, 4, 3, 1e6, 'FRAME_OUT_OF_BOUNDS'],
    ['arc-gather', 7, 3, 2, 3, NaN, 'FRAME_NON_FINITE'],
    ['arc-tree', 5, 3, 4, 3, NaN, 'FRAME_NON_FINITE'], // 3 starts the left arc: 4 adds its NaN first
    ['arc-tree', 5, 0, 1, 0, 1e6, 'FRAME_OUT_OF_BOUNDS'], // the root sums last: its neighbours check the sum it hands out
    ['arc-tree', 5, 0, 4, 0, 1e6, 'FRAME_OUT_OF_BOUNDS'],
    ['halving-doubling', 4, 1, 0, 1, 1e6, 'FRAME_OUT_OF_BOUNDS'],
  ] as const) {
    it(`${alg} N=${n}: rank ${bad}'s poisoned vector (${poison}) is rejected by its neighbour ${victim} with ${code}, blaming ${blamed}`, async () => {
      const mesh = memoryMesh(n);
      const ars = mesh.map((links, rank) => new LatencyAllReduce({
        jobTag: 5, epoch: 2, rank, size: n, algorithm: alg, links,
        // the poisoning rank does not check what it sends on
        checkSum: rank === bad ? undefined : (_ranks, _off, values) => (values.some((v) => Math.abs(v) > 1e5) ? 'too large' : null),
      }));
      const vs = Array.from({ length: n }, (_, r) => new Float32Array(8).fill(r === bad ? poison : 1));
      const results = await Promise.allSettled(ars.map((a, r) => a.allReduce(0, vs[r]!, { timeoutMs: 2000 })));
      for (const a of ars) a.destroy();
      const r = results[victim]!;
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as { code: string; peer?: string };
      expect(e.code).toBe(code);
      expect(e.peer).toBe(mesh[victim]![blamed]!.remoteId);
      // no honest rank completes with the poison in its sum
      for (const [i, x] of results.entries()) if (i !== bad && x.status === 'fulfilled') expect(vs[i]!.every((v) => Math.abs(v) <= 1e5), `rank ${i}`).toBe(true);
    });
  }

  it('a partner whose values fail the check is blamed: FRAME_OUT_OF_BOUNDS naming it', async () => {
    const n = 4;
    const mesh = memoryMesh(n);
    const ars = mesh.map((links, rank) => new LatencyAllReduce({
      jobTag: 5, epoch: 2, rank, size: n, algorithm: 'halving-doubling', links,
      checkSum: (_ranks, _off, values) => (values.some((v) => Math.abs(v) > 1e5) ? 'too large' : null),
    }));
    const vs = Array.from({ length: n }, (_, r) => new Float32Array(8).fill(r === 1 ? 1e6 : 1));
    const results = await Promise.allSettled(ars.map((a, r) => a.allReduce(0, vs[r]!, { timeoutMs: 2000 })));
    for (const a of ars) a.destroy();
    const r0 = results[0]!;
    expect(r0.status).toBe('rejected');
    const e = (r0 as PromiseRejectedResult).reason as { code: string; peer?: string };
    expect(e.code).toBe('FRAME_OUT_OF_BOUNDS');
    expect(e.peer).toBe(mesh[0]![1]!.remoteId); // rank 0's link to its first partner, rank 1, which sent the values
  });

  it('frames of a later epoch go to onFutureEpochFrame and, carried into the next instance, complete its step', async () => {
    const n = 3;
    const mesh = memoryMesh(n);
    const carried: { from: number; bytes: Uint8Array }[] = [];
    const old0 = new LatencyAllReduce({ jobTag: 5, epoch: 1, rank: 0, size: n, algorithm: 'halving-doubling', links: mesh[0]!, onFutureEpochFrame: (from, bytes) => carried.push({ from, bytes }) });
    const next = [1, 2].map((rank) => new LatencyAllReduce({ jobTag: 5, epoch: 2, rank, size: n, algorithm: 'halving-doubling', links: mesh[rank]!, firstStep: 7 }));
    const vs = Array.from({ length: n }, (_, r) => new Float32Array(100).fill(r + 1));
    const running = next.map((a, i) => a.allReduce(7, vs[i + 1]!, { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 0)); // let the memory links deliver
    expect(carried.length).toBeGreaterThan(0);
    old0.destroy();
    const new0 = new LatencyAllReduce({ jobTag: 5, epoch: 2, rank: 0, size: n, algorithm: 'halving-doubling', links: mesh[0]!, firstStep: 7, carriedFrames: carried });
    await Promise.all([new0.allReduce(7, vs[0]!, { timeoutMs: 10_000 }), ...running]);
    for (const v of vs) expect([...v].every((x) => x === 6)).toBe(true);
    for (const a of [new0, ...next]) a.destroy();
  });
});
