/** A small tfjs model as `model.save()` writes it, the request body that predicts with it, and its single-process outputs. */
import * as tf from '@tensorflow/tfjs';
import type { DatasetSource } from '../../../shared/datasets.ts';
import { PredictInputs } from '../../../shared/predictInputs.ts';

export interface SavedModel {
  modelJson: { modelTopology: Record<string, unknown>; weightsManifest: { paths: string[]; weights: unknown[] }[]; format?: string };
  weights: Uint8Array;
}

/** An MLP with seeded (not Glorot-random) weights, saved as model.json + weights.bin; a flatten first for images. */
export async function savedMlp(inputShape: number[], hidden: number, classes: number, seed = 7): Promise<{ model: tf.LayersModel; saved: SavedModel }> {
  const first = inputShape.length > 1 ? [tf.layers.flatten({ inputShape }), tf.layers.dense({ units: hidden, activation: 'relu' })] : [tf.layers.dense({ inputShape, units: hidden, activation: 'relu' })];
  const model = tf.sequential({ layers: [...first, tf.layers.dense({ units: classes, activation: 'softmax' })] });
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.4;
  model.setWeights(model.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, rnd), w.shape)));
  let saved: SavedModel | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = {
        modelJson: { modelTopology: a.modelTopology as Record<string, unknown>, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }], format: a.format },
        weights: new Uint8Array(a.weightData as ArrayBuffer),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { model, saved: saved! };
}

export const modelBody = (saved: SavedModel) => ({ modelJson: saved.modelJson, weights: Buffer.from(saved.weights).toString('base64') });

/** `model.predict` over every input in one process, in input order. */
export async function predictAll(model: tf.LayersModel, source: DatasetSource, dataset: string, split: 'all' | 'train' | 'test', limit = 0): Promise<{ out: Float32Array; labels: ArrayLike<number> | null; size: number }> {
  const inputs = new PredictInputs(source, dataset, { split, limit });
  const info = await inputs.info();
  const rows = await inputs.rows(0, info.size);
  const y = model.predict(tf.tensor(rows.x, [info.size, ...info.featureShape])) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  y.dispose();
  return { out, labels: rows.y, size: info.size };
}

/** The .npy body's float32 payload (format 1.0: 10-byte preamble + header). */
export function npyPayload(b: Uint8Array): Float32Array {
  const headerLen = b[8]! | (b[9]! << 8);
  const data = b.slice(10 + headerLen);
  return new Float32Array(data.buffer, 0, data.byteLength / 4);
}

/** A dataset source over the server's HTTP routes, as a member tab reads inputs (client/worker/main.ts). */
export const httpSource = (url: string): DatasetSource => async (id, file) => {
  const path = file === 'meta.json' ? `/api/datasets/${id}` : `/api/datasets/${id}/${file}`;
  const r = await fetch(`${url}${path}`);
  if (!r.ok) throw new Error(`dataset ${id}/${file}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};
