import { describe, expect, it } from 'vitest';
import { initialParameters, variableSize, type VariableInfo } from '../../shared/init.ts';

const MLP: VariableInfo[] = [
  { name: 'dense_Dense1/kernel', shape: [784, 128] },
  { name: 'dense_Dense1/bias', shape: [128] },
  { name: 'dense_Dense2/kernel', shape: [128, 10] },
  { name: 'dense_Dense2/bias', shape: [10] },
];

/** [offset, length] of each variable in the flat vector */
function offsets(vars: VariableInfo[]): [number, number][] {
  let off = 0;
  return vars.map((v) => {
    const n = variableSize(v.shape);
    const r: [number, number] = [off, n];
    off += n;
    return r;
  });
}

function part(flat: Float32Array, vars: VariableInfo[], i: number): Float32Array {
  const [off, n] = offsets(vars)[i]!;
  return flat.subarray(off, off + n);
}

describe('initialParameters', () => {
  it('lays variables out back to back in the given order', () => {
    expect(variableSize([784, 128])).toBe(100352);
    expect(variableSize([3, 3, 1, 8])).toBe(72);
    expect(variableSize([])).toBe(1);
    const flat = initialParameters(MLP, 1);
    expect(flat).toBeInstanceOf(Float32Array);
    expect(flat.length).toBe(784 * 128 + 128 + 128 * 10 + 10);
  });

  it('is deterministic: the same seed gives bit-identical parameters', () => {
    const a = initialParameters(MLP, 17);
    const b = initialParameters(MLP, 17);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('a different seed gives different kernels (and the same zero biases)', () => {
    const a = initialParameters(MLP, 17);
    const b = initialParameters(MLP, 18);
    for (const i of [0, 2]) {
      const pa = part(a, MLP, i);
      const pb = part(b, MLP, i);
      let same = 0;
      for (let k = 0; k < pa.length; k++) if (pa[k] === pb[k]) same++;
      expect(same).toBeLessThan(pa.length / 1000 + 1);
    }
    for (const i of [1, 3]) expect(Array.from(part(b, MLP, i))).toEqual(Array.from(part(a, MLP, i)));
  });

  it('a kernel depends on the seed and its index, not on the other variables', () => {
    const other: VariableInfo[] = [{ name: 'dense_Dense1/kernel', shape: [5, 7] }, ...MLP.slice(1)];
    const a = initialParameters(MLP, 3);
    const b = initialParameters(other, 3);
    expect(Array.from(part(b, other, 2))).toEqual(Array.from(part(a, MLP, 2)));
    // and two kernels of the same shape at different indices differ
    const twins: VariableInfo[] = [
      { name: 'a/kernel', shape: [20, 20] },
      { name: 'b/kernel', shape: [20, 20] },
    ];
    const t = initialParameters(twins, 3);
    expect(Array.from(part(t, twins, 0))).not.toEqual(Array.from(part(t, twins, 1)));
  });

  const kernels: [string, number[], number, number][] = [
    // name, shape, fanIn, fanOut
    ['dense', [784, 128], 784, 128],
    ['dense, small', [4, 3], 4, 3],
    ['dense, square', [64, 64], 64, 64],
    ['conv2d', [5, 5, 1, 32], 25, 800],
    ['conv2d, deep', [3, 3, 32, 64], 288, 576],
    ['conv1d', [7, 16, 16], 112, 112],
  ];
  for (const [what, shape, fanIn, fanOut] of kernels) {
    it(`glorot-uniform ${what} ${JSON.stringify(shape)}: within ±sqrt(6/(fanIn+fanOut)) and spread over it`, () => {
      const vars: VariableInfo[] = [{ name: 'layer/kernel', shape }];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const bound = Math.fround(limit); // rounding to float32 may reach, never pass, fround(limit)
      const n = variableSize(shape);
      let max = 0;
      let sum = 0;
      let sumSq = 0;
      let pos = 0;
      let outside = 0;
      for (const seed of [1, 2, 3]) {
        const w = initialParameters(vars, seed);
        expect(w.length).toBe(n);
        for (const x of w) {
          if (!(Math.abs(x) <= bound)) outside++;
          max = Math.max(max, Math.abs(x));
          sum += x;
          sumSq += x * x;
          if (x > 0) pos++;
        }
      }
      const total = 3 * n;
      expect(outside).toBe(0);
      // uniform on (-limit, limit): reaches close to the bound, mean 0, variance limit²/3
      expect(max).toBeGreaterThan(limit * (1 - 20 / total));
      expect(Math.abs(sum / total)).toBeLessThan((4 * limit) / Math.sqrt(3 * total));
      if (total > 1000) {
        expect(sumSq / total / (limit * limit / 3)).toBeGreaterThan(0.9);
        expect(sumSq / total / (limit * limit / 3)).toBeLessThan(1.1);
        expect(Math.abs(pos / total - 0.5)).toBeLessThan(0.05);
      }
    });
  }

  it('biases, betas and moving means are zero; gammas and moving variances are one', () => {
    const vars: VariableInfo[] = [
      { name: 'conv/kernel', shape: [3, 3, 2, 4] },
      { name: 'conv/bias', shape: [4] },
      { name: 'bn/gamma', shape: [4] },
      { name: 'bn/beta', shape: [4] },
      { name: 'bn/moving_mean', shape: [4] },
      { name: 'bn/moving_variance', shape: [4] },
      { name: 'dense/bias', shape: [1, 6] }, // 2-D, still a bias by name
      { name: 'scalar', shape: [] },
      { name: 'dense/kernel', shape: [8, 6] },
    ];
    const flat = initialParameters(vars, 5);
    const p = (i: number) => Array.from(part(flat, vars, i));
    expect(p(1)).toEqual([0, 0, 0, 0]);
    expect(p(2)).toEqual([1, 1, 1, 1]);
    expect(p(3)).toEqual([0, 0, 0, 0]);
    expect(p(4)).toEqual([0, 0, 0, 0]);
    expect(p(5)).toEqual([1, 1, 1, 1]);
    expect(p(6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(p(7)).toEqual([0]);
    for (const i of [0, 8]) expect(p(i).filter((x) => x === 0).length).toBe(0);
    expect(p(8).every((x) => Math.abs(x) <= Math.fround(Math.sqrt(6 / 14)))).toBe(true);
  });

  it('no variables → empty vector', () => {
    expect(initialParameters([], 1).length).toBe(0);
  });
});
