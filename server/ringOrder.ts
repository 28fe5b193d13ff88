/**
 * Ring order by link quality: the ring is as fast as its slowest hop, so the coordinator
 * places members so that the slowest hop is as fast as possible (a bottleneck travelling
 * salesman problem), breaking ties by the sum of hop costs, then by join order.
 *
 * What it knows about links comes from members (their heartbeat's `link`: RTT and whether
 * the selected candidate pair is relayed, for the link to their next ring neighbour), so from
 * strangers, and only about links in a ring it has formed. That is enough to search, because a
 * link nobody measured counts as fast (0): when the ring's slowest hop is known to be slow,
 * the best order leads through unmeasured links, the next heartbeats measure them, and a link
 * found slow stays in the table after it leaves the ring, so the coordinator does not return
 * to it. Each reorder of an unchanged membership therefore either reaches a ring with no slow
 * hop or reveals a slow link it did not know (test/unit/server/ringOrder.test.ts simulates
 * this). What this cannot see: a host whose own uplink is slow is slow toward every
 * successor, so no order helps it; ordering helps when particular pairs are slow (relayed,
 * distant).
 *
 * Bounds on what a report can do:
 * - a report counts only for the links of its sender (the gate passes the sender's id as
 *   `from`): it can change only the sender's own placement;
 * - a pair's cost is the worse of what its two ends said, and a link nobody reported costs 0:
 *   a report can make a link look worse, never better than it is for the other end, so a
 *   liar cannot pull itself next to a chosen member by praising that link (it can only push
 *   itself away from members by blaming its own links, which costs the swarm nothing more
 *   than its own slow hops would);
 * - RTTs are capped, every reporter keeps at most MAX_TARGETS links of RTT_WINDOW samples
 *   each, and leaving members are forgotten.
 */

/** what a relayed pair costs on top of its RTT: the TURN server's extra hop and its capacity */
export const RELAY_PENALTY_MS = 50;
const MAX_RTT_MS = 10_000;
const MAX_TARGETS = 64;

export interface LinkReport {
  rttMs: number | null;
  relayed: boolean | null;
}

interface Measured {
  /** the last RTT_WINDOW RTT samples, ms (capped) */
  rtts: number[];
  /** what the latest report said */
  relayed: boolean;
}

/**
 * RTT samples kept per link: its cost uses their minimum, the path's own delay. A single
 * sample is the selected candidate pair's last STUN round trip, which a busy host (its
 * network thread late to answer) inflates by tens of ms; the minimum of the last few is what
 * queues and busy moments do not add to, and it still follows a path that really got slower
 * once RTT_WINDOW heartbeats in a row say so.
 */
export const RTT_WINDOW = 8;

export class LinkTable {
  /** reporter → (other end → what it measured) */
  private readonly byReporter = new Map<string, Map<string, Measured>>();
  /** bumped whenever a link's cost or relayed flag changes (the planner does not search an unchanged table twice) */
  version = 0;

  /** `from` reports its link to `to`. */
  report(from: string, to: string, r: LinkReport): void {
    if (from === to) return;
    const before = `${this.costBy(from, to)} ${this.relayed(from, to)}`;
    const mine = this.byReporter.get(from) ?? new Map<string, Measured>();
    const m = mine.get(to) ?? { rtts: [], relayed: false };
    if (r.rttMs !== null && Number.isFinite(r.rttMs)) {
      m.rtts.push(Math.min(MAX_RTT_MS, Math.max(0, r.rttMs)));
      if (m.rtts.length > RTT_WINDOW) m.rtts.shift();
    }
    m.relayed = r.relayed === true;
    mine.delete(to); // re-inserted last: the oldest target goes first when full
    mine.set(to, m);
    const evicted = mine.size > MAX_TARGETS;
    if (evicted) mine.delete(mine.keys().next().value!);
    this.byReporter.set(from, mine);
    if (evicted || `${this.costBy(from, to)} ${this.relayed(from, to)}` !== before) this.version++;
  }

  /** A member left: its reports and the reports about it go. */
  forget(id: string): void {
    this.byReporter.delete(id);
    for (const m of this.byReporter.values()) m.delete(id);
    this.version++;
  }

  /** Whether either end of a–b said the link is relayed. */
  relayed(a: string, b: string): boolean {
    return (this.byReporter.get(a)?.get(b)?.relayed ?? false) || (this.byReporter.get(b)?.get(a)?.relayed ?? false);
  }

  /** The cost of the hop between a and b (ms, symmetric): the worse report of its two ends, 0 if none. */
  cost(a: string, b: string): number {
    return Math.max(this.costBy(a, b), this.costBy(b, a));
  }

  /** What `from` says its link to `to` costs: the smallest of its last RTT_WINDOW RTTs, + RELAY_PENALTY_MS if relayed. */
  private costBy(from: string, to: string): number {
    const m = this.byReporter.get(from)?.get(to);
    if (!m) return 0;
    return (m.rtts.length ? Math.min(...m.rtts) : 0) + (m.relayed ? RELAY_PENALTY_MS : 0);
  }
}

export interface RingPlan {
  order: string[];
  /** the slowest hop's cost, ms */
  bottleneck: number;
  /** the sum of hop costs, ms */
  total: number;
  /** found by trying every order (N ≤ EXACT_MAX) rather than by the local search */
  exact: boolean;
}

export const EXACT_MAX = 8;
/** above this many members the join order stays (the search is O(N³) per pass) */
export const LOCAL_SEARCH_MAX = 40;

/** The hop costs of `order` as a ring: its slowest hop and their sum. */
export function ringCost(order: readonly string[], cost: (a: string, b: string) => number): { bottleneck: number; total: number } {
  let bottleneck = 0;
  let total = 0;
  const n = order.length;
  if (n < 2) return { bottleneck, total };
  for (let i = 0; i < (n === 2 ? 1 : n); i++) {
    const c = cost(order[i]!, order[(i + 1) % n]!);
    bottleneck = Math.max(bottleneck, c);
    total += c;
  }
  return { bottleneck, total };
}

const better = (a: { bottleneck: number; total: number }, b: { bottleneck: number; total: number }) =>
  a.bottleneck < b.bottleneck || (a.bottleneck === b.bottleneck && a.total < b.total);

/**
 * The order of `ids` (join order) that minimises the slowest hop, then the sum of hops; the
 * join order itself unless something is strictly better. Exact for up to EXACT_MAX members
 * (the first one fixed: (N−1)! orders, 5040 at 8), else 2-opt local search from the join
 * order (bounded passes; up to LOCAL_SEARCH_MAX members).
 */
export function orderRing(ids: readonly string[], cost: (a: string, b: string) => number): RingPlan {
  const base = [...ids];
  let best = { order: base, ...ringCost(base, cost) };
  const n = base.length;
  if (n <= 3) return { ...best, exact: true }; // every order of ≤ 3 is the same ring
  if (n <= EXACT_MAX) {
    const rest = base.slice(1);
    const perm = (k: number) => {
      if (k === rest.length) {
        const order = [base[0]!, ...rest];
        const c = ringCost(order, cost);
        if (better(c, best)) best = { order, ...c };
        return;
      }
      for (let i = k; i < rest.length; i++) {
        [rest[k], rest[i]] = [rest[i]!, rest[k]!];
        perm(k + 1);
        [rest[k], rest[i]] = [rest[i]!, rest[k]!];
      }
    };
    perm(0);
    return { ...best, exact: true };
  }
  if (n > LOCAL_SEARCH_MAX) return { ...best, exact: false };
  // 2-opt: reverse a segment while that makes the ring strictly better
  let order = base;
  for (let pass = 0, improved = true; improved && pass < 50; pass++) {
    improved = false;
    for (let i = 1; i < n - 1; i++) {
      for (let j = i + 1; j < n; j++) {
        const cand = [...order.slice(0, i), ...order.slice(i, j + 1).reverse(), ...order.slice(j + 1)];
        const c = ringCost(cand, cost);
        if (better(c, best)) {
          best = { order: cand, ...c };
          order = cand;
          improved = true;
        }
      }
    }
  }
  return { ...best, exact: false };
}

/** steps between two reorders of an unchanged membership (each costs new links and an epoch) */
export const REORDER_STEPS = 50;

/**
 * When to order the ring: whenever its membership changes (a new epoch and new links come
 * anyway), and for an unchanged membership only when the best order would make the slowest
 * hop at least twice as fast (and 20 ms faster), at most every REORDER_STEPS steps.
 */
export class RingPlanner {
  private lastOrderedStep = -Infinity;
  /** the table's version and the ring when an unchanged membership was last searched and kept */
  private kept: { version: number; ring: string } | null = null;
  constructor(readonly links: LinkTable) {}

  /** The ring for the step `step` over `ids` (join order), given the `current` ring; `why` says why it differs from join order or from `current`. */
  next(ids: readonly string[], current: readonly string[], step: number): { ring: string[]; why: string | null } {
    const same = ids.length === current.length && ids.every((id) => current.includes(id));
    if (same && step - this.lastOrderedStep < REORDER_STEPS) return { ring: [...current], why: null };
    if (same && this.kept && this.kept.version === this.links.version && this.kept.ring === current.join()) return { ring: [...current], why: null };
    const cost = costMatrix(ids, (a, b) => this.links.cost(a, b));
    const slowest = (order: readonly string[]) => slowestHop(order, cost, (a, b) => this.links.relayed(a, b));
    if (same) {
      const now = ringCost(current, cost);
      const plan = orderRing(current, cost);
      if (!(plan.bottleneck * 2 <= now.bottleneck && now.bottleneck - plan.bottleneck >= 20)) {
        this.kept = { version: this.links.version, ring: current.join() };
        return { ring: [...current], why: null };
      }
      this.lastOrderedStep = step;
      return { ring: plan.order, why: `reordered by link quality: slowest hop ${fmt(plan.bottleneck)} instead of ${fmt(now.bottleneck)} (${slowest(current)})` };
    }
    const plan = orderRing(ids, cost);
    this.lastOrderedStep = step;
    if (plan.order.join() === ids.join()) return { ring: plan.order, why: null };
    const join = ringCost(ids, cost);
    return { ring: plan.order, why: `ordered by link quality${plan.exact ? '' : ' (local search)'}: slowest hop ${fmt(plan.bottleneck)}, join order's ${fmt(join.bottleneck)} (${slowest(ids)})` };
  }
}

/**
 * `cost` over `ids`, read once into a matrix: the search asks for the same pairs thousands of
 * times (5040 orders at 8 members, O(N³) per 2-opt pass) and a hop's cost is a minimum over
 * its samples. Ids outside `ids` cost 0, as unreported links do.
 */
function costMatrix(ids: readonly string[], cost: (a: string, b: string) => number): (a: string, b: string) => number {
  const n = ids.length;
  const at = new Map(ids.map((id, i) => [id, i]));
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = m[j * n + i] = cost(ids[i]!, ids[j]!);
  return (a, b) => {
    const i = at.get(a);
    const j = at.get(b);
    return i === undefined || j === undefined ? 0 : m[i * n + j]!;
  };
}

const fmt = (ms: number) => `${Math.round(ms)} ms`;

/** "slowest pair a–b: 130 ms, relayed": the slowest hop of `order`. */
function slowestHop(order: readonly string[], cost: (a: string, b: string) => number, relayed: (a: string, b: string) => boolean): string {
  const n = order.length;
  let at = 0;
  for (let i = 1; i < n; i++) if (cost(order[i]!, order[(i + 1) % n]!) > cost(order[at]!, order[(at + 1) % n]!)) at = i;
  const [a, b] = [order[at]!, order[(at + 1) % n]!];
  return `slowest pair ${a}–${b}: ${fmt(cost(a, b))}${relayed(a, b) ? ', relayed' : ''}`;
}
