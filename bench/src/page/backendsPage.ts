/**
 * A Chromium tab that times one training step (forward, backward and the gradient read back
 * into one Float32Array, as a worker does) of a preset model on each tfjs backend.
 */
import * as tf from '@tensorflow/tfjs';
import { probeWebGpu, type BackendName } from '../../../client/worker/backend.ts';
import type { DatasetSource } from '../../../shared/datasets.ts';
import type { PresetName } from '../../../shared/presets.ts';
import { timeSteps, type StepTiming } from '../stepTiming.ts';

export interface BackendRun extends StepTiming {
  backend: BackendName;
}

const source: DatasetSource = async (id, file) => new Uint8Array(await (await fetch(file === 'meta.json' ? `/api/datasets/${id}` : `/api/datasets/${id}/${file}`)).arrayBuffer());

async function run(preset: PresetName, backend: BackendName, steps: number, batch: number): Promise<BackendRun> {
  return { backend, ...(await timeSteps(tf, source, preset, backend, batch, steps, () => new Promise((res) => setTimeout(res, 0)))) };
}

(window as unknown as { __backends: unknown }).__backends = { run, probe: probeWebGpu };
