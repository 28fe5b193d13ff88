/**
 * Labels of row formats (CSV, JSON Lines, a single .npy): seen once over the whole file, then
 * resolved. Every label a finite number: integers (all ≥ 0) are class ids (classes "0".."max"),
 * any non-integer makes the labels regression targets. Any string label: the distinct strings,
 * sorted, are the classes (id = place in that order). Arrays: regression targets of that shape.
 */
import { TabswarmError } from '../../../shared/errors.ts';
import type { TaskKind } from '../../../shared/datasetShards.ts';

export const MAX_CLASSES = 65_536;

export type RawLabel = number | string | { values: Float32Array; shape: number[] };

export interface LabelScan {
  add(label: RawLabel, where: string): void;
  resolve(): ResolvedLabels;
}

export interface ResolvedLabels {
  task: TaskKind;
  classes: string[] | null;
  /** [] for classification */
  targetShape: number[];
  /** one label into `out` at `offset` (class id, or target values) */
  write(label: RawLabel, where: string, out: Uint32Array | Float32Array, offset: number): void;
}

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);

/**
 * `task` (the uploader's `?task=`): 'regression' reads every numeric label as a target (integers
 * too: a count, a year); 'classification' requires class ids or strings. Absent: inferred.
 */
export function scanLabels(task: TaskKind | null = null): LabelScan {
  let kind: 'number' | 'string' | 'array' | null = null;
  let integers = true;
  let negative: string | null = null;
  let max = 0;
  const strings = new Set<string>();
  let shape: number[] | null = null;
  let count = 0;
  return {
    add(l, where) {
      count++;
      const k = typeof l === 'number' ? 'number' : typeof l === 'string' ? 'string' : 'array';
      // numbers and strings mix as strings (CSV cells); arrays mix with nothing
      if (kind === null) kind = k;
      else if (kind !== k) {
        if ((kind === 'array') !== (k === 'array')) throw invalid(`${where}: label is ${k === 'array' ? 'an array' : `a ${k}`} where earlier labels are ${kind === 'array' ? 'arrays' : 'scalars'}`);
        kind = 'string';
      }
      if (typeof l === 'number') {
        if (!Number.isFinite(l)) throw invalid(`${where}: label ${l} is not a finite number`);
        if (!Number.isInteger(l)) integers = false;
        else if (l < 0) negative ??= where;
        else max = Math.max(max, l);
        strings.add(String(l));
      } else if (typeof l === 'string') {
        if (l.length === 0) throw invalid(`${where}: empty label`);
        strings.add(l);
      } else {
        if (shape === null) shape = l.shape;
        else if (shape.length !== l.shape.length || shape.some((d, i) => d !== l.shape[i])) {
          throw invalid(`${where}: target shape [${l.shape.join(', ')}] differs from the first row's [${shape.join(', ')}] (ragged)`);
        }
        for (let i = 0; i < l.values.length; i++) if (!Number.isFinite(l.values[i]!)) throw invalid(`${where}: target value ${l.values[i]} is not finite`);
      }
      if (kind === 'string' && strings.size > MAX_CLASSES) throw invalid(`${where}: more than ${MAX_CLASSES} distinct labels (classes)`);
    },
    resolve() {
      if (count === 0 || kind === null) throw invalid('no samples');
      if (task === 'regression' && kind === 'string') throw invalid('task=regression: the labels are not all numbers (strings are class names); a regression needs numeric targets');
      if (task === 'classification' && kind === 'array') throw invalid('task=classification: the labels are arrays (regression targets); a class label is one integer or string');
      if (task === 'classification' && kind === 'number' && !integers) throw invalid('task=classification: a label is not an integer; class labels are integers ≥ 0 or strings');
      if (task === 'regression' && kind === 'number') integers = false;
      if (kind === 'array') {
        const s = shape!;
        return {
          task: 'regression', classes: null, targetShape: s,
          write(l, where, out, offset) {
            if (typeof l !== 'object') throw invalid(`${where}: label is not an array`);
            out.set(l.values, offset);
          },
        };
      }
      if (kind === 'number' && !integers) {
        return {
          task: 'regression', classes: null, targetShape: [1],
          write(l, where, out, offset) {
            if (typeof l !== 'number') throw invalid(`${where}: label is not a number`);
            out[offset] = l;
          },
        };
      }
      if (kind === 'number') {
        if (negative !== null) throw invalid(`${negative}: a negative integer label; class labels must be integers ≥ 0 (or strings)`);
        if (max >= MAX_CLASSES) throw invalid(`label ${max} is over the ${MAX_CLASSES - 1} a class id may be`);
        return {
          task: 'classification', classes: Array.from({ length: max + 1 }, (_, i) => String(i)), targetShape: [],
          write(l, where, out, offset) {
            if (typeof l !== 'number') throw invalid(`${where}: label is not a number`);
            out[offset] = l;
          },
        };
      }
      const classes = [...strings].sort();
      const ids = new Map(classes.map((c, i) => [c, i]));
      return {
        task: 'classification', classes, targetShape: [],
        write(l, where, out, offset) {
          const id = ids.get(typeof l === 'object' ? '' : String(l));
          if (id === undefined) throw invalid(`${where}: label ${String(l)} was not seen on the first pass`);
          out[offset] = id;
        },
      };
    },
  };
}
