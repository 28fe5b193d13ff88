/**
 * IDX (the MNIST format): magic 0x0000 TT DD (TT the type, DD the number of dimensions),
 * DD big-endian u32 sizes, then the values, big-endian.
 */
import { TabswarmError } from '../../../shared/errors.ts';
import type { Dtype } from './npy.ts';

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);

const TYPES: Record<number, Omit<Dtype, 'descr'>> = {
  0x08: { kind: 'u', size: 1, little: false },
  0x09: { kind: 'i', size: 1, little: false },
  0x0b: { kind: 'i', size: 2, little: false },
  0x0c: { kind: 'i', size: 4, little: false },
  0x0d: { kind: 'f', size: 4, little: false },
  0x0e: { kind: 'f', size: 8, little: false },
};

export interface IdxHeader {
  dtype: Dtype;
  dims: number[];
  dataOffset: number;
}

/** Needs the first 4 bytes to know its length: 4 + 4·dims. */
export function idxHeaderLength(b: Uint8Array, where: string): number {
  if (b.length < 4) throw invalid(`${where}: ${b.length} bytes is too short for an IDX header (byte 0)`);
  if (b[0] !== 0 || b[1] !== 0) throw invalid(`${where}: wrong magic at byte 0 (not an IDX file)`);
  if (!(b[2]! in TYPES)) throw invalid(`${where}: unknown IDX type 0x${b[2]!.toString(16)} at byte 2`);
  if (b[3]! < 1 || b[3]! > 8) throw invalid(`${where}: ${b[3]} dimensions at byte 3`);
  return 4 + 4 * b[3]!;
}

export function parseIdxHeader(b: Uint8Array, where: string): IdxHeader {
  const dataOffset = idxHeaderLength(b, where);
  if (b.length < dataOffset) throw invalid(`${where}: truncated IDX header (byte ${b.length} of ${dataOffset})`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims = Array.from({ length: b[3]! }, (_, i) => dv.getUint32(4 + 4 * i, false));
  const t = TYPES[b[2]!]!;
  return { dtype: { ...t, descr: `idx 0x${b[2]!.toString(16)}` }, dims, dataOffset };
}
