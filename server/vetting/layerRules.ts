/**
 * Longer than our ~300-line guide on purpose: one rule per allowed layer class, side by side, so a reviewer sees every class the server accepts in one place.
 *
 * The layer classes a job's model may use, each with its config fields (tfjs's serialized keys),
 * its output shape from its input shape, and its weights, computed as tfjs-layers does but
 * without tfjs. Shapes are per sample (no batch axis) and channels_last throughout. A class
 * missing here is refused: this table is the allow-list.
 */
import type { ConfigReader } from './fields.ts';

export interface LayerCost {
  outputShape: number[];
  /** weights a gradient step updates (before the layer's own `trainable: false`) */
  trainable: number;
  /** weights it never updates, e.g. batch-norm moving statistics */
  nonTrainable: number;
  /** multiply-accumulates per sample, roughly */
  macs: number;
}

export type LayerRule = (r: ConfigReader, input: readonly number[]) => LayerCost;

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const PADDINGS = ['valid', 'same'] as const;

function rank(r: ConfigReader, input: readonly number[], n: number, what: string): void {
  if (input.length !== n) r.fail('input', `must be ${what} (rank ${n} per sample), got [${input.join(', ')}]`);
}

/** tfjs-layers' convOutputLength. */
function convLength(r: ConfigReader, len: number, k: number, padding: string, stride: number, dilation = 1): number {
  const eff = k + (k - 1) * (dilation - 1);
  const out = Math.floor(((padding === 'same' ? len : len - eff + 1) + stride - 1) / stride);
  if (out < 1) r.fail('kernel_size', `(${k}, dilation ${dilation}) is larger than the input (${len})`);
  return out;
}

const noop = (input: readonly number[]): LayerCost => ({ outputShape: [...input], trainable: 0, nonTrainable: 0, macs: 0 });

function channelsLast(r: ConfigReader): void {
  r.oneOf('data_format', ['channels_last'], 'channels_last');
}

function denseLike(r: ConfigReader): { useBias: boolean } {
  r.activation('activation');
  const useBias = r.bool('use_bias', true);
  r.noRegularizers('kernel_regularizer', 'bias_regularizer', 'activity_regularizer');
  r.noConstraints('kernel_constraint', 'bias_constraint');
  return { useBias };
}

function dense(r: ConfigReader, input: readonly number[]): LayerCost {
  if (input.length < 1) r.fail('input', 'must have at least one axis');
  const units = r.int('units');
  const fanIn = input.at(-1)!;
  const { useBias } = denseLike(r);
  r.initializer('kernel_initializer', fanIn * units);
  r.initializer('bias_initializer', units);
  const kernel = fanIn * units;
  return { outputShape: [...input.slice(0, -1), units], trainable: kernel + (useBias ? units : 0), nonTrainable: 0, macs: kernel * prod(input.slice(0, -1)) };
}

/** Conv1D / Conv2D. */
function conv(n: 1 | 2) {
  return (r: ConfigReader, input: readonly number[]): LayerCost => {
    rank(r, input, n + 1, n === 1 ? '[steps, channels]' : '[height, width, channels]');
    if (n === 2) channelsLast(r);
    const filters = r.int('filters');
    const k = r.tuple('kernel_size', n);
    const s = r.tuple('strides', n, { def: Array<number>(n).fill(1) });
    const d = r.tuple('dilation_rate', n, { def: Array<number>(n).fill(1) });
    if (s.some((x) => x > 1) && d.some((x) => x > 1)) r.fail('strides', 'and dilation_rate cannot both be above 1');
    const padding = r.oneOf('padding', PADDINGS, 'valid');
    const { useBias } = denseLike(r);
    const c = input[n]!;
    const kernel = prod(k) * c * filters;
    r.initializer('kernel_initializer', kernel);
    r.initializer('bias_initializer', filters);
    const spatial = k.map((kk, i) => convLength(r, input[i]!, kk, padding, s[i]!, d[i]));
    return { outputShape: [...spatial, filters], trainable: kernel + (useBias ? filters : 0), nonTrainable: 0, macs: kernel * prod(spatial) };
  };
}

function depthwiseConv2d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const k = r.tuple('kernel_size', 2);
  const s = r.tuple('strides', 2, { def: [1, 1] });
  const d = r.tuple('dilation_rate', 2, { def: [1, 1] });
  if (s.some((x) => x > 1) && d.some((x) => x > 1)) r.fail('strides', 'and dilation_rate cannot both be above 1');
  const padding = r.oneOf('padding', PADDINGS, 'valid');
  const m = r.int('depth_multiplier', { def: 1, max: 1024 });
  const { useBias } = denseLike(r);
  r.noRegularizers('depthwise_regularizer');
  r.noConstraints('depthwise_constraint');
  const c = input[2]!;
  const kernel = k[0]! * k[1]! * c * m;
  r.initializer('depthwise_initializer', kernel);
  r.initializer('bias_initializer', c * m);
  const spatial = [0, 1].map((i) => convLength(r, input[i]!, k[i]!, padding, s[i]!, d[i]));
  return { outputShape: [...spatial, c * m], trainable: kernel + (useBias ? c * m : 0), nonTrainable: 0, macs: kernel * prod(spatial) };
}

function separableConv2d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const filters = r.int('filters');
  const k = r.tuple('kernel_size', 2);
  const s = r.tuple('strides', 2, { def: [1, 1] });
  const d = r.tuple('dilation_rate', 2, { def: [1, 1] });
  if (s.some((x) => x > 1) && d.some((x) => x > 1)) r.fail('strides', 'and dilation_rate cannot both be above 1');
  const padding = r.oneOf('padding', PADDINGS, 'valid');
  const m = r.int('depth_multiplier', { def: 1, max: 1024 });
  const { useBias } = denseLike(r);
  r.noRegularizers('depthwise_regularizer', 'pointwise_regularizer');
  r.noConstraints('depthwise_constraint', 'pointwise_constraint');
  const c = input[2]!;
  const depthwise = k[0]! * k[1]! * c * m;
  const pointwise = c * m * filters;
  r.initializer('depthwise_initializer', depthwise);
  r.initializer('pointwise_initializer', pointwise);
  r.initializer('bias_initializer', filters);
  const spatial = [0, 1].map((i) => convLength(r, input[i]!, k[i]!, padding, s[i]!, d[i]));
  return { outputShape: [...spatial, filters], trainable: depthwise + pointwise + (useBias ? filters : 0), nonTrainable: 0, macs: (depthwise + pointwise) * prod(spatial) };
}

function conv2dTranspose(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const filters = r.int('filters');
  const k = r.tuple('kernel_size', 2);
  const s = r.tuple('strides', 2, { def: [1, 1] });
  r.tuple('dilation_rate', 2, { def: [1, 1], max: 1 }); // tfjs's transpose convolution has no dilation
  const padding = r.oneOf('padding', PADDINGS, 'valid');
  const { useBias } = denseLike(r);
  const c = input[2]!;
  const kernel = k[0]! * k[1]! * filters * c;
  r.initializer('kernel_initializer', kernel);
  r.initializer('bias_initializer', filters);
  // tfjs-layers' deconvLength
  const spatial = [0, 1].map((i) => input[i]! * s[i]! + (padding === 'valid' ? Math.max(k[i]! - s[i]!, 0) : 0));
  return { outputShape: [...spatial, filters], trainable: kernel + (useBias ? filters : 0), nonTrainable: 0, macs: kernel * prod(input.slice(0, 2)) };
}

function pooling(n: 1 | 2) {
  return (r: ConfigReader, input: readonly number[]): LayerCost => {
    rank(r, input, n + 1, n === 1 ? '[steps, channels]' : '[height, width, channels]');
    if (n === 2) channelsLast(r);
    const p = r.tuple('pool_size', n, { def: Array<number>(n).fill(2) });
    const s = r.tuple('strides', n, { def: p });
    const padding = r.oneOf('padding', PADDINGS, 'valid');
    const spatial = p.map((pp, i) => convLength(r, input[i]!, pp, padding, s[i]!));
    return { outputShape: [...spatial, input[n]!], trainable: 0, nonTrainable: 0, macs: 0 };
  };
}

function globalPooling(n: 1 | 2) {
  return (r: ConfigReader, input: readonly number[]): LayerCost => {
    rank(r, input, n + 1, n === 1 ? '[steps, channels]' : '[height, width, channels]');
    if (n === 2) channelsLast(r);
    return { outputShape: [input[n]!], trainable: 0, nonTrainable: 0, macs: 0 };
  };
}

function flatten(r: ConfigReader, input: readonly number[]): LayerCost {
  channelsLast(r);
  return { outputShape: [prod(input)], trainable: 0, nonTrainable: 0, macs: 0 };
}

function reshape(r: ConfigReader, input: readonly number[]): LayerCost {
  const t = r.raw('target_shape');
  // no -1: tfjs leaves that axis unknown (null) in the shapes the next layers build from
  if (!Array.isArray(t) || t.length < 1 || t.length > 4 || !t.every((x) => Number.isSafeInteger(x) && x >= 1 && x <= r.limits.maxDimension)) {
    r.fail('target_shape', `must be 1 to 4 positive integers (no -1), each at most ${r.limits.maxDimension}`);
  }
  const out = t as number[];
  if (prod(out) !== prod(input)) r.fail('target_shape', `[${out.join(', ')}] does not hold the input's ${prod(input)} values`);
  return { outputShape: [...out], trainable: 0, nonTrainable: 0, macs: 0 };
}

function permute(r: ConfigReader, input: readonly number[]): LayerCost {
  const dims = r.raw('dims');
  const want = input.map((_, i) => i + 1);
  if (!Array.isArray(dims) || dims.length !== input.length || [...dims].sort((a, b) => Number(a) - Number(b)).some((x, i) => x !== want[i])) {
    r.fail('dims', `must be a permutation of [${want.join(', ')}]`);
  }
  return { outputShape: (dims as number[]).map((d) => input[d - 1]!), trainable: 0, nonTrainable: 0, macs: 0 };
}

function dropout(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('rate', { min: 0, max: 0.99, def: 0 });
  r.none('noise_shape', 'tabswarm supports only the default noise shape');
  r.seed('seed');
  return noop(input);
}

function spatialDropout1d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 2, '[steps, channels]');
  return dropout(r, input);
}

function gaussianNoise(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('stddev', { min: 0, max: 1e3, def: 0 });
  return noop(input);
}

function gaussianDropout(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('rate', { min: 0, max: 0.99, def: 0 });
  return noop(input);
}

function alphaDropout(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('rate', { min: 0, max: 0.99, def: 0 });
  r.none('noise_shape', 'tabswarm supports only the default noise shape');
  return noop(input);
}

function activation(r: ConfigReader, input: readonly number[]): LayerCost {
  if (r.raw('activation') === undefined) r.fail('activation', 'is required');
  r.activation('activation');
  return noop(input);
}

function relu(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('max_value', { min: 0, max: 1e9, def: 0 });
  return noop(input);
}

function alphaLayer(r: ConfigReader, input: readonly number[]): LayerCost {
  r.num('alpha', { min: -1e3, max: 1e3, def: 0 });
  return noop(input);
}

function softmax(r: ConfigReader, input: readonly number[]): LayerCost {
  const axis = r.raw('axis');
  // per-sample softmax over the last axis is what the loss expects
  if (axis !== undefined && axis !== null && axis !== -1 && axis !== input.length) r.fail('axis', `must be -1 or ${input.length} (the last axis)`);
  return noop(input);
}

function batchNormalization(r: ConfigReader, input: readonly number[]): LayerCost {
  const axis = r.raw('axis');
  if (axis !== undefined && axis !== null && axis !== -1 && axis !== input.length) r.fail('axis', `must be -1 or ${input.length} (the channels axis)`);
  r.num('momentum', { min: 0, max: 1, def: 0.99 });
  r.num('epsilon', { min: 0, max: 1, def: 1e-3, minExclusive: true });
  const center = r.bool('center', true);
  const scale = r.bool('scale', true);
  const c = input.at(-1) ?? 1;
  for (const k of ['beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer']) r.initializer(k, c);
  r.noRegularizers('beta_regularizer', 'gamma_regularizer');
  r.noConstraints('beta_constraint', 'gamma_constraint');
  return { outputShape: [...input], trainable: c * (Number(center) + Number(scale)), nonTrainable: 2 * c, macs: 2 * prod(input) };
}

function layerNormalization(r: ConfigReader, input: readonly number[]): LayerCost {
  const axis = r.raw('axis');
  const last = [input.length];
  const ok = axis === undefined || axis === null || axis === -1 || axis === input.length || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === input.length));
  if (!ok) r.fail('axis', `must be -1 or [${last.join(', ')}] (the last axis)`);
  r.num('epsilon', { min: 0, max: 1, def: 1e-3, minExclusive: true });
  const center = r.bool('center', true);
  const scale = r.bool('scale', true);
  const c = input.at(-1) ?? 1;
  r.initializer('beta_initializer', c);
  r.initializer('gamma_initializer', c);
  r.noRegularizers('beta_regularizer', 'gamma_regularizer');
  return { outputShape: [...input], trainable: c * (Number(center) + Number(scale)), nonTrainable: 0, macs: 2 * prod(input) };
}

function embedding(r: ConfigReader, input: readonly number[]): LayerCost {
  const inputDim = r.int('input_dim');
  const outputDim = r.int('output_dim');
  r.initializer('embeddings_initializer', inputDim * outputDim);
  r.noRegularizers('embeddings_regularizer', 'activity_regularizer');
  r.noConstraints('embeddings_constraint');
  if (r.raw('mask_zero') === true) r.fail('mask_zero', 'must be false or null (tabswarm trains without masks)');
  const len = r.raw('input_length');
  const lens = typeof len === 'number' ? [len] : len;
  if (lens !== undefined && lens !== null && (!Array.isArray(lens) || lens.length !== input.length || lens.some((x, i) => x !== null && x !== input[i]))) {
    r.fail('input_length', `must be null or match the input shape [${input.join(', ')}]`);
  }
  return { outputShape: [...input, outputDim], trainable: inputDim * outputDim, nonTrainable: 0, macs: 0 };
}

/** SimpleRNN (1 gate), GRU (3), LSTM (4). */
function recurrent(gates: 1 | 3 | 4) {
  return (r: ConfigReader, input: readonly number[]): LayerCost => {
    rank(r, input, 2, '[steps, features]');
    const units = r.int('units');
    const [steps, features] = input as [number, number];
    r.activation('activation', 'tanh');
    if (gates > 1) r.activation('recurrent_activation', 'hard_sigmoid');
    const useBias = r.bool('use_bias', true);
    r.initializer('kernel_initializer', features * units * gates);
    r.initializer('recurrent_initializer', units * units * gates);
    r.initializer('bias_initializer', units * gates);
    r.noRegularizers('kernel_regularizer', 'recurrent_regularizer', 'bias_regularizer', 'activity_regularizer');
    r.noConstraints('kernel_constraint', 'recurrent_constraint', 'bias_constraint');
    // tfjs draws these masks from its unseeded RNG inside the layer, per time step: no replica
    // could reproduce another's, so a swarm would not train one model
    for (const k of ['dropout', 'recurrent_dropout']) {
      if (r.num(k, { min: 0, max: 0.99, def: 0 }) > 0) r.fail(k, 'must be 0 (recurrent dropout cannot be drawn reproducibly across replicas; put a Dropout layer before or after the RNN instead)');
    }
    const sequences = r.bool('return_sequences', false);
    if (r.bool('return_state', false)) r.fail('return_state', 'must be false (the model has one output)');
    if (r.bool('stateful', false)) r.fail('stateful', 'must be false (replicas see shuffled slices of a batch)');
    r.bool('go_backwards', false);
    r.bool('unroll', false);
    if (gates === 4) {
      const v = r.raw('unit_forget_bias');
      if (v !== undefined && v !== null && typeof v !== 'boolean') r.fail('unit_forget_bias', 'must be true, false or null');
    }
    if (gates > 1) {
      const v = r.raw('implementation');
      if (v !== undefined && v !== null && v !== 1 && v !== 2) r.fail('implementation', 'must be null, 1 or 2');
    }
    if (gates === 3 && r.bool('reset_after', false)) r.fail('reset_after', 'must be false (tfjs has no reset_after GRU)');
    const weights = gates * (features * units + units * units + (useBias ? units : 0));
    return { outputShape: sequences ? [steps, units] : [units], trainable: weights, nonTrainable: 0, macs: steps * gates * (features + units) * units };
  };
}

/** An int, a pair, or a pair of pairs (tfjs's ZeroPadding2D / Cropping2D forms) → [[top, bottom], [left, right]]. */
function pairs(r: ConfigReader, key: string, def: number): [[number, number], [number, number]] {
  const v = r.raw(key);
  const ok = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= r.limits.maxWindow;
  let p: [[number, number], [number, number]];
  if (v === undefined || v === null) p = [[def, def], [def, def]];
  else if (ok(v)) p = [[v, v], [v, v]];
  else if (Array.isArray(v) && v.length === 2 && v.every(ok)) p = [[v[0], v[0]], [v[1], v[1]]];
  else if (Array.isArray(v) && v.length === 2 && v.every((x) => Array.isArray(x) && x.length === 2 && x.every(ok))) p = v as [[number, number], [number, number]];
  else r.fail(key, `must be an integer, [h, w] or [[top, bottom], [left, right]], each in [0, ${r.limits.maxWindow}]`);
  r.out[key] = p.map((x) => [...x]);
  return p;
}

function zeroPadding2d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const [[t, b], [lf, rt]] = pairs(r, 'padding', 1);
  return { outputShape: [input[0]! + t + b, input[1]! + lf + rt, input[2]!], trainable: 0, nonTrainable: 0, macs: 0 };
}

function cropping2d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const [[t, b], [lf, rt]] = pairs(r, 'cropping', 0);
  const out = [input[0]! - t - b, input[1]! - lf - rt, input[2]!];
  if (out[0]! < 1 || out[1]! < 1) r.fail('cropping', `crops away the whole input [${input.join(', ')}]`);
  return { outputShape: out, trainable: 0, nonTrainable: 0, macs: 0 };
}

function upSampling2d(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 3, '[height, width, channels]');
  channelsLast(r);
  const s = r.tuple('size', 2, { def: [2, 2] });
  r.oneOf('interpolation', ['nearest', 'bilinear'], 'nearest');
  return { outputShape: [input[0]! * s[0]!, input[1]! * s[1]!, input[2]!], trainable: 0, nonTrainable: 0, macs: 0 };
}

function repeatVector(r: ConfigReader, input: readonly number[]): LayerCost {
  rank(r, input, 1, '[features]');
  const n = r.int('n');
  return { outputShape: [n, input[0]!], trainable: 0, nonTrainable: 0, macs: 0 };
}

export const LAYER_RULES: Readonly<Record<string, LayerRule>> = Object.freeze({
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  Dropout: dropout,
  SpatialDropout1D: spatialDropout1d,
  GaussianNoise: gaussianNoise,
  GaussianDropout: gaussianDropout,
  AlphaDropout: alphaDropout,
  Activation: activation,
  ReLU: relu,
  LeakyReLU: alphaLayer,
  ELU: alphaLayer,
  Softmax: softmax,
  Conv1D: conv(1),
  Conv2D: conv(2),
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Conv2DTranspose: conv2dTranspose,
  MaxPooling1D: pooling(1),
  MaxPooling2D: pooling(2),
  AveragePooling1D: pooling(1),
  AveragePooling2D: pooling(2),
  GlobalMaxPooling1D: globalPooling(1),
  GlobalMaxPooling2D: globalPooling(2),
  GlobalAveragePooling1D: globalPooling(1),
  GlobalAveragePooling2D: globalPooling(2),
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  Embedding: embedding,
  SimpleRNN: recurrent(1),
  GRU: recurrent(3),
  LSTM: recurrent(4),
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  UpSampling2D: upSampling2d,
  RepeatVector: repeatVector,
});
