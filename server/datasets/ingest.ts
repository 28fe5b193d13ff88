/**
 * Longer than our ~300-line guide: one streaming driver per upload format; they share the shard writer and error reporting, and read best next to each other.
 *
 * From an uploaded file on disk to shards: one driver per format, each reading the file as a
 * stream (a row format twice: once to learn the labels, once to write), so memory stays at
 * about one shard whatever the file's size (an .npz's or IDX bundle's labels are held whole:
 * one number per sample).
 *
 * Formats (`?format=`):
 *   csv    header row; `label=COL` names the label column, every other column a number
 *   jsonl  one {"x": [...], "y": ...} per line
 *   npy    one 2-D array (samples × columns); `label=INDEX` the label column (default -1, the last)
 *   npz    a zip (np.savez / np.savez_compressed) with x.npy (samples × features…) and y.npy
 *          (integer dtype: class ids; float dtype: regression targets)
 *   idx    a zip bundling two IDX files (each may be gzipped, as MNIST ships them): the
 *          1-dimensional one is the labels, the other the samples; IDX float labels are regression targets
 * Values are stored as read (no scaling: an IDX image's bytes stay 0..255); a 3-dimensional IDX
 * (samples × rows × cols) gets a channel dimension, [rows, cols, 1], like the built-in MNIST.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { createGunzip, createInflateRaw, crc32 } from 'node:zlib';
import { prod, type TaskKind } from '../../shared/datasetShards.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { csvHeader, csvRow } from './formats/csv.ts';
import { parseIdxHeader, idxHeaderLength } from './formats/idx.ts';
import { parseJsonlLine } from './formats/jsonl.ts';
import { MAX_CLASSES, scanLabels, type RawLabel } from './formats/labels.ts';
import { decodeValues, npyHeaderLength, parseNpyHeader, type Dtype } from './formats/npy.ts';
import { ZIP_TAIL_BYTES, findCentralDirectory, localDataOffset, parseCentralDirectory, type ZipEntry } from './formats/zip.ts';
import type { Layout, ShardWriter } from './shardWriter.ts';

export const FORMATS = ['csv', 'jsonl', 'npy', 'npz', 'idx'] as const;
export type DatasetFormat = (typeof FORMATS)[number];

export interface IngestOptions {
  format: DatasetFormat;
  label: string | null;
  /** the uploader's `?task=`: forces numeric labels to be regression targets or class ids; null: inferred */
  task?: TaskKind | null;
  /** a new writer for the layout the file turned out to have */
  writer: (layout: Layout) => ShardWriter;
  /** longest line a row format may have */
  maxLineBytes?: number;
}

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);
/** samples decoded per read in the binary formats */
const CHUNK_BYTES = 1 << 20;

export async function ingest(file: string, o: IngestOptions): Promise<ShardWriter> {
  switch (o.format) {
    case 'csv':
      return ingestCsv(file, o);
    case 'jsonl':
      return ingestJsonl(file, o);
    case 'npy':
      return ingestNpy(file, o);
    case 'npz':
      return ingestNpz(file, o);
    case 'idx':
      return ingestIdx(file, o);
  }
}

// ---------------------------------------------------------------- streams

/** Reads exact byte counts from a stream; running out is DATASET_INVALID naming the offset. */
export class ExactReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** bytes handed out so far */
  offset = 0;
  constructor(stream: AsyncIterable<Buffer>, private readonly where: string) {
    this.it = stream[Symbol.asyncIterator]();
  }
  private async fill(n: number): Promise<void> {
    const parts = [this.buf];
    let have = this.buf.length;
    while (have < n && !this.done) {
      let r: IteratorResult<Buffer>;
      try {
        r = await this.it.next();
      } catch (e) {
        if (e instanceof TabswarmError) throw e;
        throw invalid(`${this.where}: the data does not decompress at about byte ${this.offset + have} (${e instanceof Error ? e.message : String(e)})`);
      }
      if (r.done) this.done = true;
      else {
        parts.push(r.value);
        have += r.value.length;
      }
    }
    this.buf = parts.length === 1 ? this.buf : Buffer.concat(parts);
  }
  async read(n: number, what: string): Promise<Uint8Array> {
    if (this.buf.length < n) await this.fill(n);
    if (this.buf.length < n) throw invalid(`${this.where}: truncated: ${what} needs ${n} bytes at byte ${this.offset}, the data ends at byte ${this.offset + this.buf.length}`);
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return out;
  }
  async peek(n: number): Promise<Uint8Array> {
    if (this.buf.length < n) await this.fill(n);
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, Math.min(n, this.buf.length));
  }
  /** throws when bytes are left over */
  async expectEnd(): Promise<void> {
    await this.fill(1);
    if (this.buf.length > 0) throw invalid(`${this.where}: unexpected data after the end at byte ${this.offset}`);
  }
  close() {
    void this.it.return?.();
  }
}

/** The file's lines (without the newline), 1-based, each at most `max` bytes. */
async function* lines(file: string, max: number): AsyncGenerator<{ text: string; row: number }> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let row = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const text = (b: Buffer) => {
    try {
      return decoder.decode(b);
    } catch {
      throw invalid(`row ${row}: not valid UTF-8`);
    }
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      row++;
      const piece = chunk.subarray(start, nl);
      if (pendingLen + piece.length > max) throw invalid(`row ${row}: longer than ${max} bytes`);
      const line = pending.length ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingLen = 0;
      yield { text: text(line), row };
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    pendingLen += rest.length;
    if (pendingLen > max) throw invalid(`row ${row + 1}: longer than ${max} bytes`);
    if (rest.length) pending.push(rest);
  }
  if (pendingLen > 0) yield { text: text(Buffer.concat(pending)), row: row + 1 };
}

const blank = (s: string) => s.trim().length === 0;

// ---------------------------------------------------------------- row formats

async function ingestCsv(file: string, o: IngestOptions): Promise<ShardWriter> {
  const max = o.maxLineBytes ?? 16 << 20;
  // pass 1: the header, every row checked, the labels learned
  let header: ReturnType<typeof csvHeader> | null = null;
  const scan = scanLabels(o.task ?? null);
  for await (const { text, row } of lines(file, max)) {
    if (blank(text)) continue;
    if (!header) {
      header = csvHeader(text.replace(/^\uFEFF/, ''), o.label);
      continue;
    }
    scan.add(csvRow(text, row, header, null), `row ${row}, column ${header.labelIndex + 1} ("${o.label}")`);
  }
  if (!header) throw invalid('empty file');
  const labels = scan.resolve();
  const w = o.writer({ task: labels.task, featureShape: [header.featureCount], targetShape: labels.targetShape, classes: labels.classes });
  // pass 2: write
  const x = new Float32Array(header.featureCount);
  const y = labels.task === 'classification' ? new Uint32Array(1) : new Float32Array(prod(labels.targetShape));
  let first = true;
  for await (const { text, row } of lines(file, max)) {
    if (blank(text)) continue;
    if (first) {
      first = false;
      continue;
    }
    const where = `row ${row}`;
    labels.write(csvRow(text, row, header, x), where, y, 0);
    await w.add(x, y, 1, () => where);
  }
  return w;
}

async function ingestJsonl(file: string, o: IngestOptions): Promise<ShardWriter> {
  const max = o.maxLineBytes ?? 16 << 20;
  let shape: number[] | null = null;
  const scan = scanLabels(o.task ?? null);
  for await (const { text, row } of lines(file, max)) {
    if (blank(text)) continue;
    const s = parseJsonlLine(text, row);
    if (!shape) shape = s.x.shape;
    else if (shape.length !== s.x.shape.length || shape.some((d, i) => d !== s.x.shape[i])) {
      throw invalid(`line ${row}, x: shape [${s.x.shape.join(', ')}] differs from the first line's [${shape.join(', ')}] (ragged)`);
    }
    scan.add(s.y, `line ${row}, y`);
  }
  if (!shape) throw invalid('empty file');
  const labels = scan.resolve();
  const w = o.writer({ task: labels.task, featureShape: shape, targetShape: labels.targetShape, classes: labels.classes });
  const y = labels.task === 'classification' ? new Uint32Array(1) : new Float32Array(prod(labels.targetShape));
  for await (const { text, row } of lines(file, max)) {
    if (blank(text)) continue;
    const s = parseJsonlLine(text, row);
    labels.write(s.y, `line ${row}`, y, 0);
    await w.add(s.x.values, y, 1, () => `line ${row}`);
  }
  return w;
}

// ---------------------------------------------------------------- binary formats

type Opener = () => { stream: AsyncIterable<Buffer>; finish?: () => void };

/** An .npy's header from a fresh reader. */
async function readNpyHeader(r: ExactReader, where: string) {
  const pre = await r.peek(12);
  const len = npyHeaderLength(pre, where);
  if (len > 1 << 20) throw invalid(`${where}: .npy header of ${len} bytes`);
  return parseNpyHeader(await r.read(len, 'the .npy header'), where);
}

/** Reads `count` values of `dtype` as float64, in chunks. */
async function readAll(r: ExactReader, dtype: Dtype, count: number, where: string): Promise<Float64Array> {
  const out = new Float64Array(count);
  const per = Math.max(1, Math.floor(CHUNK_BYTES / dtype.size));
  for (let i = 0; i < count; i += per) {
    const n = Math.min(per, count - i);
    const at = r.offset;
    decodeValues(await r.read(n * dtype.size, `value ${i}`), dtype, out, i, at, where);
  }
  return out;
}

/** Streams `count` samples of F values each from `r` to the writer, with labels `y` (count × T). */
async function streamSamples(r: ExactReader, dtype: Dtype, count: number, F: number, y: ArrayLike<number>, T: number, w: ShardWriter, where: string) {
  const per = Math.max(1, Math.floor(CHUNK_BYTES / (dtype.size * F)));
  const x = new Float32Array(per * F);
  for (let i = 0; i < count; i += per) {
    const n = Math.min(per, count - i);
    const at = r.offset;
    const xs = x.subarray(0, n * F);
    decodeValues(await r.read(n * F * dtype.size, `sample ${i}`), dtype, xs, 0, at, where);
    const ys = 'subarray' in y ? (y as Float64Array).subarray(i * T, (i + n) * T) : Array.prototype.slice.call(y, i * T, (i + n) * T);
    await w.add(xs, ys, n, (j) => `${where}: sample ${i + j}`);
  }
}

/** Class ids (integers ≥ 0) or regression targets from label values. */
function labelLayout(values: Float64Array, classification: boolean, where: string): { task: Layout['task']; classes: string[] | null } {
  if (!classification) {
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw invalid(`${where}: label ${i} is ${values[i]}`);
    return { task: 'regression', classes: null };
  }
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0) throw invalid(`${where}: label ${i} is ${v}; class labels must be integers ≥ 0`);
    if (v > max) max = v;
  }
  if (max >= MAX_CLASSES) throw invalid(`${where}: label ${max} is over the ${MAX_CLASSES - 1} a class id may be`);
  return { task: 'classification', classes: Array.from({ length: max + 1 }, (_, i) => String(i)) };
}

async function ingestNpy(file: string, o: IngestOptions): Promise<ShardWriter> {
  const where = 'npy';
  const open1 = () => new ExactReader(createReadStream(file) as AsyncIterable<Buffer>, where);
  let r = open1();
  const h = await readNpyHeader(r, where);
  if (h.shape.length !== 2 || h.shape[1]! < 2) throw invalid(`${where}: a single .npy must be 2-D (samples × columns, one of them the label), got shape (${h.shape.join(', ')})`);
  const [n, c] = h.shape as [number, number];
  if (n === 0) throw invalid(`${where}: no samples`);
  const li = o.label === null ? c - 1 : Number(o.label) < 0 ? c + Number(o.label) : Number(o.label);
  if (!Number.isInteger(li) || li < 0 || li >= c) throw invalid(`${where}: label=${o.label} is not a column index in 0..${c - 1} (or -1 for the last)`);
  // pass 1: the label column
  const scan = scanLabels(o.task ?? null);
  const rowVals = new Float64Array(c);
  const per = Math.max(1, Math.floor(CHUNK_BYTES / (c * h.dtype.size)));
  const rows = async (fn: (row: Float64Array, i: number) => void | Promise<void>) => {
    for (let i = 0; i < n; i += per) {
      const m = Math.min(per, n - i);
      const at = r.offset;
      const block = new Float64Array(m * c);
      decodeValues(await r.read(m * c * h.dtype.size, `row ${i}`), h.dtype, block, 0, at, where);
      for (let k = 0; k < m; k++) {
        rowVals.set(block.subarray(k * c, (k + 1) * c));
        await fn(rowVals, i + k);
      }
    }
    await r.expectEnd();
  };
  await rows((v, i) => scan.add(v[li]!, `${where}: row ${i}, column ${li}`));
  const labels = scan.resolve();
  const w = o.writer({ task: labels.task, featureShape: [c - 1], targetShape: labels.targetShape, classes: labels.classes });
  r = open1();
  await readNpyHeader(r, where);
  const x = new Float32Array(c - 1);
  const y = labels.task === 'classification' ? new Uint32Array(1) : new Float32Array(1);
  await rows(async (v, i) => {
    for (let k = 0, f = 0; k < c; k++) if (k !== li) x[f++] = v[k]!;
    labels.write(v[li]! as RawLabel, `${where}: row ${i}`, y, 0);
    await w.add(x, y, 1, () => `${where}: row ${i}`);
  });
  return w;
}

// ---------------------------------------------------------------- zip bundles

interface ZipFile {
  entries: ZipEntry[];
  /** the entry's (decompressed) bytes as a stream; the CRC is checked at its end */
  open(e: ZipEntry): AsyncIterable<Buffer>;
}

async function openZip(file: string): Promise<ZipFile> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const tailLen = Math.min(size, ZIP_TAIL_BYTES);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    const cd = findCentralDirectory(tail, size - tailLen, size);
    if (cd.size > 16 << 20) throw invalid(`zip: a central directory of ${cd.size} bytes`);
    const dir = Buffer.alloc(cd.size);
    await fh.read(dir, 0, cd.size, cd.offset);
    const entries = parseCentralDirectory(dir, cd.offset, cd.entries);
    const starts = new Map<ZipEntry, number>();
    for (const e of entries) {
      const lh = Buffer.alloc(30);
      const { bytesRead } = await fh.read(lh, 0, 30, e.localOffset);
      const start = localDataOffset(lh.subarray(0, bytesRead), e);
      if (start + e.compressedSize > size) throw invalid(`zip: entry ${e.name} (bytes ${start}..${start + e.compressedSize}) runs past the end of the file (${size} bytes: truncated?)`);
      if (e.method !== 0 && e.method !== 8) throw invalid(`zip: entry ${e.name} uses compression method ${e.method} (only stored and deflate are read)`);
      starts.set(e, start);
    }
    return {
      entries,
      open(e) {
        const start = starts.get(e)!;
        const body: AsyncIterable<Buffer> =
          e.compressedSize === 0
            ? Readable.from([])
            : (() => {
                const raw = createReadStream(file, { start, end: start + e.compressedSize - 1, highWaterMark: 1 << 20 });
                return e.method === 8 ? pipeline(raw, createInflateRaw(), () => {}) : raw;
              })();
        return (async function* () {
          let crc = 0;
          let n = 0;
          for await (const c of body) {
            crc = crc32(c, crc);
            n += c.length;
            if (n > e.size) throw invalid(`zip: entry ${e.name} holds more than its ${e.size} bytes`);
            yield c;
          }
          if (n !== e.size) throw invalid(`zip: entry ${e.name} has ${n} bytes, its directory says ${e.size} (truncated?)`);
          if (crc >>> 0 !== e.crc32) throw invalid(`zip: entry ${e.name} fails its CRC-32 check (corrupt)`);
        })();
      },
    };
  } finally {
    await fh.close();
  }
}

function entryNamed(z: ZipFile, name: string): ZipEntry {
  const e = z.entries.find((x) => x.name === name || x.name === name.replace(/\.npy$/, ''));
  if (!e) throw invalid(`npz: no ${name} (the entries are ${z.entries.map((x) => x.name).join(', ') || 'none'}); save with np.savez(f, x=features, y=labels)`);
  return e;
}

async function ingestNpz(file: string, o: IngestOptions): Promise<ShardWriter> {
  const z = await openZip(file);
  const ey = entryNamed(z, 'y.npy');
  const ex = entryNamed(z, 'x.npy');
  // the labels, whole
  const ry = new ExactReader(z.open(ey), 'npz y.npy');
  const hy = await readNpyHeader(ry, 'npz y.npy');
  if (hy.shape.length < 1) throw invalid('npz y.npy: a scalar; labels need one per sample');
  const n = hy.shape[0]!;
  const classification = o.task ? o.task === 'classification' : hy.dtype.kind !== 'f';
  if (classification && !(hy.shape.length === 1 || (hy.shape.length === 2 && hy.shape[1] === 1))) {
    throw invalid(`npz y.npy: integer labels must have shape (${n},), got (${hy.shape.join(', ')})`);
  }
  const T = prod(hy.shape.slice(1));
  const yv = await readAll(ry, hy.dtype, n * T, 'npz y.npy');
  await ry.expectEnd();
  const lab = labelLayout(yv, classification, 'npz y.npy');
  // the samples, streamed
  const rx = new ExactReader(z.open(ex), 'npz x.npy');
  const hx = await readNpyHeader(rx, 'npz x.npy');
  if (hx.shape.length < 1) throw invalid('npz x.npy: a scalar; features need one row per sample');
  if (hx.shape[0] !== n) throw invalid(`npz: x.npy has ${hx.shape[0]} samples, y.npy ${n}`);
  if (n === 0) throw invalid('npz: no samples');
  const featureShape = hx.shape.length === 1 ? [1] : hx.shape.slice(1);
  if (featureShape.some((d) => d === 0)) throw invalid(`npz x.npy: a zero dimension in shape (${hx.shape.join(', ')})`);
  const targetShape = lab.task === 'classification' ? [] : hy.shape.length === 1 ? [1] : hy.shape.slice(1);
  const w = o.writer({ task: lab.task, featureShape, targetShape, classes: lab.classes });
  await streamSamples(rx, hx.dtype, n, prod(featureShape), yv, lab.task === 'classification' ? 1 : T, w, 'npz x.npy');
  await rx.expectEnd();
  return w;
}

/** An IDX entry of the bundle, gunzipped when it is gzipped. */
function idxStream(z: ZipFile, e: ZipEntry): Opener {
  return () => {
    const s = z.open(e);
    const gz = /\.gz$/i.test(e.name);
    if (!gz) return { stream: s };
    const g = pipeline(Readable.from(s), createGunzip(), () => {});
    return { stream: g as AsyncIterable<Buffer> };
  };
}

async function ingestIdx(file: string, o: IngestOptions): Promise<ShardWriter> {
  const z = await openZip(file);
  const files = z.entries.filter((e) => !e.name.endsWith('/'));
  if (files.length !== 2) throw invalid(`idx: the zip must hold exactly two IDX files (samples and labels), it holds ${files.length}`);
  const heads = await Promise.all(files.map(async (e) => {
    const r = new ExactReader(idxStream(z, e)().stream, `idx ${e.name}`);
    const pre = await r.peek(4);
    const len = idxHeaderLength(pre, `idx ${e.name}`);
    const h = parseIdxHeader(await r.read(len, 'the IDX header'), `idx ${e.name}`);
    r.close();
    return { e, h };
  }));
  const lbl = heads.find((x) => x.h.dims.length === 1);
  const img = heads.find((x) => x !== lbl);
  if (!lbl || !img || img.h.dims.length < 2) throw invalid('idx: one file must be the labels (1 dimension), the other the samples (2 or more)');
  const n = lbl.h.dims[0]!;
  if (img.h.dims[0] !== n) throw invalid(`idx: ${img.e.name} has ${img.h.dims[0]} samples, ${lbl.e.name} ${n}`);
  if (n === 0) throw invalid('idx: no samples');
  const ry = new ExactReader(idxStream(z, lbl.e)().stream, `idx ${lbl.e.name}`);
  await ry.read(lbl.h.dataOffset, 'the IDX header');
  const yv = await readAll(ry, lbl.h.dtype, n, `idx ${lbl.e.name}`);
  await ry.expectEnd();
  const lab = labelLayout(yv, o.task ? o.task === 'classification' : lbl.h.dtype.kind !== 'f', `idx ${lbl.e.name}`);
  const rest = img.h.dims.slice(1);
  const featureShape = rest.length === 2 ? [...rest, 1] : rest;
  if (featureShape.some((d) => d === 0)) throw invalid(`idx ${img.e.name}: a zero dimension`);
  const w = o.writer({ task: lab.task, featureShape, targetShape: lab.task === 'classification' ? [] : [1], classes: lab.classes });
  const rx = new ExactReader(idxStream(z, img.e)().stream, `idx ${img.e.name}`);
  await rx.read(img.h.dataOffset, 'the IDX header');
  await streamSamples(rx, img.h.dtype, n, prod(featureShape), yv, 1, w, `idx ${img.e.name}`);
  await rx.expectEnd();
  return w;
}
