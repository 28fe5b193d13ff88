/**
 * NumPy .npy (format versions 1–3): the header and its values. Little- and big-endian
 * integers, unsigned integers, floats and bools; C order only.
 */
import { TabswarmError } from '../../../shared/errors.ts';

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);

export interface Dtype {
  kind: 'f' | 'i' | 'u' | 'b';
  size: number;
  little: boolean;
  /** as written in the file, e.g. '<f4' */
  descr: string;
}

export interface NpyHeader {
  dtype: Dtype;
  shape: number[];
  /** bytes before the data */
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** How many bytes of a file `parseNpyHeader` needs to see: the preamble says (10 or 12 bytes read first). */
export function npyHeaderLength(pre: Uint8Array, where: string): number {
  if (pre.length < 10) throw invalid(`${where}: ${pre.length} bytes is too short for a .npy header (byte 0)`);
  for (let i = 0; i < 6; i++) if (pre[i] !== MAGIC[i]) throw invalid(`${where}: wrong magic at byte ${i} (not a .npy file)`);
  const major = pre[6]!;
  if (major === 1) return 10 + (pre[8]! | (pre[9]! << 8));
  if (major === 2 || major === 3) {
    if (pre.length < 12) throw invalid(`${where}: truncated .npy header (byte ${pre.length})`);
    return 12 + new DataView(pre.buffer, pre.byteOffset, pre.byteLength).getUint32(8, true);
  }
  throw invalid(`${where}: unsupported .npy format version ${major} (byte 6)`);
}

export function parseDtype(descr: string, where: string): Dtype {
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (!m) throw invalid(`${where}: dtype '${descr}' is not supported (numbers only: float, int, uint, bool)`);
  const kind = m[2] as Dtype['kind'];
  const size = Number(m[3]);
  const ok = kind === 'f' ? size === 4 || size === 8 : kind === 'b' ? size === 1 : size === 1 || size === 2 || size === 4 || size === 8;
  if (!ok) throw invalid(`${where}: dtype '${descr}' is not supported (float16 and odd sizes are not)`);
  return { kind, size, little: m[1] !== '>', descr };
}

/** The header of a .npy whose first `npyHeaderLength` bytes are `b`. */
export function parseNpyHeader(b: Uint8Array, where: string): NpyHeader {
  const dataOffset = npyHeaderLength(b, where);
  if (b.length < dataOffset) throw invalid(`${where}: truncated .npy header (byte ${b.length} of ${dataOffset})`);
  const text = new TextDecoder('latin1').decode(b.subarray(b[6] === 1 ? 10 : 12, dataOffset));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw invalid(`${where}: the .npy header dictionary is malformed (bytes 10..${dataOffset})`);
  if (fortran === 'True') throw invalid(`${where}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const dtype = parseDtype(descr, where);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    if (!/^\d+$/.test(s)) throw invalid(`${where}: bad dimension '${s}' in the .npy shape`);
    return Number(s);
  });
  return { dtype, shape, dataOffset };
}

/**
 * Decodes `count` values of `dtype` from `b` into `out` at `outOffset`; a NaN or infinity is
 * DATASET_INVALID naming its byte offset (`baseOffset` + its place in `b`).
 */
export function decodeValues(b: Uint8Array, dtype: { kind: 'f' | 'i' | 'u' | 'b'; size: number; little: boolean }, out: Float32Array | Float64Array, outOffset: number, baseOffset: number, where: string): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Math.floor(b.length / dtype.size);
  const le = dtype.little;
  const s = dtype.size;
  for (let i = 0; i < n; i++) {
    const o = i * s;
    let v: number;
    switch (dtype.kind) {
      case 'f':
        v = s === 4 ? dv.getFloat32(o, le) : dv.getFloat64(o, le);
        if (!Number.isFinite(v)) throw invalid(`${where}: ${v} at byte ${baseOffset + o} (NaN and infinities are refused)`);
        if (out instanceof Float32Array && Math.abs(v) > 3.4028234663852886e38) throw invalid(`${where}: ${v} at byte ${baseOffset + o} overflows float32`);
        break;
      case 'b':
      case 'u':
        v = s === 1 ? b[o]! : s === 2 ? dv.getUint16(o, le) : s === 4 ? dv.getUint32(o, le) : Number(dv.getBigUint64(o, le));
        break;
      default:
        v = s === 1 ? dv.getInt8(o) : s === 2 ? dv.getInt16(o, le) : s === 4 ? dv.getInt32(o, le) : Number(dv.getBigInt64(o, le));
    }
    out[outOffset + i] = v;
  }
}
