/**
 * CSV: a header row, then one sample per row. The label column is chosen by name (`label=`);
 * every other column is a numeric feature. Quoting as RFC 4180 within a line ("a ""b"""),
 * no line breaks inside a field. Rows and columns in messages are 1-based; row 1 is the header.
 */
import { TabswarmError } from '../../../shared/errors.ts';

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

export function splitCsvLine(line: string, row: number): string[] {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw invalid(`row ${row}, column ${cells.length + 1}: unterminated quoted field`);
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      cells.push(v);
      if (i < line.length && line[i] !== ',') throw invalid(`row ${row}, column ${cells.length}: characters after a closing quote`);
    } else {
      const c = line.indexOf(',', i);
      cells.push((c < 0 ? line.slice(i) : line.slice(i, c)).trim());
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) break;
    i++; // the comma
    if (i === line.length) {
      cells.push('');
      break;
    }
  }
  return cells;
}

export interface CsvHeader {
  columns: string[];
  labelIndex: number;
  featureCount: number;
}

export function csvHeader(line: string, label: string | null): CsvHeader {
  const columns = splitCsvLine(line, 1);
  if (!label) throw invalid('CSV needs the label column: add label=NAME to the query');
  const labelIndex = columns.indexOf(label);
  if (labelIndex < 0) throw invalid(`row 1: no column named "${label}" (the columns are ${columns.slice(0, 20).map((c) => `"${c}"`).join(', ')}${columns.length > 20 ? ', …' : ''})`);
  if (columns.indexOf(label, labelIndex + 1) >= 0) throw invalid(`row 1: two columns named "${label}"`);
  if (columns.length < 2) throw invalid('row 1: no feature columns besides the label');
  return { columns, labelIndex, featureCount: columns.length - 1 };
}

/** A strict number: decimal or exponent notation; NaN and Infinity refused by name. */
export function parseCell(cell: string, where: string): number {
  if (NUMBER.test(cell)) {
    const v = Number(cell);
    if (Math.abs(v) > 3.4028234663852886e38) throw invalid(`${where}: ${cell} overflows float32`);
    if (Number.isFinite(v)) return v;
    throw invalid(`${where}: ${cell} overflows a number`);
  }
  if (NON_FINITE.test(cell)) throw invalid(`${where}: ${cell} is not a finite number (NaN and Infinity are refused)`);
  throw invalid(`${where}: "${cell.slice(0, 40)}" is not a number`);
}

/** The label cell: a number when it reads as one, otherwise the string. */
export function csvLabel(cell: string): number | string {
  return NUMBER.test(cell) && Number.isFinite(Number(cell)) ? Number(cell) : cell;
}

/** One data row: features into `out` (at `offset`), the raw label back. */
export function csvRow(line: string, row: number, h: CsvHeader, out: Float32Array | null, offset = 0): number | string {
  const cells = splitCsvLine(line, row);
  if (cells.length !== h.columns.length) throw invalid(`row ${row}: ${cells.length} columns where the header has ${h.columns.length} (ragged row)`);
  let k = 0;
  for (let c = 0; c < cells.length; c++) {
    if (c === h.labelIndex) continue;
    const v = parseCell(cells[c]!, `row ${row}, column ${c + 1} ("${h.columns[c]}")`);
    if (out) out[offset + k] = v;
    k++;
  }
  const l = cells[h.labelIndex]!;
  if (NON_FINITE.test(l)) throw invalid(`row ${row}, column ${h.labelIndex + 1} ("${h.columns[h.labelIndex]}"): label ${l} is not a finite number`);
  return csvLabel(l);
}
