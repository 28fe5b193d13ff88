/**
 * Picks the tfjs backend by measurement, not by assumption. A hardware WebGPU adapter is a
 * candidate; a software/fallback one (SwiftShader) is skipped unless forced, because on a
 * machine without a GPU it is the slowest backend there is. Each candidate then runs a short
 * calibration of the job's own model and the fastest wins. A backend that cannot train one of
 * the model's layers (WASM has no gradient kernels for convolutions and Embedding,
 * shared/backendSupport.ts) is not tried.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { backendCandidates, backendsUnableToTrain, type BackendName } from '../../shared/backendSupport.ts';
import type { Dataset } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { Replica } from '../../shared/replica.ts';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});

export type { BackendName } from '../../shared/backendSupport.ts';

export interface AdapterReport {
  present: boolean;
  hardware: boolean;
  description: string;
}

export interface BackendChoice {
  backend: BackendName;
  adapter: string;
  reason: string;
  /** ms per sample measured per candidate (missing = skipped or failed) */
  calibration: Record<string, number>;
  samplesPerSec: number;
}

interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export async function probeWebGpu(): Promise<AdapterReport> {
  type AdapterLike = { info?: GpuAdapterInfoLike; isFallbackAdapter?: boolean };
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return { present: false, hardware: false, description: 'navigator.gpu missing' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return { present: false, hardware: false, description: 'no WebGPU adapter' };
  const info = adapter.info ?? {};
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || /swiftshader/i.test(`${info.architecture} ${info.description}`);
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { present: true, hardware: !fallback, description: `${description}${fallback ? ' (software fallback)' : ''}` };
}

async function use(b: BackendName): Promise<boolean> {
  try {
    return (await tf.setBackend(b)) && tf.getBackend() === b;
  } catch {
    return false;
  }
}

/** Resolves when the WebGPU device tfjs uses is lost (driver reset, GPU process crash). */
export function webgpuDeviceLost(): Promise<string> | null {
  const backend = tf.backend() as unknown as { device?: { lost?: Promise<{ message?: string }> } };
  return backend.device?.lost ? backend.device.lost.then((i) => i.message ?? 'device lost') : null;
}

/** ms per sample of one forward+backward pass of the job's model on `b`. */
async function calibrate(spec: JobSpec, train: Dataset, batch: number): Promise<number> {
  const r = await Replica.create(tf, spec);
  try {
    const idx = Array.from({ length: Math.min(batch, train.size) }, (_, i) => i);
    await r.gradient(train, idx); // warm-up: shader compilation, wasm instantiation
    const t0 = performance.now();
    const reps = 2;
    for (let i = 0; i < reps; i++) await r.gradient(train, idx);
    return (performance.now() - t0) / (reps * idx.length);
  } finally {
    r.dispose();
  }
}

export async function chooseBackend(spec: JobSpec, train: Dataset, forced: BackendName | null, onProgress: (s: string) => void, exclude: BackendName[] = []): Promise<BackendChoice> {
  const gpu = await probeWebGpu();
  const batch = Math.max(1, Math.min(32, spec.batchSize));
  const calibration: Record<string, number> = {};
  const required = forced ?? spec.backend ?? null;
  const want = required && !exclude.includes(required) ? required : null;
  if (want) {
    const unable = backendsUnableToTrain(spec)[want];
    if (unable) throw new TabswarmError('BACKEND_UNAVAILABLE', `backend ${want} is required by ${forced ? 'the page URL' : 'the job'}, but ${unable}`);
    if (!(await use(want))) throw new TabswarmError('BACKEND_UNAVAILABLE', `backend ${want} is not available here (${gpu.description})`);
    onProgress(`calibrating ${want}`);
    const ms = await calibrate(spec, train, batch);
    calibration[want] = ms;
    return { backend: want, adapter: want === 'webgpu' ? gpu.description : '', reason: `required by ${forced ? 'the page URL' : 'the job'}`, calibration, samplesPerSec: 1000 / ms };
  }
  const { candidates, notes } = backendCandidates({ webgpuHardware: gpu.hardware, exclude, spec });
  if (exclude.length) onProgress(`not using ${exclude.join(', ')}`);
  notes.push(...(gpu.present && !gpu.hardware ? [`skipped webgpu: ${gpu.description}`] : gpu.present ? [] : [`no webgpu: ${gpu.description}`]));
  for (const b of candidates) {
    if (!(await use(b))) {
      notes.push(`${b} unavailable`);
      continue;
    }
    onProgress(`calibrating ${b}`);
    try {
      calibration[b] = await calibrate(spec, train, batch);
    } catch (e) {
      notes.push(`${b} failed: ${(e as Error).message.slice(0, 80)}`);
    }
  }
  const ranked = Object.entries(calibration).sort((a, b) => a[1] - b[1]);
  if (ranked.length === 0) throw new TabswarmError('BACKEND_UNAVAILABLE', `no tfjs backend could run this model: ${notes.join('; ')}`);
  const [best, ms] = ranked[0]! as [BackendName, number];
  await use(best);
  const figures = ranked.map(([b, v]) => `${b} ${(v * batch).toFixed(1)} ms/${batch}`).join(', ');
  return {
    backend: best,
    adapter: best === 'webgpu' ? gpu.description : '',
    reason: `fastest in calibration (${figures})${notes.length ? `; ${notes.join('; ')}` : ''}`,
    calibration,
    samplesPerSec: 1000 / ms,
  };
}
