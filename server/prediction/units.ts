/**
 * The pure core of a prediction job: inputs cut into work units, and who computes which.
 *
 * A unit is `pending → assigned → done` (one transition function, `transition`): pending while
 * it needs more members than hold it (its copies in flight plus those returned fall short of
 * what its quorum needs), assigned while enough hold it, done once its quorum is settled
 * (quorum.ts). A member that goes away gives back what it held (assigned → pending);
 * nobody computes the same unit twice. No I/O, no clock: the caller owns both.
 */
export type UnitState = 'pending' | 'assigned' | 'done';

export type UnitEvent =
  /** a member took it; `covered`: now held or returned by as many members as the quorum needs */
  | { type: 'assign'; covered: boolean }
  /** a holder gave it back (dropped, failed) or its copy was thrown out */
  | { type: 'release' }
  /** a copy came back; `settled`: the quorum is decided; `covered` as for assign */
  | { type: 'result'; settled: boolean; covered: boolean };

export function transition(s: UnitState, e: UnitEvent): UnitState {
  if (s === 'done') throw new Error(`unit is done; cannot ${e.type}`);
  switch (e.type) {
    case 'assign':
      if (s !== 'pending') throw new Error('only a pending unit is assigned');
      return e.covered ? 'assigned' : 'pending';
    case 'release':
      return 'pending';
    case 'result':
      return e.settled ? 'done' : e.covered ? 'assigned' : 'pending';
  }
}

export interface UnitRange {
  index: number;
  start: number;
  count: number;
}

/**
 * Inputs [0, size) in units of `unitSize` samples, the last one short. `align` (e.g. a stored
 * dataset's shard size in samples): when a unit is at most one shard, units never straddle a
 * shard boundary, so a member fetches one shard per unit.
 */
export function cutUnits(size: number, unitSize: number, align = 0): UnitRange[] {
  if (!(unitSize >= 1) || !Number.isInteger(unitSize)) throw new RangeError('unitSize must be a positive integer');
  const out: UnitRange[] = [];
  let start = 0;
  while (start < size) {
    let end = Math.min(size, start + unitSize);
    if (align > 0 && unitSize <= align) {
      const boundary = (Math.floor(start / align) + 1) * align;
      if (end > boundary) end = boundary;
    }
    out.push({ index: out.length, start, count: end - start });
    start = end;
  }
  return out;
}

export interface Unit extends UnitRange {
  state: UnitState;
  /** members computing it now */
  holders: Set<string>;
  /** members whose copy is in (kept until the quorum is settled) */
  returned: Set<string>;
  /** every member ever given it: nobody computes a unit twice */
  tried: Set<string>;
  /** agreeing copies needed: `replicas`, one more per disagreement */
  need: number;
}

/**
 * The book of units. `next(member)` picks what a member computes: first a unit that already
 * has copies and needs another (so at most a few units wait for their second copy, and their
 * outputs held for comparison stay few), then the lowest pending unit.
 */
export class UnitBook {
  readonly units: Unit[];
  constructor(ranges: UnitRange[], readonly replicas: number) {
    this.units = ranges.map((r) => ({ ...r, state: 'pending', holders: new Set(), returned: new Set(), tried: new Set(), need: replicas }));
  }

  private covered(u: Unit) {
    return u.holders.size + u.returned.size >= u.need;
  }

  /** The unit `member` should compute next, assigned to it; null when none is open to it. */
  next(member: string): Unit | null {
    let best: Unit | null = null;
    for (const u of this.units) {
      if (u.state !== 'pending' || u.tried.has(member)) continue;
      if (u.returned.size > 0) {
        best = u;
        break;
      }
      best ??= u;
    }
    if (!best) return null;
    best.holders.add(member);
    best.tried.add(member);
    best.state = transition(best.state, { type: 'assign', covered: this.covered(best) });
    return best;
  }

  /** `member` holds `index` now (may upload its copy). */
  holds(member: string, index: number): boolean {
    return this.units[index]?.holders.has(member) ?? false;
  }

  /** A copy came in from a holder; `settled` says whether the quorum (quorum.ts) is decided with it. */
  returned(member: string, index: number, settled: boolean) {
    const u = this.units[index]!;
    if (!u.holders.delete(member)) throw new Error(`${member} does not hold unit ${index}`);
    u.returned.add(member);
    u.state = transition(u.state, { type: 'result', settled, covered: this.covered(u) });
  }

  /** The copies disagree without a majority: one more agreeing copy is needed (call before `returned`). */
  disputed(index: number) {
    this.units[index]!.need++;
  }

  /** `member` is gone (or failed a unit): what it holds goes back; with `discard`, its unsettled copies too. */
  release(member: string, o: { only?: number; discard?: boolean } = {}): number[] {
    const back: number[] = [];
    for (const u of this.units) {
      if (o.only !== undefined && u.index !== o.only) continue;
      if (u.state === 'done') continue;
      const held = u.holders.delete(member);
      const dropped = o.discard === true && u.returned.delete(member);
      if ((held || dropped) && !this.covered(u)) {
        u.state = transition(u.state, { type: 'release' });
        back.push(u.index);
      }
    }
    return back;
  }

  counts() {
    const c = { pending: 0, assigned: 0, done: 0 };
    for (const u of this.units) c[u.state]++;
    return c;
  }

  get finished() {
    return this.units.every((u) => u.state === 'done');
  }
}
