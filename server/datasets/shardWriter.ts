/**
 * Turns a stream of samples into content-addressed shards in a staging directory, and keeps
 * per-feature statistics (mean, std: sums shifted by the first sample, so a large mean does
 * not eat the variance's precision).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeShard, prod, type FeatureEncoding, type ShardRef, type TaskKind } from '../../shared/datasetShards.ts';
import { TabswarmError } from '../../shared/errors.ts';

export interface Layout {
  task: TaskKind;
  featureShape: number[];
  /** [] for classification */
  targetShape: number[];
  /** classification: the class names */
  classes: string[] | null;
}

export interface Written {
  layout: Layout;
  size: number;
  shards: (ShardRef & { file: string })[];
  stats: { mean: number[]; std: number[] };
}

export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
/** at most this many samples in a dataset (u32 indices everywhere) */
export const MAX_SAMPLES = 0xffffffff;

export class ShardWriter {
  private readonly F: number;
  private readonly T: number;
  private readonly per: number;
  private x: Float32Array;
  private y: Uint32Array | Float32Array;
  private n = 0;
  private total = 0;
  private readonly shards: Written['shards'] = [];
  private readonly shift: Float64Array;
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;

  constructor(
    private readonly dir: string,
    readonly layout: Layout,
    shardBytes = DEFAULT_SHARD_BYTES,
    /** how the features are stored (uploads: float32; the shipped datasets' bytes: u8unit, u8) */
    private readonly encoding: FeatureEncoding = 'float32',
  ) {
    this.F = prod(layout.featureShape);
    this.T = layout.task === 'classification' ? 1 : prod(layout.targetShape);
    this.per = Math.max(1, Math.floor(shardBytes / ((encoding === 'float32' ? 4 : 1) * this.F + 4 * this.T)));
    this.x = new Float32Array(this.per * this.F);
    this.y = layout.task === 'classification' ? new Uint32Array(this.per) : new Float32Array(this.per * this.T);
    this.shift = new Float64Array(this.F);
    this.s1 = new Float64Array(this.F);
    this.s2 = new Float64Array(this.F);
  }

  get count(): number {
    return this.total + this.n;
  }

  /**
   * Adds `count` samples: features x (count × F) and labels y (count class ids, or count × T
   * targets). `where(i)` names sample i for an error message.
   */
  async add(x: ArrayLike<number>, y: ArrayLike<number>, count: number, where: (i: number) => string): Promise<void> {
    const { F, T } = this;
    for (let i = 0; i < count; ) {
      const take = Math.min(count - i, this.per - this.n);
      for (let j = 0; j < take; j++) {
        const src = (i + j) * F;
        const dst = (this.n + j) * F;
        for (let f = 0; f < F; f++) {
          const v = x[src + f]!;
          const v32 = Math.fround(v);
          if (!Number.isFinite(v32)) throw new TabswarmError('DATASET_INVALID', `${where(i + j)}: feature ${f} is ${v} (not a finite float32)`);
          this.x[dst + f] = v32;
        }
        for (let t = 0; t < T; t++) {
          const v = y[(i + j) * T + t]!;
          if (!Number.isFinite(Math.fround(v))) throw new TabswarmError('DATASET_INVALID', `${where(i + j)}: target ${t} is ${v} (not a finite float32)`);
          this.y[(this.n + j) * T + t] = v;
        }
      }
      this.n += take;
      i += take;
      if (this.n === this.per) await this.flush();
    }
    if (this.count > MAX_SAMPLES) throw new TabswarmError('DATASET_INVALID', `more than ${MAX_SAMPLES} samples`);
  }

  private async flush(): Promise<void> {
    if (this.n === 0) return;
    const { F, T, n } = this;
    const x = this.x.subarray(0, n * F);
    if (this.total === 0) for (let f = 0; f < F; f++) this.shift[f] = x[f]!;
    for (let s = 0; s < n; s++) {
      for (let f = 0; f < F; f++) {
        const d = x[s * F + f]! - this.shift[f]!;
        this.s1[f] += d;
        this.s2[f] += d * d;
      }
    }
    const bytes = encodeShard({ task: this.layout.task, featureShape: this.layout.featureShape, targetShape: this.layout.targetShape, count: n, x, y: this.y.subarray(0, n * T), encoding: this.encoding });
    const hash = createHash('sha256').update(bytes).digest('hex');
    const file = join(this.dir, `shard-${this.shards.length}`);
    await writeFile(file, bytes);
    this.shards.push({ hash, start: this.total, count: n, bytes: bytes.length, file });
    this.total += n;
    this.n = 0;
  }

  async finish(): Promise<Written> {
    await this.flush();
    const N = this.total;
    if (N === 0) throw new TabswarmError('DATASET_INVALID', 'no samples');
    const mean: number[] = [];
    const std: number[] = [];
    for (let f = 0; f < this.F; f++) {
      const m = this.s1[f]! / N;
      mean.push(this.shift[f]! + m);
      std.push(Math.sqrt(Math.max(0, this.s2[f]! / N - m * m)));
    }
    return { layout: this.layout, size: N, shards: this.shards, stats: { mean, std } };
  }
}
