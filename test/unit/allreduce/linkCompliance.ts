/**
 * The behaviour every Link transport must show. `linkCompliance(name, makePair, opts)`
 * registers a vitest `describe` block; call it from a *.test.ts file per transport.
 * `makePair()` must return two connected, open links: a → b and b → a.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { errorCode } from '../../../shared/errors.ts';
import type { Link } from '../../../shared/allreduce/link.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { hashFloat32 } from '../../../shared/hash.ts';

export interface ComplianceOptions {
  /** the transport really queues bytes (bufferedAmount > 0 under a burst): test that too */
  buffers: boolean;
  /** per-test timeout, ms */
  timeoutMs?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic content for message `seq` of `size` bytes; bytes 0..3 carry seq. */
export function patterned(seq: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  let x = (seq * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    m[i] = x & 0xff;
  }
  if (size >= 4) new DataView(m.buffer).setUint32(0, seq);
  return m;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolves with the first `n` messages `link` receives. */
export function collect(link: Link, n: number): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const got: Uint8Array[] = [];
    const offClose = link.onClose((e) => reject(e ?? new Error(`link closed after ${got.length} of ${n} messages`)));
    const off = link.onMessage((d) => {
      got.push(d);
      if (got.length === n) {
        off();
        offClose();
        resolve(got);
      }
    });
  });
}

/** Sends with a send window: waits for drained(high / 2) whenever more than `high` is queued. */
export async function sendWindowed(link: Link, msgs: Iterable<Uint8Array>, high = 4 * MiB): Promise<{ maxBuffered: number; waits: number }> {
  let maxBuffered = 0;
  let waits = 0;
  for (const m of msgs) {
    link.send(m);
    maxBuffered = Math.max(maxBuffered, link.bufferedAmount);
    if (link.bufferedAmount > high) {
      waits++;
      await link.drained(high / 2);
      expect(link.bufferedAmount).toBeLessThanOrEqual(high / 2);
    }
  }
  return { maxBuffered, waits };
}

function onceClosed(link: Link): Promise<Error | undefined> {
  return new Promise((resolve) => {
    if (link.closed) resolve(undefined);
    else link.onClose(resolve);
  });
}

function expectCode(fn: () => unknown, code: string) {
  let thrown: unknown = null;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a throw').not.toBeNull();
  expect(errorCode(thrown)).toBe(code);
}

export function linkCompliance(name: string, makePair: () => Promise<[Link, Link]>, opts: ComplianceOptions): void {
  const timeout = opts.timeoutMs ?? 60_000;
  describe(`Link compliance: ${name}`, () => {
    const made: Link[] = [];
    const pair = async (): Promise<[Link, Link]> => {
      const p = await makePair();
      made.push(...p);
      return p;
    };
    afterEach(() => {
      for (const l of made.splice(0)) l.close();
    });

    it('delivers many messages of varied sizes (1 B to 256 KiB) in order and intact', async () => {
      const [a, b] = await pair();
      const sizes = [1, 2, 3, 4, 5, 100, 1000, 16 * KiB, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 200_000, 256 * KiB];
      let x = 12345;
      for (let i = 0; i < 250; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        // mostly small and medium, some large
        sizes.push(i % 10 === 0 ? 128 * KiB + (x % (128 * KiB)) + 1 : 1 + (x % (32 * KiB)));
      }
      const msgs = sizes.map((s, i) => patterned(i, s));
      const got = collect(b, msgs.length);
      await sendWindowed(a, msgs);
      const recv = await got;
      expect(recv.length).toBe(msgs.length);
      for (let i = 0; i < msgs.length; i++) {
        expect(recv[i]!.byteLength, `size of message ${i}`).toBe(msgs[i]!.byteLength);
        expect(sameBytes(recv[i]!, msgs[i]!), `content of message ${i}`).toBe(true);
      }
      // and the other direction
      const back = collect(a, 3);
      for (let i = 0; i < 3; i++) b.send(patterned(1000 + i, 7 + i));
      const r = await back;
      for (let i = 0; i < 3; i++) expect(sameBytes(r[i]!, patterned(1000 + i, 7 + i))).toBe(true);
    }, timeout);

    it('keeps binary data intact: every byte value, views with an offset, plain Uint8Array out', async () => {
      const [a, b] = await pair();
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = patterned(7, 10_000);
      const view = big.subarray(1234, 1234 + 4321); // only the view's bytes may travel
      const floats = new Float32Array([1.5, -0, NaN, Infinity, -3.25e-38]);
      const fbytes = new Uint8Array(floats.buffer);
      const got = collect(b, 3);
      a.send(all);
      a.send(view);
      a.send(fbytes);
      const [r0, r1, r2] = await got;
      expect(sameBytes(r0!, all)).toBe(true);
      expect(sameBytes(r1!, view)).toBe(true);
      expect(sameBytes(r2!, fbytes)).toBe(true);
      for (const r of [r0!, r1!, r2!]) {
        // a Node Buffer's slice() aliases memory: receivers must get plain Uint8Arrays
        expect(Object.getPrototypeOf(r)).toBe(Uint8Array.prototype);
      }
      const back = new Float32Array(r2!.slice().buffer);
      expect(Object.is(back[1], -0)).toBe(true);
      expect(Number.isNaN(back[2])).toBe(true);
      expect(back[4]).toBe(floats[4]);
    }, timeout);

    it('stops delivering to an unsubscribed listener', async () => {
      const [a, b] = await pair();
      const seenByFirst: number[] = [];
      const off = b.onMessage((d) => seenByFirst.push(d[0]!));
      const first = collect(b, 1);
      a.send(Uint8Array.of(1));
      await first;
      off();
      const second = collect(b, 1);
      a.send(Uint8Array.of(2));
      expect((await second)[0]![0]).toBe(2);
      expect(seenByFirst).toEqual([1]);
    }, timeout);

    it('applies backpressure under a 32 MiB burst: bufferedAmount and drained() bound the queue', async () => {
      const [a, b] = await pair();
      const size = 64 * KiB;
      const count = (32 * MiB) / size;
      const high = 4 * MiB;
      let received = 0;
      let bad = -1;
      const done = new Promise<void>((resolve) => {
        const off = b.onMessage((d) => {
          if (bad < 0 && !sameBytes(d, patterned(received, size))) bad = received;
          if (++received === count) {
            off();
            resolve();
          }
        });
      });
      function* burst() {
        for (let i = 0; i < count; i++) yield patterned(i, size);
      }
      const { maxBuffered, waits } = await sendWindowed(a, burst(), high);
      await done;
      expect(bad).toBe(-1);
      expect(received).toBe(count);
      // the window held: never more than one message past the high-water mark
      expect(maxBuffered).toBeLessThanOrEqual(high + size);
      if (opts.buffers) expect(waits, 'the burst should have hit the high-water mark').toBeGreaterThan(0);
      // an unwindowed burst queues, and drained(0) waits for all of it to leave
      for (let i = 0; i < 64; i++) a.send(patterned(i, size));
      if (opts.buffers) expect(a.bufferedAmount).toBeGreaterThan(0);
      await a.drained(0);
      expect(a.bufferedAmount).toBe(0);
    }, timeout);

    it('close propagates to the other side and rejects drained() there and here', async () => {
      const [a, b] = await pair();
      const err = new Error('test closes a');
      const aClosed = onceClosed(a);
      const bClosed = onceClosed(b);
      let pending: Promise<void> | null = null;
      if (opts.buffers) {
        for (let i = 0; i < 128; i++) a.send(patterned(i, 64 * KiB));
        expect(a.bufferedAmount).toBeGreaterThan(0);
        pending = a.drained(0);
        pending.catch(() => {});
      }
      a.close(err);
      expect(a.closed).toBe(true);
      expect(await aClosed).toBe(err);
      await bClosed;
      expect(b.closed).toBe(true);
      if (pending) await expect(pending).rejects.toMatchObject({ code: 'LINK_CLOSED' });
      await expect(a.drained(0)).rejects.toMatchObject({ code: 'LINK_CLOSED' });
      await expect(b.drained(0)).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    }, timeout);

    it('throws LINK_CLOSED on send after close, on both sides', async () => {
      const [a, b] = await pair();
      const bClosed = onceClosed(b);
      b.close();
      expectCode(() => b.send(Uint8Array.of(1)), 'LINK_CLOSED');
      await bClosed;
      await onceClosed(a);
      expectCode(() => a.send(Uint8Array.of(1)), 'LINK_CLOSED');
    }, timeout);

    it('close is idempotent: each side reports closing exactly once', async () => {
      const [a, b] = await pair();
      let aCount = 0;
      let bCount = 0;
      a.onClose(() => aCount++);
      b.onClose(() => bCount++);
      const bClosed = onceClosed(b);
      const first = new Error('first');
      a.close(first);
      a.close(new Error('second'));
      a.close();
      await bClosed;
      b.close(new Error('after the remote closed'));
      expect(a.closed && b.closed).toBe(true);
      expect(aCount).toBe(1);
      expect(bCount).toBe(1);
    }, timeout);

    it('carries a 3-rank ring all-reduce: exact integer sums, bit-identical on every rank', async () => {
      const n = 3;
      // ring edge i: rank i → rank i+1
      const edges = await Promise.all(Array.from({ length: n }, () => pair()));
      const len = 300_007;
      const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 7 + r * 13) % 1000) - 500));
      const want = Float32Array.from({ length: len }, (_, i) => vs.reduce((s, v) => s + v[i]!, 0));
      const rings = vs.map(
        (_, r) => new RingAllReduce({ jobTag: 3, epoch: 1, rank: r, size: n, next: edges[r]![0], prev: edges[(r + n - 1) % n]![1], chunkElems: 16_384 }),
      );
      try {
        await Promise.all(rings.map((ring, r) => ring.allReduce(0, vs[r]!, { timeoutMs: timeout / 2 })));
        for (const v of vs) expect(hashFloat32(v)).toBe(hashFloat32(want));
        // a second step on the same links
        const ws = vs.map((v) => v.map((x) => x + 1));
        await Promise.all(rings.map((ring, r) => ring.allReduce(1, ws[r]!, { timeoutMs: timeout / 2 })));
        for (const w of ws) for (let i = 0; i < len; i += 1009) expect(w[i]).toBe(want[i]! * n + n);
      } finally {
        for (const ring of rings) ring.destroy();
      }
    }, timeout);

    it('carries a 3-rank ring all-reduce of sparse vectors in masked frames: fewer bytes, the same bits as dense', async () => {
      const n = 3;
      const edges = await Promise.all(Array.from({ length: n }, () => pair()));
      const len = 100_003;
      // a ReLU-like gradient: shared zero rows, rank-own zeros, some −0.0
      const vs = Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => (i % 5 === 0 || (i * 31 + r) % 7 === 0 ? 0 : i % 97 === 0 ? -0 : ((i * 13 + r * 7) % 2001) - 1000)));
      // integers: the sum is exact in any order; at a −0.0 on every rank it is −0.0
      const want = Float32Array.from({ length: len }, (_, i) => vs.reduce((s, v) => s + v[i]!, vs.every((v) => Object.is(v[i], -0)) ? -0 : 0));
      const rings = vs.map(
        (_, r) => new RingAllReduce({ jobTag: 4, epoch: 1, rank: r, size: n, next: edges[r]![0], prev: edges[(r + n - 1) % n]![1], chunkElems: 16_384 }),
      );
      try {
        const stats = await Promise.all(rings.map((ring, r) => ring.allReduce(0, vs[r]!, { timeoutMs: timeout / 2 })));
        for (const v of vs) expect(hashFloat32(v)).toBe(hashFloat32(want));
        for (const s of stats) expect(s.bytesSent).toBeLessThan(0.9 * s.bytesDense);
      } finally {
        for (const ring of rings) ring.destroy();
      }
    }, timeout);
  });
}
