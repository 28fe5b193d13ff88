/**
 * Latency schedules that use only the two ring-neighbour links, for rings of any size: each
 * tab keeps data channels to its ring neighbours only, and the coordinator lets a member
 * signal and accuse only those (see the README's security model), so these need no new links
 * and no policy change. Pure arithmetic, no I/O; LatencyAllReduce runs the plans.
 *
 * With a = ⌈(N−1)/2⌉ (the longer arc) and b = N−1−a, on a ring of N positions:
 * - 'arc-tree': reduce toward position 0 along both arcs, then broadcast back along both.
 *   The right arc 1..a is a chain: position a hands x_a to a−1, which adds its own and hands
 *   the partial sum on, down to 0; the left arc (N−1 down to a+1) does the same towards 0 from
 *   the other side. 2a sequential hops (the ring: 2(N−1)), each carrying the whole vector;
 *   every element is summed once, by position 0, in the fixed order `arcTreeOrder`, and copied
 *   to everyone: the same bits on every rank.
 * - 'arc-gather': every position's vector travels a hops clockwise and b counter-clockwise, so
 *   after a = ⌊N/2⌋ rounds (the ring's diameter, the fewest any ring-only schedule can
 *   have) every rank holds all N vectors and folds them in rank order, ((x0 + x1) + x2) + …,
 *   as 'all-to-all' does over a full mesh: the same operations on the same operands, the same
 *   bits. Each rank receives (N−1)·B bytes: for tiny vectors only.
 *
 * Round numbers are plan indices, not clock ticks: LatencyAllReduce passes a round with
 * nothing to do at once, so the time is the data-flow chain, not the round count.
 */
import type { Round, SumTree, Transfer } from './schedule.ts';

function arcs(n: number): { a: number; b: number } {
  const a = Math.ceil((n - 1) / 2);
  return { a, b: n - 1 - a };
}

/** Rounds of 'arc-tree' (right reduce a, the left arc's last hop into 0, broadcast a). */
export function arcTreeRounds(n: number): number {
  return n <= 1 ? 0 : 2 * arcs(n).a + 1;
}

/** Rounds of 'arc-gather'. */
export function arcGatherRounds(n: number): number {
  return n <= 1 ? 0 : arcs(n).a;
}

const keep = (ts: Transfer[]) => ts.filter((t) => t.len > 0);

/**
 * 'arc-tree' for position `rank`. Reduce: right-arc position d (1..a) receives from d+1 in
 * round a−d−1 and sends to d−1 in round a−d, so 0 adds the right arc in round a−1; left-arc
 * position N−e (e = 1..b) receives from N−e−1 in round a−e and sends in round a−e+1, so 0
 * adds the left arc in round a — a round of its own, so each add's contributors are exact
 * (the poisoned-partial-sum check counts them). Broadcast: 0 sends both ways in round a+1;
 * a position at distance d from 0 receives in round a+d and passes it on in round a+d+1.
 */
export function arcTreePlan(rank: number, n: number, length: number): Round[] {
  const { a, b } = arcs(n);
  const rounds: Round[] = Array.from({ length: arcTreeRounds(n) }, (_, t) => ({ sends: [], recvs: [], op: t <= a ? 'add' : 'set' }));
  if (n <= 1) return rounds;
  const whole = (peer: number): Transfer => ({ peer, off: 0, len: length });
  const at = (t: number) => rounds[t]!;
  if (rank === 0) {
    at(a - 1).recvs.push(whole(1));
    if (b > 0) at(a).recvs.push(whole(n - 1));
    at(a + 1).sends.push(whole(1));
    if (b > 0) at(a + 1).sends.push(whole(n - 1));
  } else if (rank <= a) {
    const d = rank;
    if (d < a) at(a - d - 1).recvs.push(whole(d + 1));
    at(a - d).sends.push(whole(d - 1));
    at(a + d).recvs.push(whole(d - 1));
    if (d < a) at(a + d + 1).sends.push(whole(d + 1));
  } else {
    const e = n - rank;
    const towardRoot = (rank + 1) % n;
    if (e < b) at(a - e).recvs.push(whole(rank - 1));
    at(a - e + 1).sends.push(whole(towardRoot));
    at(a + e).recvs.push(whole(towardRoot));
    if (e < b) at(a + e + 1).sends.push(whole(rank - 1));
  }
  return rounds.map((r) => ({ ...r, sends: keep(r.sends), recvs: keep(r.recvs) }));
}

/**
 * 'arc-gather' for position `rank`: in round t it sends the vector of position rank−t to
 * rank+1 (t < a) and that of rank+t to rank−1 (t < b), and receives those of rank−1−t and
 * rank+1+t; the last round folds all N. `origin` names whose vector a transfer carries.
 */
export function arcGatherPlan(rank: number, n: number, length: number): Round[] {
  const { a, b } = arcs(n);
  const mod = (x: number) => ((x % n) + n) % n;
  const next = mod(rank + 1);
  const prev = mod(rank - 1);
  const rounds: Round[] = [];
  for (let t = 0; t < a; t++) {
    const sends: Transfer[] = [{ peer: next, off: 0, len: length, origin: mod(rank - t) }];
    const recvs: Transfer[] = [{ peer: prev, off: 0, len: length, origin: mod(rank - 1 - t) }];
    if (t < b) {
      sends.push({ peer: prev, off: 0, len: length, origin: mod(rank + t) });
      recvs.push({ peer: next, off: 0, len: length, origin: mod(rank + 1 + t) });
    }
    rounds.push({ sends: keep(sends), recvs: keep(recvs), op: t === a - 1 ? 'fold' : 'gather' });
  }
  return rounds;
}

/** The order in which 'arc-tree' sums each element: (x0 + (x1 + (x2 + … x_a))) + (x(N−1) + (x(N−2) + … x(a+1))). */
export function arcTreeOrder(n: number): SumTree {
  const { a } = arcs(n);
  const chain = (from: number, to: number, step: number): SumTree => (from === to ? from : [from, chain(from + step, to, step)]);
  if (n === 1) return 0;
  const right: SumTree = [0, chain(1, a, 1)];
  return a + 1 <= n - 1 ? [right, chain(n - 1, a + 1, -1)] : right;
}
