/**
 * The inputs of a prediction job, as a member or the server reads them: rows [start, start+n)
 * of a split of a dataset, in stored order. An uploaded dataset's `all` split is read shard by
 * shard (only the shards a range touches, each hash verified), so a member that takes a unit
 * fetches what that unit needs; a built-in dataset's split, or an uploaded one's train/test
 * split, is loaded once and cached.
 */
import { loadDataset, type Dataset, type DatasetSource } from './datasets.ts';
import { decodeShard, prod, type StoredDatasetMeta } from './datasetShards.ts';
import { TabswarmError } from './errors.ts';
import type { PredictOptions } from './predictSpec.ts';
import { sha256Hex } from './sha256.ts';

export interface InputRows {
  featureShape: number[];
  /** n × prod(featureShape) */
  x: Float32Array;
  /** class ids, when the dataset is labelled for classification */
  y: ArrayLike<number> | null;
  /** regression targets, n × prod(targetShape), when the dataset holds regression targets */
  targets: Float32Array | null;
}


export interface InputInfo {
  size: number;
  featureShape: number[];
  /** samples per shard, when units can be aligned to shards */
  align: number;
  /** classes of a labelled dataset (the model's outputs, as the vetter checked); 0 when unlabelled */
  classes: number;
  /** the dataset's task: class ids or regression targets */
  task: 'classification' | 'regression';
  /** floats per sample's regression target (0 for classification) */
  targetSize: number;
}

export class PredictInputs {
  private meta: StoredDatasetMeta | null = null;
  private whole: Promise<Dataset> | null = null;
  private readonly shards = new Map<string, Promise<ReturnType<typeof decodeShard>>>();

  constructor(
    private readonly source: DatasetSource,
    readonly datasetId: string,
    readonly options: Pick<PredictOptions, 'split' | 'limit'>,
  ) {}

  private async storedMeta(): Promise<StoredDatasetMeta> {
    this.meta ??= JSON.parse(new TextDecoder().decode(await this.source(this.datasetId, 'meta.json'))) as StoredDatasetMeta;
    return this.meta;
  }

  private get byShard() {
    return this.options.split === 'all';
  }

  /** How many inputs, their shape, and the shard size to align units with. */
  async info(): Promise<InputInfo> {
    const lim = (n: number) => (this.options.limit > 0 ? Math.min(n, this.options.limit) : n);
    const m = await this.storedMeta();
    const total = this.options.split === 'all' ? m.size : this.options.split === 'train' ? m.trainSize : m.testSize;
    const shardSize = m.shards[0]?.count ?? 0;
    const task = m.task === 'regression' ? 'regression' : 'classification';
    return { size: lim(total), featureShape: m.featureShape, align: this.options.split === 'all' ? shardSize : 0, classes: m.numClasses ?? 0, task, targetSize: task === 'regression' ? prod(m.targetShape ?? [1]) : 0 };
  }

  /** Rows [start, start + n) in input order. */
  async rows(start: number, n: number): Promise<InputRows> {
    if (!this.byShard) {
      this.whole ??= loadDataset(this.source, this.datasetId, this.options.split as 'train' | 'test', this.options.limit);
      const d = await this.whole;
      if (start + n > d.size) throw new TabswarmError('BAD_REQUEST', `rows ${start}..${start + n} are outside the ${d.size} inputs`);
      const F = prod(d.featureShape);
      const x = d.x.subarray(start * F, (start + n) * F);
      if (d.task === 'regression') {
        const T = prod(d.targetShape ?? [1]);
        return { featureShape: d.featureShape, x, y: null, targets: d.targets ? d.targets.subarray(start * T, (start + n) * T) : null };
      }
      return { featureShape: d.featureShape, x, y: d.y.subarray(start, start + n), targets: null };
    }
    const m = await this.storedMeta();
    const F = prod(m.featureShape);
    const x = new Float32Array(n * F);
    const y = m.task === 'classification' ? new Uint32Array(n) : null;
    const T = m.task === 'regression' ? prod(m.targetShape ?? [1]) : 0;
    const targets = T > 0 ? new Float32Array(n * T) : null;
    for (const ref of m.shards) {
      const lo = Math.max(start, ref.start);
      const hi = Math.min(start + n, ref.start + ref.count);
      if (lo >= hi) continue;
      const s = await this.shard(ref.hash);
      x.set(s.x.subarray((lo - ref.start) * F, (hi - ref.start) * F), (lo - start) * F);
      if (y) y.set(s.y.subarray(lo - ref.start, hi - ref.start), lo - start);
      if (targets) targets.set(s.y.subarray((lo - ref.start) * T, (hi - ref.start) * T), (lo - start) * T);
    }
    return { featureShape: m.featureShape, x, y, targets };
  }

  private shard(hash: string) {
    let p = this.shards.get(hash);
    if (!p) {
      p = (async () => {
        const bytes = await this.source(this.datasetId, `shards/${hash}`);
        const got = await sha256Hex(bytes);
        if (got !== hash) throw new TabswarmError('HASH_MISMATCH', `shard ${hash} of dataset ${this.datasetId} hashes to ${got}`);
        return decodeShard(bytes);
      })();
      // a member walks the units in order: keep the newest few shards only
      this.shards.set(hash, p);
      for (const k of this.shards.keys()) if (this.shards.size > 4) this.shards.delete(k);
    }
    return p;
  }
}
