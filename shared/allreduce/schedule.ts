/**
 * Latency-optimal all-reduce schedules for small vectors, and the choice between them and
 * the ring. Pure arithmetic, no I/O: `planRounds` says, per rank and round, which element
 * ranges go to and come from which rank; `LatencyAllReduce` (latencyAllReduce.ts) runs a
 * plan over Links.
 *
 * Schedules (N ranks, vector of B bytes, α = per-message latency, β = seconds per byte):
 * - ring (ring.ts):       2(N−1) α + 2(N−1)/N · B β          bandwidth-optimal
 * - 'halving-doubling':   2⌈log₂ N⌉ α + ~2 B β               reduce-scatter by recursive
 *   halving, all-gather by recursive doubling; for N not a power of two the standard pre/post
 *   step folds the first 2r ranks (r = N − 2^⌊log₂ N⌋) pairwise: odd rank 2j+1 hands its vector
 *   to 2j before, and gets the result from 2j after (2 more rounds, 2 B β more)
 * - 'all-to-all':         1 α + (N−1) · B β                   one round: every rank sends its
 *   whole vector to every other and sums all N itself (needs a full mesh; for tiny vectors)
 * - 'arc-tree', 'arc-gather' (arcSchedules.ts): over the two ring-neighbour links only;
 *   reduce to one rank along both arcs and broadcast back (2⌈(N−1)/2⌉ hops), or pass every
 *   vector along both arcs and fold locally (⌊N/2⌋ rounds)
 *
 * Exactness (every rank ends with the same bits, summed in one fixed order that does not depend
 * on timing):
 * - 'all-to-all': every rank computes the left fold in rank order, ((x0 + x1) + x2) + … +
 *   x(N−1), each addition rounded to float32: the same operations on the same operands.
 * - 'halving-doubling': each element is summed once, by the rank that owns it after the
 *   reduce-scatter, and copied to everyone by the all-gather. Its order is a fixed tree,
 *   `halvingDoublingOrder`: leaves are (x0 + x1), (x2 + x3), …, (x(2r−2) + x(2r−1)), then
 *   x(2r), …, x(N−1) (p = 2^⌊log₂ N⌋ leaves in rank order); round k of the reduce-scatter adds
 *   adjacent aligned blocks of 2^k leaves, so the sum is the balanced binary tree over the
 *   leaves in order, e.g. N = 4: (x0 + x1) + (x2 + x3); N = 6: ((x0+x1) + (x2+x3)) + (x4 + x5).
 *   Every addition has two operands and IEEE addition is commutative, so which partner holds
 *   which operand does not matter.
 * - 'arc-tree': summed once, by rank 0, in the chain order `arcTreeOrder`, and copied to all.
 * - 'arc-gather': the same fold as 'all-to-all', on every rank.
 */
import { TabswarmError } from '../errors.ts';
import { arcGatherPlan, arcGatherRounds, arcTreePlan, arcTreeRounds } from './arcSchedules.ts';

export type LatencyAlgorithm = 'halving-doubling' | 'all-to-all' | 'arc-tree' | 'arc-gather';
export type ScheduleKind = 'ring' | LatencyAlgorithm;

/** `len` elements at `off` of the vector, to or from rank `peer`. */
export interface Transfer {
  peer: number;
  off: number;
  len: number;
  /**
   * whose vector this is, for schedules that forward other ranks' vectors ('arc-gather'):
   * sent from, or kept as, that rank's vector rather than this rank's running values
   */
  origin?: number;
}

/**
 * One round of a plan, for one rank: send `sends` (this rank's current values, or a kept
 * vector of `origin`), wait for all of `recvs`, then combine them: 'add' adds each into the
 * vector, 'set' copies each in (a finished sum, holding every rank's contribution), 'gather' keeps each as its origin's vector, 'fold' keeps them
 * too and then replaces the whole vector by the rank-order fold of all ranks' vectors.
 */
export interface Round {
  sends: Transfer[];
  recvs: Transfer[];
  op: 'add' | 'set' | 'gather' | 'fold';
}

/** p = the largest power of two ≤ n, k = log₂ p, r = n − p ranks folded in the pre-step. */
export function powerOfTwoSplit(n: number): { p: number; k: number; r: number } {
  if (!Number.isInteger(n) || n < 1) throw new TabswarmError('BAD_REQUEST', `a schedule needs n >= 1 ranks, got ${n}`);
  let k = 0;
  while (2 ** (k + 1) <= n) k++;
  return { p: 2 ** k, k, r: n - 2 ** k };
}

/** The virtual rank (0..p−1) of `rank` in the power-of-two core, or null for a pre-step helper (odd rank < 2r). */
function virtualRank(rank: number, r: number): number | null {
  if (rank < 2 * r) return rank % 2 === 0 ? rank / 2 : null;
  return rank - r;
}

function realRank(v: number, r: number): number {
  return v < r ? 2 * v : v + r;
}

/** The region [lo, hi) virtual rank `v` holds before reduce-scatter step `level` (level k: owned). */
function regions(v: number, k: number, length: number): [number, number][] {
  const out: [number, number][] = [[0, length]];
  let [lo, hi] = [0, length];
  for (let s = 0; s < k; s++) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (((v >> s) & 1) === 0) hi = mid;
    else lo = mid;
    out.push([lo, hi]);
  }
  return out;
}

/** Number of rounds of `alg` for n ranks (the same on every rank). */
export function roundCount(alg: LatencyAlgorithm, n: number): number {
  if (n === 1) return 0;
  if (alg === 'all-to-all') return 1;
  if (alg === 'arc-tree') return arcTreeRounds(n);
  if (alg === 'arc-gather') return arcGatherRounds(n);
  const { k, r } = powerOfTwoSplit(n);
  return 2 * k + (r > 0 ? 2 : 0);
}

/**
 * The plan of `rank` (of `n`) for a vector of `length` elements. Every rank's plan has
 * roundCount(alg, n) rounds, so round numbers match across ranks; a transfer in rank a's
 * round t to b is, element for element, a transfer in b's round t from a. Zero-length
 * transfers are left out on both sides.
 */
export function planRounds(alg: LatencyAlgorithm, rank: number, n: number, length: number): Round[] {
  const { k, r } = powerOfTwoSplit(n);
  if (!Number.isInteger(rank) || rank < 0 || rank >= n) throw new TabswarmError('BAD_REQUEST', `rank ${rank} is not in 0..${n - 1}`);
  if (!Number.isInteger(length) || length < 0) throw new TabswarmError('BAD_REQUEST', `bad vector length ${length}`);
  if (n === 1) return [];
  const keep = (ts: Transfer[]) => ts.filter((t) => t.len > 0);
  if (alg === 'all-to-all') {
    const others = Array.from({ length: n }, (_, i) => i).filter((i) => i !== rank);
    return [{ sends: keep(others.map((peer) => ({ peer, off: 0, len: length, origin: rank }))), recvs: keep(others.map((peer) => ({ peer, off: 0, len: length, origin: peer }))), op: 'fold' }];
  }
  if (alg === 'arc-tree') return arcTreePlan(rank, n, length);
  if (alg === 'arc-gather') return arcGatherPlan(rank, n, length);
  if (alg !== 'halving-doubling') throw new TabswarmError('BAD_REQUEST', `unknown schedule ${String(alg)}`);
  const rounds: Round[] = [];
  const v = virtualRank(rank, r);
  const idle = (): Round => ({ sends: [], recvs: [], op: 'add' });
  if (r > 0) {
    // pre-step: odd ranks below 2r hand their vector to the even rank before them
    if (v === null) rounds.push({ sends: keep([{ peer: rank - 1, off: 0, len: length }]), recvs: [], op: 'add' });
    else if (rank < 2 * r) rounds.push({ sends: [], recvs: keep([{ peer: rank + 1, off: 0, len: length }]), op: 'add' });
    else rounds.push(idle());
  }
  if (v === null) {
    for (let s = 0; s < 2 * k; s++) rounds.push(idle());
  } else {
    const reg = regions(v, k, length);
    // reduce-scatter: in step s keep one half of the region, add the partner's values for it
    for (let s = 0; s < k; s++) {
      const peer = realRank(v ^ (1 << s), r);
      const [lo, hi] = reg[s]!;
      const [klo, khi] = reg[s + 1]!;
      const give: Transfer = klo === lo ? { peer, off: khi, len: hi - khi } : { peer, off: lo, len: klo - lo };
      rounds.push({ sends: keep([give]), recvs: keep([{ peer, off: klo, len: khi - klo }]), op: 'add' });
    }
    // all-gather: undo the halving, copying the partner's finished half in
    for (let s = k - 1; s >= 0; s--) {
      const peer = realRank(v ^ (1 << s), r);
      const [lo, hi] = reg[s]!;
      const [mlo, mhi] = reg[s + 1]!;
      const theirs: Transfer = mlo === lo ? { peer, off: mhi, len: hi - mhi } : { peer, off: lo, len: mlo - lo };
      rounds.push({ sends: keep([{ peer, off: mlo, len: mhi - mlo }]), recvs: keep([theirs]), op: 'set' });
    }
  }
  if (r > 0) {
    // post-step: the even rank hands the result back
    if (v === null) rounds.push({ sends: [], recvs: keep([{ peer: rank - 1, off: 0, len: length }]), op: 'set' });
    else if (rank < 2 * r) rounds.push({ sends: keep([{ peer: rank + 1, off: 0, len: length }]), recvs: [], op: 'set' });
    else rounds.push(idle());
  }
  return rounds;
}

/** The ranks `rank` exchanges data with under `kind` (the links it needs). */
export function peersNeeded(kind: ScheduleKind, rank: number, n: number): number[] {
  if (n === 1) return [];
  if (kind === 'ring') return [...new Set([(rank + n - 1) % n, (rank + 1) % n])].sort((a, b) => a - b);
  const peers = new Set<number>();
  // the largest vector touches every transfer a plan can have
  for (const round of planRounds(kind, rank, n, 2 * n + 2)) for (const t of [...round.sends, ...round.recvs]) peers.add(t.peer);
  return [...peers].sort((a, b) => a - b);
}

/**
 * The order in which 'halving-doubling' sums element values (see the module comment), as a
 * nested tree of rank indices: a number is a rank's value, [a, b] is a + b. Reference for
 * tests and documentation.
 */
export type SumTree = number | [SumTree, SumTree];
export function halvingDoublingOrder(n: number): SumTree {
  const { p, r } = powerOfTwoSplit(n);
  let level: SumTree[] = Array.from({ length: p }, (_, v) => (v < r ? ([2 * v, 2 * v + 1] as SumTree) : v + r));
  while (level.length > 1) {
    const next: SumTree[] = [];
    for (let i = 0; i < level.length; i += 2) next.push([level[i]!, level[i + 1]!]);
    level = next;
  }
  return level[0]!;
}

/** Cost model of one all-reduce: α (per message, ms) and the per-rank link rate (bytes per ms). */
export interface NetModel {
  /** one message's latency, ms: data channel one-way delay plus scheduling (not RTT) */
  latencyMs: number;
  /** what one rank can send (and receive) per ms, bytes */
  bytesPerMs: number;
  /** all-to-all needs a connection to every rank: not above this many ranks */
  maxAllToAll?: number;
  /**
   * The crossover constant: from this many bytes on the ring is used whatever the model says.
   * For N a power of two halving-doubling costs no more bytes than the ring in the α-β model,
   * but only the ring pipelines its sums with its transfers, starts before the vector is
   * complete (InputGate), paces, and encodes (fp16, int8): above a few hundred KiB those win.
   */
  maxLatencyScheduleBytes?: number;
}

/**
 * Defaults for volunteers' tabs over the internet: 10 ms one-way per message, 5 MB/s per
 * rank. How to measure them for a deployment: run the ring over the real links for a sweep
 * of sizes (e.g. 1 KiB … 64 MiB, `tabswarm bench`); the ring's time is
 * t(B) = 2(N−1)·α + (2(N−1)/N)·B/bw, so a least-squares line through (B, t) gives α from the
 * intercept (÷ 2(N−1)) and bw from the slope. Better still, time 'halving-doubling' and
 * 'all-to-all' on the same sweep (with the ring's usual overlap and encoding on) and read the
 * crossover sizes directly: set α and bw so `crossoverBytes` reproduces them for N not a power
 * of two, and maxLatencyScheduleBytes to the measured crossover for N a power of two.
 */
export const DEFAULT_NET_MODEL: NetModel = { latencyMs: 10, bytesPerMs: 5_000, maxAllToAll: 16, maxLatencyScheduleBytes: 256 * 1024 };

/** Modelled time of one all-reduce of `bytes` over n ranks, ms. */
export function scheduleCostMs(kind: ScheduleKind, bytes: number, n: number, m: NetModel = DEFAULT_NET_MODEL): number {
  if (n <= 1) return 0;
  const a = m.latencyMs;
  const beta = 1 / m.bytesPerMs;
  switch (kind) {
    case 'ring':
      return 2 * (n - 1) * a + ((2 * (n - 1)) / n) * bytes * beta;
    case 'halving-doubling': {
      const { p, k, r } = powerOfTwoSplit(n);
      const extra = r > 0 ? 1 : 0;
      return (2 * k + 2 * extra) * a + ((2 * (p - 1)) / p + 2 * extra) * bytes * beta;
    }
    case 'all-to-all':
      if (n > (m.maxAllToAll ?? Infinity)) return Infinity;
      return a + (n - 1) * bytes * beta;
    case 'arc-tree': {
      // 2⌈(N−1)/2⌉ hops in a chain, pipelined in lanes of 64 KiB (as workers run it): the last lane leaves L−1 lane-times after the first
      const lanes = Math.max(1, Math.ceil(bytes / 65_536));
      return (2 * Math.ceil((n - 1) / 2) + lanes - 1) * (a + (bytes / lanes) * beta);
    }
    case 'arc-gather': // ⌊N/2⌋ rounds, each up to two whole vectors out of one uplink
      return Math.floor(n / 2) * a + (n - 1) * bytes * beta;
  }
}

/**
 * The schedule for an all-reduce of `bytes` over `n` ranks by the α-β model alone, among the
 * ring, 'halving-doubling' and 'all-to-all' (a reference for deployments with full meshes;
 * workers choose from measurements: scheduleChoice.ts): the cheapest by `scheduleCostMs`,
 * the ring on ties and from `maxLatencyScheduleBytes` on. Deterministic: every rank computes the same choice from the same inputs
 * (the job's vector size and the epoch's membership), so no agreement round is needed.
 */
export function chooseSchedule(bytes: number, n: number, m: NetModel = DEFAULT_NET_MODEL): ScheduleKind {
  let best: ScheduleKind = 'ring';
  if (n <= 1 || bytes >= (m.maxLatencyScheduleBytes ?? Infinity)) return best;
  let cost = scheduleCostMs('ring', bytes, n, m);
  for (const kind of ['halving-doubling', 'all-to-all'] as const) {
    const c = scheduleCostMs(kind, bytes, n, m);
    if (c < cost) [best, cost] = [kind, c];
  }
  return best;
}

/** The smallest vector size (bytes, to 1 byte) from which the ring is chosen for n ranks. */
export function crossoverBytes(n: number, m: NetModel = DEFAULT_NET_MODEL): number {
  if (n <= 1 || chooseSchedule(0, n, m) === 'ring') return 0;
  let lo = 0;
  let hi = 1;
  while (chooseSchedule(hi, n, m) !== 'ring') {
    hi *= 2;
    if (hi > 2 ** 50) return Infinity;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (chooseSchedule(mid, n, m) === 'ring') hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * For each round of `rank`'s plan: the ranks whose contributions its values hold right after
 * an 'add' round (for the poisoned-frame check of what a partner sent); [] for other rounds.
 * Found by running every rank's plan on sets of ranks instead of numbers: in
 * 'halving-doubling' every element of a transfer holds the same ranks' contributions.
 */
export function contributorsByRound(alg: LatencyAlgorithm, rank: number, n: number): number[][] {
  const plans = Array.from({ length: n }, (_, r) => planRounds(alg, r, n, 2 * n + 2));
  let held: Set<number>[] = Array.from({ length: n }, (_, r) => new Set([r]));
  const out: number[][] = [];
  const rounds = plans[0]?.length ?? 0;
  for (let t = 0; t < rounds; t++) {
    const next = held.map((h) => new Set(h));
    for (let r = 0; r < n; r++) {
      const round = plans[r]![t]!;
      if (round.op !== 'add') continue;
      for (const tr of round.recvs) for (const c of held[tr.peer]!) next[r]!.add(c);
    }
    held = next;
    out.push(plans[rank]![t]!.op === 'add' && plans[rank]![t]!.recvs.length > 0 ? [...held[rank]!].sort((a, b) => a - b) : []);
  }
  return out;
}
