/**
 * Times the training step a worker runs (forward, backward, gradients read back into one
 * Float32Array) of a preset model on one tfjs backend. Isomorphic: the backends bench page
 * (Chromium) and the GPU run in Node (bench/src/gpu/webgpuNode.ts) both use it.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { loadDataset, type DatasetSource } from '../../shared/datasets.ts';
import { jobSpecSchema } from '../../shared/jobSpec.ts';
import { presetSpec, type PresetName } from '../../shared/presets.ts';
import { Replica } from '../../shared/replica.ts';

export interface StepTiming {
  ok: boolean;
  /** first step (shader compilation, wasm instantiation) */
  firstMs: number | null;
  stepMs: number[];
  error: string | null;
}

/** `steps` timed steps after a first one; `between` runs after each (a page lets itself breathe there). */
export async function timeSteps(tf: typeof tfjs, source: DatasetSource, preset: PresetName, backend: string, batch: number, steps: number, between: () => Promise<void> = async () => {}): Promise<StepTiming> {
  const out: StepTiming = { ok: false, firstMs: null, stepMs: [], error: null };
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
        await between();
      }
    } finally {
      r.dispose();
    }
    out.ok = true;
  } catch (e) {
    out.error = String((e as Error).message).slice(0, 300);
  }
  return out;
}
