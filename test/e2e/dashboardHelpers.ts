/** Pieces of the dashboard tests: downloads from the page, loading them with tfjs in Node, screenshots. */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Download, Page } from 'playwright';
import { loadDataset, type Dataset } from '../../shared/datasets.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';

export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface DownloadedModel {
  model: tf.LayersModel;
  modelJson: { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; userDefinedMetadata?: { tabswarm?: { step: number; paramHash: string } } };
  weights: ArrayBuffer;
  /** hash of the trainable weights, comparable with the replicas' paramHash */
  trainableHash: string;
}

/** Clicks the dashboard's download button and loads the two files it saves with tf.loadLayersModel. */
export async function downloadFromDashboard(page: Page): Promise<DownloadedModel> {
  const wanted = (name: string) => page.waitForEvent('download', { predicate: (d: Download) => d.suggestedFilename() === name, timeout: 60_000 });
  const [dJson, dBin] = await Promise.all([wanted('model.json'), wanted('weights.bin'), page.locator('#btn-download').click()]);
  const modelJson = JSON.parse(await readFile((await dJson.path())!, 'utf8')) as DownloadedModel['modelJson'];
  const bin = await readFile((await dBin.path())!);
  const weights = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights }));
  const trainable = model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0);
  return { model, modelJson, weights, trainableHash: hashFloat32(new Float32Array(weights, 0, trainable)) };
}

export async function irisTest(): Promise<Dataset> {
  return loadDataset(createDatasetFiles().source, 'iris', 'test');
}

/** Class predictions and the accuracy a replica's `accuracy()` would report on `ds`. */
export function predict(model: tf.LayersModel, ds: Dataset): { classes: number[]; accuracy: number } {
  const classes = tf.tidy(() => Array.from((tf.argMax(model.predict(tf.tensor(ds.x, [ds.size, ...ds.featureShape])) as tf.Tensor, 1) as tf.Tensor).dataSync()));
  const correct = classes.filter((c, i) => c === ds.y[i]).length;
  return { classes, accuracy: correct / ds.size };
}
