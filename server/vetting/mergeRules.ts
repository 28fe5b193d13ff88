/**
 * The merge layers a functional model may use to join branches, each with its config fields,
 * its output shape from its input shapes and its cost, as tfjs-layers computes them. Shapes are
 * per sample (no batch axis). Stricter than tfjs where tfjs guesses: the element-wise merges
 * take inputs of one shape (no broadcasting), Dot takes two vectors. Like layerRules.ts, this
 * table is the allow-list: a merge class missing here is refused.
 */
import type { ConfigReader } from './fields.ts';
import type { LayerCost } from './layerRules.ts';

export type MergeRule = (r: ConfigReader, inputs: readonly (readonly number[])[]) => LayerCost;

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const show = (inputs: readonly (readonly number[])[]) => inputs.map((s) => `[${s.join(', ')}]`).join(', ');

/** Add, Multiply, Average, Maximum, Minimum: any number ≥ 2 of inputs of one shape. */
function elementwise(r: ConfigReader, inputs: readonly (readonly number[])[]): LayerCost {
  const first = inputs[0]!;
  if (inputs.some((s) => s.length !== first.length || s.some((d, i) => d !== first[i]))) {
    r.fail('inputs', `must all have one shape (tabswarm does not broadcast merges), got ${show(inputs)}`);
  }
  return { outputShape: [...first], trainable: 0, nonTrainable: 0, macs: prod(first) * (inputs.length - 1) };
}

function concatenate(r: ConfigReader, inputs: readonly (readonly number[])[]): LayerCost {
  const rank = inputs[0]!.length;
  if (inputs.some((s) => s.length !== rank)) r.fail('inputs', `must all have one rank, got ${show(inputs)}`);
  const v = r.raw('axis');
  const axis = v === undefined || v === null ? -1 : v;
  // tfjs counts the batch axis: 1..rank are the per-sample axes, −rank..−1 the same from the end
  if (typeof axis !== 'number' || !Number.isSafeInteger(axis) || axis === 0 || axis < -rank || axis > rank) {
    r.fail('axis', `must be an integer in [${-rank}, -1] or [1, ${rank}] (not the batch axis 0)`);
  }
  const a = axis < 0 ? rank + axis : axis - 1;
  r.out.axis = axis;
  const rest = (s: readonly number[]) => s.filter((_, i) => i !== a).join(', ');
  if (inputs.some((s) => rest(s) !== rest(inputs[0]!))) r.fail('inputs', `must match on every axis but axis ${axis}, got ${show(inputs)}`);
  const out = [...inputs[0]!];
  out[a] = inputs.reduce((n, s) => n + s[a]!, 0);
  return { outputShape: out, trainable: 0, nonTrainable: 0, macs: 0 };
}

/** Dot of two vectors per sample (tfjs's batchDot), optionally of their L2-normalised forms (cosine). */
function dot(r: ConfigReader, inputs: readonly (readonly number[])[]): LayerCost {
  if (inputs.length !== 2 || inputs.some((s) => s.length !== 1) || inputs[0]![0] !== inputs[1]![0]) {
    r.fail('inputs', `must be exactly two vectors of one length (tabswarm's Dot takes [n] and [n]), got ${show(inputs)}`);
  }
  const axes = r.raw('axes');
  const ok = (x: unknown) => x === 1 || x === -1;
  if (!(ok(axes) || (Array.isArray(axes) && axes.length === 2 && axes.every(ok)))) r.fail('axes', 'must be 1, -1 or a pair of them (the vectors\u2019 axis)');
  r.bool('normalize', false);
  return { outputShape: [1], trainable: 0, nonTrainable: 0, macs: inputs[0]![0]! };
}

/** A merge needs at least this many inputs (Dot exactly two). */
export const MIN_MERGE_INPUTS = 2;

export const MERGE_RULES: Readonly<Record<string, MergeRule>> = Object.freeze({
  Add: elementwise,
  Multiply: elementwise,
  Average: elementwise,
  Maximum: elementwise,
  Minimum: elementwise,
  Concatenate: concatenate,
  Dot: dot,
});
