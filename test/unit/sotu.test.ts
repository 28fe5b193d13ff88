/** The char-level SOTU dataset: encoding, windows, the registry's sizes and the preset's model. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { DATASETS, loadDataset } from '../../shared/datasets.ts';
import { jobSpecSchema } from '../../shared/jobSpec.ts';
import { presetSpec } from '../../shared/presets.ts';
import { Replica } from '../../shared/replica.ts';
import { SOTU_CONTEXT, SOTU_STRIDE, SOTU_VOCAB, encodeSotuText, sotuChar, sotuSamples, sotuWindows } from '../../shared/sotu.ts';

const decode = (codes: ArrayLike<number>) => Array.from(codes, sotuChar).join('');

describe('sotu dataset', () => {
  it('encodes text to codes that decode back (typographic marks made ASCII, others unknown)', () => {
    const codes = encodeSotuText('Fellow-Citizens:\n“It’s” — café ☃');
    expect(decode(codes)).toBe('Fellow-Citizens:\n"It\'s" - cafe ?');
    expect(Math.max(...codes)).toBeLessThan(SOTU_VOCAB);
  });

  it('cuts samples of CONTEXT characters every STRIDE, labelled with the next character', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz'.repeat(5);
    const w = sotuWindows(encodeSotuText(text));
    expect(w.size).toBe(sotuSamples(text.length));
    expect(w.size).toBe(Math.floor((130 - SOTU_CONTEXT - 1) / SOTU_STRIDE) + 1);
    for (let i = 0; i < w.size; i++) {
      expect(decode(w.x.subarray(i * SOTU_CONTEXT, (i + 1) * SOTU_CONTEXT))).toBe(text.slice(i * SOTU_STRIDE, i * SOTU_STRIDE + SOTU_CONTEXT));
      expect(sotuChar(w.y[i]!)).toBe(text[i * SOTU_STRIDE + SOTU_CONTEXT]);
    }
    expect(sotuWindows(encodeSotuText(text), 2).size).toBe(2);
  });

  it('the catalogue sizes are what the store entry holds, and a limit reads the first samples', async () => {
    const src = createDatasetFiles().source;
    const train = await loadDataset(src, 'sotu', 'train');
    const test = await loadDataset(src, 'sotu', 'test');
    expect([train.size, test.size]).toEqual([DATASETS.sotu.trainSize, DATASETS.sotu.testSize]);
    expect(decode(train.x.subarray(0, SOTU_CONTEXT))).toBe('Fellow-Citizens of the Senate an');
    const ten = await loadDataset(src, 'sotu', 'train', 10);
    expect(Array.from(ten.y)).toEqual(Array.from(train.y.subarray(0, 10)));
  });

  it('the preset is a valid job whose model starts at loss ln(vocab) and learns', async () => {
    const spec = jobSpecSchema.parse(presetSpec(tf, 'sotu-char'));
    expect(spec.dataset).toMatchObject({ id: 'sotu', trainSize: 50_000 });
    const ds = await loadDataset(createDatasetFiles().source, 'sotu', 'train', 256);
    const r = await Replica.create(tf, spec);
    try {
      const idx = Array.from({ length: 64 }, (_, i) => i);
      const g = await r.gradient(ds, idx);
      const loss0 = g[r.size]! / 64;
      expect(Math.abs(loss0 - Math.log(SOTU_VOCAB))).toBeLessThan(0.3);
      for (let s = 0; s < 8; s++) {
        const v = await r.gradient(ds, idx);
        for (let i = 0; i < r.size; i++) r.params[i]! -= 0.5 * (v[i]! / 64);
        r.writeParams();
      }
      const after = (await r.gradient(ds, idx))[r.size]! / 64;
      expect(after).toBeLessThan(loss0 - 0.5);
    } finally {
      r.dispose();
    }
  }, 60_000);
});
