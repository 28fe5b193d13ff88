/**
 * `tabswarm predict` end to end: a model directory (model.json + weights.bin as `model.save()`
 * writes them), a built-in dataset split, one headless worker, the outputs streamed to a CSV
 * file — equal to one process's `model.predict`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { predictAll, savedMlp } from '../integration/prediction/predictFixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'tabswarm-predict-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tabswarm predict', () => {
  it('predicts a built-in test split from a model directory with one headless worker, into a CSV', async () => {
    await tf.setBackend('cpu');
    const { model, saved } = await savedMlp([4], 8, 3, 5);
    const modelDir = join(dir, 'model');
    await import('node:fs/promises').then((f) => f.mkdir(modelDir));
    writeFileSync(join(modelDir, 'model.json'), JSON.stringify(saved.modelJson));
    writeFileSync(join(modelDir, 'weights.bin'), saved.weights);
    const out = join(dir, 'preds.csv');
    const { stdout } = await promisify(execFile)(process.execPath, [
      'server/bin/tabswarm.js', 'predict', '--model', modelDir, '--data', 'iris', '--split', 'test', '--out', out, '--workers', '1', '--backend', 'cpu', '--unit-size', '8', '--timeout', '200',
    ], { env: { ...process.env, TABSWARM_NETNS: process.env.TABSWARM_NETNS ?? 'off' }, timeout: 240_000 });
    expect(stdout).toMatch(/30 samples in 4 units on 1 members: \d+ samples\/s, accuracy [\d.]+ %/);
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('y0,y1,y2');
    const got = Float32Array.from(rows.slice(1).flatMap((l) => l.split(',').map(Number)));
    const ref = await predictAll(model, createDatasetFiles().source, 'iris', 'test');
    expect(got.length).toBe(ref.out.length);
    expect(got.reduce((m, x, i) => Math.max(m, Math.abs(x - ref.out[i]!)), 0)).toBeLessThanOrEqual(1e-5);
  }, 300_000);
});
