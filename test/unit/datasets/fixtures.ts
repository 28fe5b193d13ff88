/** Builders for dataset files in the tests: .npy, zip (stored or deflated), IDX. */
import { crc32, deflateRawSync } from 'node:zlib';

export type NpyDescr = '<f4' | '<f8' | '>f4' | '|u1' | '<i4' | '<i8' | '|b1' | '<u2';

export function npy(values: ArrayLike<number>, shape: number[], descr: NpyDescr = '<f4', o: { fortran?: boolean } = {}): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${o.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const size = Number(descr.slice(2));
  const out = new Uint8Array(10 + header.length + values.length * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer);
  const le = descr[0] !== '>';
  let o2 = 10 + header.length;
  for (let i = 0; i < values.length; i++, o2 += size) {
    const v = values[i]!;
    switch (descr.slice(1)) {
      case 'f4': dv.setFloat32(o2, v, le); break;
      case 'f8': dv.setFloat64(o2, v, le); break;
      case 'u1': case 'b1': dv.setUint8(o2, v); break;
      case 'u2': dv.setUint16(o2, v, le); break;
      case 'i4': dv.setInt32(o2, v, le); break;
      case 'i8': dv.setBigInt64(o2, BigInt(v), le); break;
    }
  }
  return out;
}

export function zip(entries: { name: string; data: Uint8Array }[], o: { deflate?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const body = o.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = crc32(e.data) >>> 0;
    const lh = new Uint8Array(30 + name.length);
    const l = new DataView(lh.buffer);
    l.setUint32(0, 0x04034b50, true); l.setUint16(4, 20, true); l.setUint16(8, o.deflate ? 8 : 0, true);
    l.setUint32(14, crc, true); l.setUint32(18, body.length, true); l.setUint32(22, e.data.length, true); l.setUint16(26, name.length, true);
    lh.set(name, 30);
    const ch = new Uint8Array(46 + name.length);
    const c = new DataView(ch.buffer);
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true); c.setUint16(10, o.deflate ? 8 : 0, true);
    c.setUint32(16, crc, true); c.setUint32(20, body.length, true); c.setUint32(24, e.data.length, true); c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    ch.set(name, 46);
    parts.push(lh, body);
    central.push(ch);
    offset += lh.length + body.length;
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  const eocd = new Uint8Array(22);
  const d = new DataView(eocd.buffer);
  d.setUint32(0, 0x06054b50, true); d.setUint16(8, entries.length, true); d.setUint16(10, entries.length, true);
  d.setUint32(12, cdSize, true); d.setUint32(16, offset, true);
  return new Uint8Array(Buffer.concat([...parts, ...central, eocd]));
}

/** IDX of unsigned bytes (type 0x08) or big-endian float32 (0x0d). */
export function idx(values: ArrayLike<number>, dims: number[], type: 0x08 | 0x0d = 0x08): Uint8Array {
  const size = type === 0x08 ? 1 : 4;
  const out = new Uint8Array(4 + 4 * dims.length + values.length * size);
  const dv = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  const o = 4 + 4 * dims.length;
  for (let i = 0; i < values.length; i++) {
    if (type === 0x08) out[o + i] = values[i]!;
    else dv.setFloat32(o + 4 * i, values[i]!, false);
  }
  return out;
}

/** deterministic pseudo-random floats */
export function floats(n: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround((s / 2 ** 32) * 20 - 10);
  });
}
