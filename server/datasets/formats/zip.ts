/**
 * A minimal zip reader for .npz files and IDX bundles: the central directory (zip64 sizes and
 * offsets included), entries stored (method 0) or deflated (method 8). Pure: the caller reads
 * the bytes it asks for from the file.
 */
import { TabswarmError } from '../../../shared/errors.ts';

const invalid = (m: string) => new TabswarmError('DATASET_INVALID', m);

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** where the entry's local header starts */
  localOffset: number;
}

/** The tail of the file to read for `findCentralDirectory` (the EOCD record and a comment). */
export const ZIP_TAIL_BYTES = 22 + 0xffff + 20;

/** Finds the central directory from the file's last bytes (`tail` starts at `tailOffset`). */
export function findCentralDirectory(tail: Uint8Array, tailOffset: number, fileSize: number): { offset: number; size: number; entries: number } {
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) !== 0x06054b50) continue;
    let entries = dv.getUint16(i + 10, true);
    let size = dv.getUint32(i + 12, true);
    let offset = dv.getUint32(i + 16, true);
    // zip64: a locator just before the EOCD points at the zip64 EOCD record
    if ((entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) && i >= 20 && dv.getUint32(i - 20, true) === 0x07064b50) {
      const at = Number(dv.getBigUint64(i - 20 + 8, true)) - tailOffset;
      if (at < 0 || at + 56 > tail.length || dv.getUint32(at, true) !== 0x06064b50) throw invalid(`zip: bad zip64 end record (byte ${tailOffset + i - 20})`);
      entries = Number(dv.getBigUint64(at + 32, true));
      size = Number(dv.getBigUint64(at + 40, true));
      offset = Number(dv.getBigUint64(at + 48, true));
    }
    if (offset + size > fileSize) throw invalid(`zip: the central directory (byte ${offset}, ${size} bytes) runs past the end of the file (${fileSize} bytes: truncated?)`);
    return { offset, size, entries };
  }
  throw invalid(`zip: no end-of-central-directory record (not a zip file, or truncated; ${fileSize} bytes)`);
}

export function parseCentralDirectory(b: Uint8Array, baseOffset: number, count: number): ZipEntry[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: ZipEntry[] = [];
  let o = 0;
  for (let k = 0; k < count; k++) {
    if (o + 46 > b.length || dv.getUint32(o, true) !== 0x02014b50) throw invalid(`zip: bad central directory entry at byte ${baseOffset + o}`);
    const flags = dv.getUint16(o + 8, true);
    if (flags & 1) throw invalid(`zip: encrypted entry at byte ${baseOffset + o}`);
    const method = dv.getUint16(o + 10, true);
    const crc32 = dv.getUint32(o + 16, true);
    let compressedSize = dv.getUint32(o + 20, true);
    let size = dv.getUint32(o + 24, true);
    const nameLen = dv.getUint16(o + 28, true);
    const extraLen = dv.getUint16(o + 30, true);
    const commentLen = dv.getUint16(o + 32, true);
    let localOffset = dv.getUint32(o + 42, true);
    if (o + 46 + nameLen + extraLen + commentLen > b.length) throw invalid(`zip: central directory entry at byte ${baseOffset + o} is truncated`);
    const name = new TextDecoder().decode(b.subarray(o + 46, o + 46 + nameLen));
    // zip64 extended information: the fields that are 0xffffffff above, in this order
    let e = o + 46 + nameLen;
    const end = e + extraLen;
    while (e + 4 <= end) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let f = e + 4;
        const next = () => {
          if (f + 8 > e + 4 + len) throw invalid(`zip: short zip64 field at byte ${baseOffset + f}`);
          const v = Number(dv.getBigUint64(f, true));
          f += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e += 4 + len;
    }
    out.push({ name, method, crc32, compressedSize, size, localOffset });
    o = end + commentLen;
  }
  return out;
}

/** Where the entry's data starts, from its local header's first 30 bytes. */
export function localDataOffset(header: Uint8Array, entry: ZipEntry): number {
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (header.length < 30 || dv.getUint32(0, true) !== 0x04034b50) throw invalid(`zip: bad local header for ${entry.name} at byte ${entry.localOffset}`);
  return entry.localOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
}
