/**
 * In-memory inputs (a tf.Tensor, or a TypedArray with its shape) as an upload the dataset store
 * reads (server/datasets/ingest.ts): an .npz — a zip of stored (uncompressed) x.npy and y.npy,
 * float32, little-endian. The store wants labels, so y.npy holds a zero regression target per
 * sample, which a prediction made from these inputs ignores (`labels: false`).
 */
import { ApiError } from './errors.ts';

/** A tf.Tensor as far as the API reads it: its shape and its values. */
export interface TensorLike {
  shape: number[];
  data(): Promise<ArrayLike<number>>;
}

/** Values with the shape [samples, ...features], row-major. */
export interface ShapedArray {
  data: ArrayLike<number>;
  shape: number[];
}

export const isTensorLike = (v: unknown): v is TensorLike =>
  typeof v === 'object' && v !== null && Array.isArray((v as TensorLike).shape) && typeof (v as TensorLike).data === 'function';

export const isShapedArray = (v: unknown): v is ShapedArray =>
  typeof v === 'object' && v !== null && Array.isArray((v as ShapedArray).shape) && ArrayBuffer.isView((v as ShapedArray).data);

/** A .npy (format 1.0) of float32 values with a shape. */
export function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // the preamble (10 bytes) plus the header, newline-terminated, pads to a multiple of 64
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  const le = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < data.length; i++) le.setFloat32(i * 4, data[i]!, true);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip of stored entries (no compression, no zip64: under 4 GiB). */
export function storedZip(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const crc = crc32(e.data);
    const local = new Uint8Array(30 + name.length + e.data.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, e.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(e.data, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let o = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** The .npz the store reads for `shape[0]` samples of `shape.slice(1)` features, with zero regression targets. */
export function inputsNpz(values: ArrayLike<number>, shape: number[]): Uint8Array {
  const n = shape[0] ?? 0;
  if (shape.length < 2 || n < 1 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ApiError('BAD_REQUEST', `inputs of shape [${shape.join(', ')}]: want [samples, ...features], each at least 1`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new ApiError('BAD_REQUEST', `inputs: ${values.length} values where shape [${shape.join(', ')}] needs ${size}`);
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw new ApiError('BAD_REQUEST', `inputs: value ${i} is ${values[i]}, not a finite number`);
  return storedZip([
    { name: 'x.npy', data: npyBytes(Float32Array.from(values), shape) },
    { name: 'y.npy', data: npyBytes(new Float32Array(n), [n]) },
  ]);
}
