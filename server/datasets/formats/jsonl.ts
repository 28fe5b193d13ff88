/**
 * JSON Lines: one sample per line, `{"x": [...], "y": ...}`. x is a number array, nested
 * arrays for a shaped sample (every line the first line's shape); y is a number, a string
 * (class name) or a number array (a regression target). Blank lines are skipped.
 */
import { TabswarmError } from '../../../shared/errors.ts';
import type { RawLabel } from './labels.ts';

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);

/** A rectangular nested number array: its shape and its values, row-major. */
export function flattenNumbers(v: unknown, where: string): { shape: number[]; values: Float32Array } {
  const shape: number[] = [];
  let level: unknown = v;
  while (Array.isArray(level)) {
    if (level.length === 0) throw invalid(`${where}: an empty array`);
    shape.push(level.length);
    level = level[0];
  }
  if (shape.length === 0) throw invalid(`${where}: not an array`);
  if (shape.length > 8) throw invalid(`${where}: more than 8 dimensions`);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let k = 0;
  const walk = (a: unknown, d: number, path: string) => {
    if (d === shape.length) {
      if (typeof a !== 'number') throw invalid(`${where}${path}: ${JSON.stringify(a)?.slice(0, 40)} is not a number`);
      if (!Number.isFinite(a)) throw invalid(`${where}${path}: not a finite number`);
      values[k++] = a;
      return;
    }
    if (!Array.isArray(a) || a.length !== shape[d]) throw invalid(`${where}${path}: ragged (expected an array of ${shape[d]})`);
    for (let i = 0; i < a.length; i++) walk(a[i], d + 1, `${path}[${i}]`);
  };
  walk(v, 0, '');
  return { shape, values };
}

export function parseJsonlLine(line: string, row: number): { x: { shape: number[]; values: Float32Array }; y: RawLabel } {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    throw invalid(`line ${row}: not JSON (${e instanceof Error ? e.message.slice(0, 80) : ''})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid(`line ${row}: not a JSON object`);
  const r = o as Record<string, unknown>;
  if (!('x' in r)) throw invalid(`line ${row}: no "x"`);
  if (!('y' in r)) throw invalid(`line ${row}: no "y"`);
  const x = flattenNumbers(r.x, `line ${row}, x`);
  const y = r.y;
  if (typeof y === 'number') {
    if (!Number.isFinite(y)) throw invalid(`line ${row}, y: not a finite number`);
    return { x, y };
  }
  if (typeof y === 'string') return { x, y };
  if (Array.isArray(y)) return { x, y: flattenNumbers(y, `line ${row}, y`) };
  throw invalid(`line ${row}, y: must be a number, a string or a number array`);
}
