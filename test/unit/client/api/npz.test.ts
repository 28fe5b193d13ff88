/** The API's in-memory inputs as an .npz: CRC-32, .npy headers and the zip directory, read back by the store's own parsers. */
import { describe, expect, it } from 'vitest';
import { crc32, inputsNpz, npyBytes, storedZip } from '../../../../client/api/npz.ts';
import { npyHeaderLength, parseNpyHeader } from '../../../../server/datasets/formats/npy.ts';
import { findCentralDirectory, parseCentralDirectory } from '../../../../server/datasets/formats/zip.ts';

describe('npz', () => {
  it('crc32 is the zip CRC (check value of "123456789")', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('npy: a header padded to 64 bytes that the store parses, then the float32 values little-endian', () => {
    for (const shape of [[5], [2, 3], [2, 2, 2, 1]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i - 1.5);
      const b = npyBytes(data, shape);
      const len = npyHeaderLength(b.subarray(0, 10), 'test');
      expect(len % 64).toBe(0);
      const h = parseNpyHeader(b.subarray(0, len), 'test');
      expect(h.shape).toEqual(shape);
      expect(new Float32Array(b.slice(len).buffer)).toEqual(data);
    }
  });

  it('a stored zip whose directory names each entry, its offset, size and CRC', () => {
    const a = new TextEncoder().encode('first');
    const z = storedZip([{ name: 'a.txt', data: a }, { name: 'b.bin', data: new Uint8Array(3) }]);
    const cd = findCentralDirectory(z.subarray(z.length - 22), z.length - 22, z.length);
    const entries = parseCentralDirectory(z.subarray(cd.offset, cd.offset + cd.size), cd.offset, cd.entries);
    expect(entries.map((e) => [e.name, e.method, e.size, e.crc32])).toEqual([['a.txt', 0, 5, crc32(a)], ['b.bin', 0, 3, crc32(new Uint8Array(3))]]);
    expect(new TextDecoder().decode(z.subarray(30 + 5, 30 + 5 + 5))).toBe('first');
  });

  it('inputs of the wrong size, shape or values are refused with BAD_REQUEST', () => {
    expect(() => inputsNpz(new Float32Array(6), [2, 3])).not.toThrow();
    expect(() => inputsNpz(new Float32Array(5), [2, 3])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => inputsNpz(new Float32Array(3), [3])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => inputsNpz(Float32Array.of(Infinity), [1, 1])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
