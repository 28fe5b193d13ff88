/** The pure parsers of server/datasets/formats/. */
import { describe, expect, it } from 'vitest';
import { csvHeader, csvRow, parseCell, splitCsvLine } from '../../../server/datasets/formats/csv.ts';
import { parseIdxHeader } from '../../../server/datasets/formats/idx.ts';
import { flattenNumbers, parseJsonlLine } from '../../../server/datasets/formats/jsonl.ts';
import { scanLabels } from '../../../server/datasets/formats/labels.ts';
import { decodeValues, parseDtype, parseNpyHeader } from '../../../server/datasets/formats/npy.ts';
import { findCentralDirectory, localDataOffset, parseCentralDirectory } from '../../../server/datasets/formats/zip.ts';
import { idx, npy, zip } from './fixtures.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  throw new Error('did not throw');
};

describe('csv', () => {
  it('splits quoted and plain cells', () => {
    expect(splitCsvLine('1, 2 ,"a,b","say ""hi""",', 2)).toEqual(['1', '2', 'a,b', 'say "hi"', '']);
    expect(splitCsvLine('x\r', 2)).toEqual(['x']);
    expect(code(() => splitCsvLine('1,"open', 7)).message).toMatch(/row 7, column 2: unterminated/);
  });
  it('finds the label column by name, or says which columns there are', () => {
    expect(csvHeader('a,b,y', 'y')).toEqual({ columns: ['a', 'b', 'y'], labelIndex: 2, featureCount: 2 });
    expect(code(() => csvHeader('a,b,y', 'label'))).toMatchObject({ code: 'DATASET_INVALID', message: expect.stringMatching(/no column named "label".*"a", "b", "y"/) });
    expect(code(() => csvHeader('a,b,y', null)).message).toMatch(/label=NAME/);
  });
  it('names the row and column of a bad cell', () => {
    const h = csvHeader('a,b,y', 'y');
    expect(code(() => csvRow('1,x,3', 5, h, null)).message).toMatch(/row 5, column 2 \("b"\): "x" is not a number/);
    expect(code(() => csvRow('1,NaN,3', 5, h, null)).message).toMatch(/row 5, column 2 \("b"\): NaN is not a finite number/);
    expect(code(() => csvRow('1,-inf,3', 5, h, null)).message).toMatch(/-inf is not a finite/);
    expect(code(() => csvRow('1,2', 9, h, null)).message).toMatch(/row 9: 2 columns where the header has 3 \(ragged row\)/);
    const out = new Float32Array(2);
    expect(csvRow('1.5,-2e3,cat', 3, h, out)).toBe('cat');
    expect([...out]).toEqual([1.5, -2000]);
    expect(parseCell('.5', '')).toBe(0.5);
    expect(code(() => parseCell('', 'row 2, column 1')).message).toMatch(/row 2, column 1: "" is not a number/);
  });
});

describe('labels', () => {
  const resolve = (ls: (number | string)[]) => {
    const s = scanLabels();
    ls.forEach((l, i) => s.add(l, `row ${i}`));
    return s.resolve();
  };
  it('strings: sorted classes', () => {
    const r = resolve(['dog', 'cat', 'emu', 'cat']);
    expect(r).toMatchObject({ task: 'classification', classes: ['cat', 'dog', 'emu'] });
    const out = new Uint32Array(1);
    r.write('emu', '', out, 0);
    expect(out[0]).toBe(2);
  });
  it('integers: class ids; any non-integer: regression', () => {
    expect(resolve([0, 2, 1])).toMatchObject({ task: 'classification', classes: ['0', '1', '2'] });
    expect(resolve([0, 2.5, 1])).toMatchObject({ task: 'regression', classes: null, targetShape: [1] });
    expect(code(() => resolve([0, -1])).message).toMatch(/row 1: a negative integer label/);
    expect(resolve([1, 'x'])).toMatchObject({ task: 'classification', classes: ['1', 'x'] });
  });
});

describe('jsonl', () => {
  it('reads x (nested) and y', () => {
    const s = parseJsonlLine('{"x": [[1, 2], [3, 4]], "y": 1}', 1);
    expect(s.x.shape).toEqual([2, 2]);
    expect([...s.x.values]).toEqual([1, 2, 3, 4]);
    expect(s.y).toBe(1);
    expect(parseJsonlLine('{"x": [1], "y": "a"}', 1).y).toBe('a');
  });
  it('refuses ragged, non-numeric and malformed lines with the line number', () => {
    expect(code(() => flattenNumbers([[1, 2], [3]], 'line 4, x')).message).toMatch(/line 4, x\[1\]: ragged/);
    expect(code(() => parseJsonlLine('{"x": [1, "a"], "y": 0}', 3)).message).toMatch(/line 3, x\[1\]: "a" is not a number/);
    expect(code(() => parseJsonlLine('{"x": [1, NaN], "y": 0}', 3)).message).toMatch(/line 3: not JSON/);
    expect(code(() => parseJsonlLine('{"x": [1]}', 8)).message).toMatch(/line 8: no "y"/);
  });
});

describe('npy', () => {
  it('parses the header and decodes values', () => {
    const b = npy([1, 2, 3, 4, 5, 6], [2, 3], '<f8');
    const h = parseNpyHeader(b, 'x');
    expect(h).toMatchObject({ shape: [2, 3], dtype: { kind: 'f', size: 8, little: true } });
    const out = new Float64Array(6);
    decodeValues(b.subarray(h.dataOffset), h.dtype, out, 0, h.dataOffset, 'x');
    expect([...out]).toEqual([1, 2, 3, 4, 5, 6]);
    const be = npy([1.5, -2], [2], '>f4');
    const hb = parseNpyHeader(be, 'x');
    decodeValues(be.subarray(hb.dataOffset), hb.dtype, out, 0, 0, 'x');
    expect([out[0], out[1]]).toEqual([1.5, -2]);
  });
  it('names what is wrong: magic, dtype, order, NaN by byte offset', () => {
    const b = npy([1], [1]);
    b[1] = 0;
    expect(code(() => parseNpyHeader(b, 'x.npy')).message).toMatch(/x.npy: wrong magic at byte 1/);
    expect(code(() => parseDtype('<U8', 'y.npy')).message).toMatch(/dtype '<U8' is not supported/);
    expect(code(() => parseDtype('<f2', 'y.npy')).message).toMatch(/float16/);
    expect(code(() => parseNpyHeader(npy([1], [1], '<f4', { fortran: true }), 'x')).message).toMatch(/Fortran/);
    const nan = npy([1, NaN], [2]);
    const h = parseNpyHeader(nan, 'x');
    expect(code(() => decodeValues(nan.subarray(h.dataOffset), h.dtype, new Float32Array(2), 0, h.dataOffset, 'x')).message).toMatch(new RegExp(`NaN at byte ${h.dataOffset + 4}`));
  });
});

describe('idx', () => {
  it('parses the header; refuses a wrong magic', () => {
    expect(parseIdxHeader(idx([1, 2, 3, 4], [1, 2, 2]), 'i')).toMatchObject({ dims: [1, 2, 2], dataOffset: 16, dtype: { kind: 'u', size: 1 } });
    const b = idx([1], [1]);
    b[0] = 8;
    expect(code(() => parseIdxHeader(b, 'labels')).message).toMatch(/labels: wrong magic at byte 0/);
    b[0] = 0;
    b[2] = 0x42;
    expect(code(() => parseIdxHeader(b, 'labels')).message).toMatch(/unknown IDX type 0x42 at byte 2/);
  });
});

describe('zip', () => {
  it('lists entries and finds their data (stored and deflated)', () => {
    for (const deflate of [false, true]) {
      const z = zip([{ name: 'x.npy', data: new Uint8Array([1, 2, 3]) }, { name: 'y.npy', data: new Uint8Array([4]) }], { deflate });
      const cd = findCentralDirectory(z, 0, z.length);
      const es = parseCentralDirectory(z.subarray(cd.offset, cd.offset + cd.size), cd.offset, cd.entries);
      expect(es.map((e) => [e.name, e.method, e.size])).toEqual([['x.npy', deflate ? 8 : 0, 3], ['y.npy', deflate ? 8 : 0, 1]]);
      const start = localDataOffset(z.subarray(es[0]!.localOffset, es[0]!.localOffset + 30), es[0]!);
      if (!deflate) expect([...z.subarray(start, start + 3)]).toEqual([1, 2, 3]);
    }
  });
  it('a truncated or non-zip file is refused', () => {
    const z = zip([{ name: 'x.npy', data: new Uint8Array(100) }]);
    expect(code(() => findCentralDirectory(z.subarray(0, 50), 0, 50)).message).toMatch(/no end-of-central-directory record/);
    const cut = new Uint8Array(Buffer.concat([z.subarray(0, 20), z.subarray(60)])); // 40 bytes of the data gone
    expect(code(() => findCentralDirectory(cut, 0, cut.length)).message).toMatch(/runs past the end of the file .*truncated/);
  });
});
