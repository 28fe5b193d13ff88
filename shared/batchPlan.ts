/**
 * Which samples each step trains on, and who computes which of them.
 *
 * The dataset is walked in passes; each pass is a permutation seeded by (job seed, pass).
 * Global batch `s` is positions [s·B, (s+1)·B) of that endless walk, so it depends only on
 * the job — never on who is in the swarm — which is what lets a swarm with faults train
 * exactly the model a single process would.
 */
import { mixSeed, permutation } from './random.ts';

export interface Slice {
  peerId: string;
  /** offset into the global batch */
  start: number;
  count: number;
}

export class BatchPlan {
  private cachedPass = -1;
  private cachedPerm: Uint32Array = new Uint32Array(0);

  constructor(
    readonly datasetSize: number,
    readonly batchSize: number,
    readonly seed: number,
  ) {
    if (!(datasetSize > 0) || !(batchSize > 0)) throw new RangeError('datasetSize and batchSize must be > 0');
  }

  private perm(pass: number): Uint32Array {
    if (pass !== this.cachedPass) {
      this.cachedPerm = permutation(this.datasetSize, mixSeed(this.seed, pass));
      this.cachedPass = pass;
    }
    return this.cachedPerm;
  }

  /** Sample indices of global batch `step`, positions [start, start+count). */
  indices(step: number, start = 0, count = this.batchSize): Uint32Array {
    if (start < 0 || count < 0 || start + count > this.batchSize) throw new RangeError('slice outside the batch');
    const out = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const pos = step * this.batchSize + start + i;
      const pass = Math.floor(pos / this.datasetSize);
      out[i] = this.perm(pass)[pos - pass * this.datasetSize]!;
    }
    return out;
  }
}

/**
 * Split a batch of `batchSize` positions into contiguous slices proportional to `weights`
 * (largest-remainder rounding), in the given member order. Every position is assigned once.
 *
 * With `granularity` g > 1 (a model with ghost batch norm: g is the ghost batch size), the
 * batch is cut into ⌈batchSize / g⌉ units of g positions (the last may be shorter) and whole
 * units are dealt out the same way, so every slice starts and ends on a unit boundary and
 * at most ⌈batchSize / g⌉ members get work.
 */
export function planSlices(batchSize: number, members: { peerId: string; weight: number }[], o: { granularity?: number } = {}): Slice[] {
  if (members.length === 0) return [];
  const g = Math.max(1, Math.floor(o.granularity ?? 1));
  const units = g === 1 ? batchSize : Math.ceil(batchSize / g);
  const ws = members.map((m) => (Number.isFinite(m.weight) && m.weight > 0 ? m.weight : 0));
  let total = ws.reduce((a, b) => a + b, 0);
  if (total === 0) {
    ws.fill(1);
    total = ws.length;
  }
  const exact = ws.map((w) => (w / total) * units);
  const counts = exact.map(Math.floor);
  let left = units - counts.reduce((a, b) => a + b, 0);
  const order = exact
    .map((e, i) => ({ i, r: e - Math.floor(e) }))
    .sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) counts[order[k]!.i]!++;
  const slices: Slice[] = [];
  let unit = 0;
  members.forEach((m, i) => {
    const start = Math.min(unit * g, batchSize);
    unit += counts[i]!;
    slices.push({ peerId: m.peerId, start, count: Math.min(unit * g, batchSize) - start });
  });
  return slices;
}
