/**
 * A prediction job's outputs on disk: one file of float32 rows (little-endian, input order),
 * each unit written once at its offset as it is settled, so the whole output is never in
 * memory. Downloads stream from the file: `.npy` (the header, then the file as it is), CSV
 * and JSON Lines (formatted a block of rows at a time).
 */
import { closeSync, createReadStream, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';

export type PredictionFormat = 'npy' | 'csv' | 'jsonl';
const ROWS_PER_BLOCK = 1024;

export class OutputFile {
  private fd: number | null;
  constructor(
    readonly path: string,
    readonly rows: number,
    readonly rowSize: number,
  ) {
    this.fd = openSync(path, 'w+');
    ftruncateSync(this.fd, rows * rowSize * 4);
  }

  /** Writes rows [start, start + n) once; `out` holds n × rowSize floats. */
  write(start: number, out: Float32Array) {
    if (this.fd === null) throw new Error('output file closed');
    if (out.length % this.rowSize !== 0 || start + out.length / this.rowSize > this.rows) throw new RangeError('rows outside the output');
    const b = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off, start * this.rowSize * 4 + off);
  }

  /** Rows [start, start + n) read back. */
  read(start: number, n: number): Float32Array {
    if (this.fd === null) throw new Error('output file closed');
    const b = Buffer.alloc(n * this.rowSize * 4);
    let off = 0;
    while (off < b.length) {
      const r = readSync(this.fd, b, off, b.length - off, start * this.rowSize * 4 + off);
      if (r === 0) break;
      off += r;
    }
    return new Float32Array(b.buffer, b.byteOffset, n * this.rowSize);
  }

  /** The download in `format`, streamed from disk. */
  stream(format: PredictionFormat): Readable {
    if (format === 'npy') return Readable.from(npyStream(this));
    return Readable.from(textRows(this, format));
  }

  close(remove = false) {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (remove) rmSync(this.path, { force: true });
  }
}

/** NumPy format 1.0: magic, header length, a Python dict literal padded to a multiple of 64 bytes. */
export function npyHeader(rows: number, rowSize: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${rowSize}), }`;
  const unpadded = 10 + dict.length + 1;
  const pad = (64 - (unpadded % 64)) % 64;
  const text = dict + ' '.repeat(pad) + '\n';
  const h = Buffer.alloc(10 + text.length);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1;
  h[7] = 0;
  h.writeUInt16LE(text.length, 8);
  h.write(text, 10, 'latin1');
  return h;
}

async function* npyStream(f: OutputFile): AsyncGenerator<Buffer> {
  yield npyHeader(f.rows, f.rowSize);
  if (f.rows * f.rowSize === 0) return;
  for await (const c of createReadStream(f.path, { start: 0, end: f.rows * f.rowSize * 4 - 1 })) yield c as Buffer;
}

async function* textRows(f: OutputFile, format: 'csv' | 'jsonl'): AsyncGenerator<string> {
  if (format === 'csv') yield Array.from({ length: f.rowSize }, (_, i) => `y${i}`).join(',') + '\n';
  for (let start = 0; start < f.rows; start += ROWS_PER_BLOCK) {
    const n = Math.min(ROWS_PER_BLOCK, f.rows - start);
    const block = f.read(start, n);
    let text = '';
    for (let r = 0; r < n; r++) {
      // JSON has no NaN or Infinity: null there (CSV keeps JavaScript's spelling)
      const row = Array.from(block.subarray(r * f.rowSize, (r + 1) * f.rowSize), (x) => (format === 'jsonl' && !Number.isFinite(x) ? 'null' : String(x)));
      text += format === 'csv' ? `${row.join(',')}\n` : `[${row.join(',')}]\n`;
    }
    yield text;
  }
}
