/**
 * A Chromium tab that times one training step (forward, backward and the gradient read back
 * into one Float32Array, as a worker does) of a preset model on each tfjs backend.
 */
import * as tf from '@tensorflow/tfjs';
import { probeWebGpu, type BackendName } from '../../../client/worker/backend.ts';
import { loadDataset, type DatasetSource } from '../../../shared/datasets.ts';
import { jobSpecSchema } from '../../../shared/jobSpec.ts';
import { presetSpec, type PresetName } from '../../../shared/presets.ts';
import { Replica } from '../../../shared/replica.ts';

export interface BackendRun {
  backend: BackendName;
  ok: boolean;
  /** first step (shader compilation, wasm instantiation) */
  firstMs: number | null;
  stepMs: number[];
  error: string | null;
}

const source: DatasetSource = async (id, file, limit) => new Uint8Array(await (await fetch(`/datasets/${id}/${file}?limit=${limit}`)).arrayBuffer());

async function run(preset: PresetName, backend: BackendName, steps: number, batch: number): Promise<BackendRun> {
  const out: BackendRun = { backend, ok: false, firstMs: null, stepMs: [], error: null };
  try {
    if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`backend ${backend} unavailable`);
    const spec = jobSpecSchema.parse(presetSpec(tf, preset));
    const train = await loadDataset(source, 'mnist', 'train', batch * (steps + 1));
    const r = await Replica.create(tf, spec);
    try {
      for (let s = 0; s <= steps; s++) {
        const idx = Array.from({ length: batch }, (_, i) => s * batch + i);
        const t0 = performance.now();
        await r.gradient(train, idx);
        const ms = performance.now() - t0;
        if (s === 0) out.firstMs = ms;
        else out.stepMs.push(ms);
        await new Promise((res) => setTimeout(res, 0)); // let the page breathe
      }
    } finally {
      r.dispose();
    }
    out.ok = true;
  } catch (e) {
    out.error = (e as Error).message.slice(0, 200);
  }
  return out;
}

(window as unknown as { __backends: unknown }).__backends = { run, probe: probeWebGpu };
