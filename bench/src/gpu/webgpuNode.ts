/**
 * The backends bench's WebGPU row on a real GPU, without a browser: tfjs-backend-webgpu on
 * Dawn (the npm package `webgpu`, which gives Node a `navigator.gpu`), timing the same
 * training step as `tabswarm bench backends` (forward, backward, gradients read back into
 * one Float32Array) of the MNIST CNN and MLP presets, next to tfjs's cpu backend.
 *
 * Built into one file by bench/src/gpu/build.sh, run where a GPU is:
 *   node run.mjs [MNIST_DIR] > result.json
 * It needs only its folder (no network): run.mjs, node_modules/webgpu, mnist-*-idx files.
 */
import * as tf from '@tensorflow/tfjs';
import { create, globals } from 'webgpu';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import type { PresetName } from '../../../shared/presets.ts';
import { timeSteps } from '../stepTiming.ts';

Object.assign(globalThis, globals);
(globalThis as unknown as { navigator: unknown }).navigator = { gpu: create([]) };
// the backend registers itself only if navigator.gpu exists when it loads
await import('@tensorflow/tfjs-backend-webgpu');

// MNIST as every job reads it: the shipped store entry's metadata and shards
const { source } = createDatasetFiles();

async function adapterInfo(): Promise<Record<string, unknown>> {
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o?: object): Promise<{ info?: Record<string, unknown> } | null> } } }).navigator.gpu;
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) return { present: false };
  const i = a.info ?? {};
  return { present: true, vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter };
}

async function time(preset: PresetName, backend: string, batch: number, steps: number) {
  return { preset, backend, batch, ...(await timeSteps(tf, source, preset, backend, batch, steps)) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
const adapter = await adapterInfo();
const rows = [];
for (const [preset, batch, steps] of [['mnist-cnn', 64, 10], ['mnist-mlp', 128, 20]] as const) {
  for (const backend of ['webgpu', 'cpu']) {
    const r = await time(preset, backend, batch, backend === 'cpu' ? Math.min(steps, 5) : steps);
    process.stderr.write(`${preset} ${backend}: ${r.ok ? `${median(r.stepMs).toFixed(1)} ms/step (first ${r.firstMs?.toFixed(0)} ms)` : r.error}\n`);
    rows.push({ ...r, medianMs: r.ok ? median(r.stepMs) : null });
  }
}
process.stdout.write(JSON.stringify({ adapter, node: process.version, tfjs: tf.version.tfjs, rows }, null, 2) + '\n');
process.exit(0);
