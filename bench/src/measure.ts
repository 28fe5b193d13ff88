/**
 * Measurements on a Cluster of Node peers: ring all-reduce steps (nccl-tests style: every
 * rank times its own call after a barrier, the slowest rank is the step's time, the median
 * step is the figure), a single channel's point-to-point throughput, the all-to-all
 * exchange and the parameter server.
 */
import { TabswarmError } from '../../shared/errors.ts';
import type { Hosts, RingConfig, StepResult } from './hostProtocol.ts';
import { median } from './stats.ts';

export type { RingConfig } from './hostProtocol.ts';

/** the tuned ring with the settings `bench tune` chose: frames of exactly 256 KiB (the data channels' maxMessageSize), forwarded frames first */
export const TUNED: RingConfig = { impl: 'tuned', chunkBytes: 256 * 1024 - 32, highWater: 4 * 1024 * 1024, encoding: 'fp32', schedule: 'forward-first' };
export const BASELINE: RingConfig = { impl: 'baseline', chunkBytes: 64 * 1024, highWater: 4 * 1024 * 1024, encoding: 'fp32' };

export interface Timed {
  /** median over steps of the slowest rank */
  ms: number;
  samples: number[];
  /** most bytes one rank sent in one step (application bytes incl. frame headers) */
  bytesSent: number;
  /** wall seconds the measurement took */
  wallS: number;
}

let epoch = 1;

async function timedSteps(iters: number, warmup: number, step: (k: number) => Promise<StepResult[]>, check?: (r: StepResult[]) => void): Promise<Timed> {
  const t0 = performance.now();
  const samples: number[] = [];
  let bytesSent = 0;
  for (let k = 0; k < warmup + iters; k++) {
    const rs = await step(k);
    if (k === 0) check?.(rs);
    if (k < warmup) continue;
    samples.push(Math.max(...rs.map((r) => r.ms)));
    bytesSent = Math.max(bytesSent, ...rs.map((r) => r.bytesSent));
  }
  return { ms: median(samples), samples, bytesSent, wallS: (performance.now() - t0) / 1000 };
}

function sameHash(what: string): (rs: StepResult[]) => void {
  return (rs) => {
    if (new Set(rs.map((r) => r.hash)).size !== 1) throw new TabswarmError('HASH_MISMATCH', `${what}: ranks disagree on the result`);
  };
}

/** Ring all-reduce of `bytes` (fp32 values) over ranks 0..n-1 (links must be connected). */
export async function ringTime(c: Hosts, n: number, bytes: number, cfg: RingConfig, iters: number, warmup = 1): Promise<Timed> {
  const ranks = Array.from({ length: n }, (_, i) => i);
  const ep = epoch++;
  const ids = c.ids;
  await c.all((r) => ({
    ...cfg, op: 'ringSetup', rank: r, size: n, prev: ids[(r + n - 1) % n]!, next: ids[(r + 1) % n]!, elems: bytes / 4, epoch: ep,
  }), ranks);
  try {
    return await timedSteps(iters, warmup, (k) => c.all<StepResult>(() => ({ op: 'ringStep', step: k }), ranks), sameHash(`ring N=${n}`));
  } finally {
    await c.all(() => ({ op: 'ringTeardown' }), ranks);
  }
}

/** One channel, rank 0 → rank 1, the same message size and window as the ring. Returns MB/s (median). */
export async function p2pRate(c: Hosts, bytes: number, chunkBytes: number, highWater: number, iters: number): Promise<{ MBs: number; samples: number[] }> {
  const t = await timedSteps(iters, 1, async () => [await c.call<StepResult>(0, { op: 'p2pSend', to: c.ids[1]!, bytes, chunkBytes, highWater })]);
  return { MBs: bytes / 1e6 / (t.ms / 1000), samples: t.samples.map((ms) => bytes / 1e6 / (ms / 1000)) };
}

/** Every peer sends its full vector to every other peer (links: a full mesh). */
export async function allToAllTime(c: Hosts, n: number, bytes: number, iters: number, warmup = 1, timeoutMs?: number): Promise<Timed> {
  const ids = c.ids.slice(0, n);
  const base = epoch++ * 1000;
  return timedSteps(
    iters,
    warmup,
    (k) => c.all<StepResult>((r) => ({ op: 'a2a', peers: ids, rank: r, elems: bytes / 4, chunkBytes: 64 * 1024, highWater: 4 * 1024 * 1024, step: base + k }), ids.map((_, i) => i), timeoutMs),
    sameHash(`all-to-all N=${n}`),
  );
}

/** Each peer uploads to the parameter server, which sums and broadcasts (agents must be connected to it). */
export async function paramServerTime(c: Hosts, n: number, bytes: number, iters: number, warmup = 1): Promise<Timed> {
  const base = epoch++ * 1000;
  return timedSteps(iters, warmup, (k) => c.all<StepResult>(() => ({ op: 'psStep', step: base + k, elems: bytes / 4 }), Array.from({ length: n }, (_, i) => i)), sameHash(`parameter server N=${n}`));
}

/**
 * Every rank streams `bytes` to its next rank at once, with no dependencies between them:
 * the most each link carries while the reverse direction is busy too, as in a ring. Returns
 * the median and the slowest link's MB/s.
 */
export async function ringOfStreams(c: Hosts, n: number, bytes: number, chunkBytes: number, highWater: number): Promise<{ medianMBs: number; minMBs: number }> {
  const ids = c.ids;
  const rs = await c.all<StepResult>((r) => ({ op: 'p2pSend', to: ids[(r + 1) % n]!, bytes, chunkBytes, highWater }), Array.from({ length: n }, (_, i) => i));
  const rates = rs.map((r) => bytes / 1e6 / (r.ms / 1000));
  return { medianMBs: median(rates), minMBs: Math.min(...rates) };
}
