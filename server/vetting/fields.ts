/**
 * Reading one layer's serialized config (tfjs's snake_case keys) field by field: each read
 * checks a type and a range, records the key as known, and may write a normalised value
 * (e.g. `kernel_size: 3` → `[3, 3]`). `finish()` refuses any key nobody read, so a config
 * carries nothing the vetter has not looked at.
 */
import { TabswarmError } from '../../shared/errors.ts';
import type { VettingLimits } from './limits.ts';

/** Activation names tfjs serializes (its activations' `getClassName()` in snake case). */
export const ACTIVATIONS: readonly string[] = [
  'linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hard_sigmoid', 'softplus', 'softsign',
  'tanh', 'softmax', 'log_softmax', 'swish', 'mish', 'gelu', 'gelu_new',
];

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `where` is 'model…' or 'layer N (name) Class'; layer messages get 'model: ' in front, the path the dashboard's form shows errors at. */
export function reject(where: string, message: string): never {
  throw new TabswarmError('MODEL_REJECTED', `${where.startsWith('model') ? '' : 'model: '}${where}: ${message}`);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

interface IntRange {
  min?: number;
  max?: number;
}

/** Initializer class → the config keys it may carry (checked as finite numbers unless named below). */
const INITIALIZERS: Record<string, readonly string[]> = {
  Zeros: [],
  Ones: [],
  Constant: ['value'],
  RandomUniform: ['minval', 'maxval', 'seed'],
  RandomNormal: ['mean', 'stddev', 'seed'],
  TruncatedNormal: ['mean', 'stddev', 'seed'],
  VarianceScaling: ['scale', 'mode', 'distribution', 'seed'],
  GlorotUniform: ['seed'],
  GlorotNormal: ['seed'],
  HeUniform: ['seed'],
  HeNormal: ['seed'],
  LeCunUniform: ['seed'],
  LeCunNormal: ['seed'],
  Orthogonal: ['gain', 'seed'],
  Identity: ['gain'],
};

export class ConfigReader {
  private readonly seen = new Set<string>();
  /** the config as tfjs will get it: a shallow copy with normalised fields written back */
  readonly out: Json;

  constructor(
    readonly where: string,
    private readonly cfg: Json,
    readonly limits: VettingLimits,
  ) {
    this.out = { ...cfg };
  }

  fail(key: string, message: string): never {
    return reject(this.where, `${key} ${message}`);
  }

  /** The raw value of `key` (undefined when absent), marking it known. */
  raw(key: string): unknown {
    this.seen.add(key);
    return Object.hasOwn(this.cfg, key) ? this.cfg[key] : undefined;
  }

  private present(key: string): unknown {
    const v = this.raw(key);
    return v === null ? undefined : v;
  }

  int(key: string, r: IntRange & { def?: number } = {}): number {
    const min = r.min ?? 1;
    const max = r.max ?? this.limits.maxDimension;
    const v = this.present(key);
    if (v === undefined) {
      if (r.def === undefined) this.fail(key, 'is required');
      return r.def;
    }
    if (!isInt(v) || v < min || v > max) this.fail(key, `must be an integer in [${min}, ${max}]`);
    return v;
  }

  num(key: string, r: { min: number; max: number; def: number; minExclusive?: boolean }): number {
    const v = this.present(key);
    if (v === undefined) return r.def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < r.min || v > r.max || (r.minExclusive && v === r.min)) {
      this.fail(key, `must be a number in ${r.minExclusive ? '(' : '['}${r.min}, ${r.max}]`);
    }
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.present(key);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(key, 'must be true or false');
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[], def: T): T {
    const v = this.present(key);
    if (v === undefined) return def;
    if (typeof v !== 'string' || !values.includes(v as T)) this.fail(key, `must be one of ${values.join(', ')}`);
    return v as T;
  }

  /** Absent or null only: a field tabswarm does not support set to anything else is refused. */
  none(key: string, why: string): void {
    if (this.present(key) !== undefined) this.fail(key, `must be null (${why})`);
  }

  /** A random seed: null or a non-negative integer. */
  seed(key: string): void {
    const v = this.present(key);
    if (v !== undefined && (!isInt(v) || v < 0 || v > 0xffffffff)) this.fail(key, 'must be null or an integer in [0, 4294967295]');
  }

  /**
   * An integer or an array of `n` integers (tfjs takes both for kernel sizes, strides,
   * pools); written back as the array.
   */
  tuple(key: string, n: number, r: IntRange & { def?: number[] } = {}): number[] {
    const min = r.min ?? 1;
    const max = r.max ?? this.limits.maxWindow;
    const v = this.present(key);
    const shape = n === 1 ? 'a positive integer or [n]' : n === 2 ? 'a positive integer or [h, w]' : `an integer or ${n} integers`;
    let t: number[];
    if (v === undefined) {
      if (r.def === undefined) this.fail(key, 'is required');
      t = r.def;
    } else if (isInt(v)) t = Array<number>(n).fill(v);
    else if (Array.isArray(v) && v.length === n && v.every(isInt)) t = v as number[];
    else this.fail(key, `must be ${shape}`);
    if (t.some((x) => x < min || x > max)) this.fail(key, `must be ${shape} with each in [${min}, ${max}]`);
    if (v !== undefined) this.out[key] = [...t];
    return t;
  }

  activation(key: string, def = 'linear'): string {
    return this.oneOf(key, ACTIVATIONS, def);
  }

  /** An initializer `{class_name, config}` from the allow-list; `elements` is the weight's size. */
  initializer(key: string, elements: number): void {
    const v = this.present(key);
    if (v === undefined) return; // tfjs's default for the field
    const at = `${key}.class_name`;
    if (!isObject(v) || typeof v.class_name !== 'string' || !Object.hasOwn(INITIALIZERS, v.class_name)) {
      this.fail(at, `must be one of ${Object.keys(INITIALIZERS).join(', ')}`);
    }
    for (const k of Object.keys(v)) if (k !== 'class_name' && k !== 'config') this.fail(`${key}.${k}`, 'is not a known key');
    const cls = v.class_name;
    if ((cls === 'Orthogonal' || cls === 'Identity') && elements > this.limits.maxOrthogonalElements) {
      this.fail(at, `${cls} is limited to weights of at most ${this.limits.maxOrthogonalElements} elements (this one has ${elements})`);
    }
    const cfg = v.config ?? {};
    if (!isObject(cfg)) this.fail(`${key}.config`, 'must be an object');
    const inner = new ConfigReader(`${this.where}: ${key}.config`, cfg, this.limits);
    for (const k of INITIALIZERS[cls]!) {
      if (k === 'seed') inner.seed(k);
      else if (k === 'mode') inner.oneOf(k, ['fan_in', 'fan_out', 'fan_avg'], 'fan_in');
      else if (k === 'distribution') inner.oneOf(k, ['normal', 'uniform', 'truncated_normal'], 'normal');
      else if (k === 'scale' || k === 'stddev' || k === 'gain') inner.num(k, { min: 0, max: 1e6, def: 1, minExclusive: k === 'scale' });
      else inner.num(k, { min: -1e6, max: 1e6, def: 0 });
    }
    inner.finish();
  }

  /** Regularizers and constraints: tabswarm's loss is plain cross-entropy and its optimizer applies no constraint. */
  noRegularizers(...keys: string[]): void {
    for (const k of keys) this.none(k, 'regularizers are not part of tabswarm\u2019s loss');
  }

  noConstraints(...keys: string[]): void {
    for (const k of keys) this.none(k, 'tabswarm\u2019s optimizer applies no constraints');
  }

  /** Refuses every key not read; returns the normalised config. */
  finish(): Json {
    for (const k of Object.keys(this.cfg)) if (!this.seen.has(k)) this.fail(k, 'is not a known key');
    return this.out;
  }
}
