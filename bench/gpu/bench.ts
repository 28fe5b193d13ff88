/**
 * One-shot WebGPU-on-a-real-GPU check for tabswarm, run from Node with Dawn (npm `webgpu`).
 *   node bench.cjs --probe   one JSON line: can Dawn load, which adapters does it give
 *   node bench.cjs           adapter report + per-step gradient timings (webgpu and cpu) of
 *                            the MNIST CNN / MLP presets + determinism checks → $OUT/gpu.json
 * Env: WEBGPU_INDEX (path of the webgpu package's index.js), OUT, BENCH_BATCHES (32,128),
 * BENCH_WARMUP (3), BENCH_STEPS (10), BENCH_DET_STEPS (5), BENCH_BACKENDS (webgpu,cpu),
 * BENCH_PRESETS (mnist-cnn,mnist-mlp).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dataset } from '../../shared/datasets.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { jobSpecSchema, type JobSpec } from '../../shared/jobSpec.ts';
import { createOptimizer } from '../../shared/optimizer.ts';
import { presetSpec, type PresetName } from '../../shared/presets.ts';
import { mulberry32 } from '../../shared/random.ts';
import { Replica } from '../../shared/replica.ts';

const t0 = performance.now();
const PROBE = process.argv.includes('--probe');
const OUT = process.env.OUT || process.cwd();
const list = (v: string | undefined, d: string) => (v && v.trim() ? v : d).split(',').map((s) => s.trim()).filter(Boolean);
const BATCHES = list(process.env.BENCH_BATCHES, '32,128').map(Number);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const DET_STEPS = Number(process.env.BENCH_DET_STEPS ?? 5);
// tfjs's cpu backend is plain JS (the CNN takes ~1-3 s per step): fewer timed steps there;
// BENCH_CPU_DET=0 trains one cpu replica only (no cpu determinism check)
const CPU_WARMUP = Number(process.env.BENCH_CPU_WARMUP ?? 1);
const CPU_STEPS = Number(process.env.BENCH_CPU_STEPS ?? 3);
const CPU_DET = process.env.BENCH_CPU_DET !== '0';
/** soft deadline (s from start): later configurations are skipped, so the table still prints */
const DEADLINE_S = Number(process.env.BENCH_DEADLINE_S ?? 110);
const late = () => performance.now() - t0 > DEADLINE_S * 1000;
const skipped: string[] = [];
const BACKENDS = list(process.env.BENCH_BACKENDS, 'webgpu,cpu');
const PRESETS = list(process.env.BENCH_PRESETS, 'mnist-cnn,mnist-mlp') as PresetName[];

const errors: string[] = [];
const msg = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 500);
process.on('unhandledRejection', (e) => errors.push(`unhandledRejection ${msg(e)}`));

const report: Record<string, unknown> = {
  tool: 'tabswarm .gpu/bench',
  startedAt: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  host: { hostname: os.hostname(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30) },
  env: Object.fromEntries(['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', '__EGL_VENDOR_LIBRARY_FILENAMES', 'BENCH_VARIANT'].map((k) => [k, process.env[k] ?? null])),
  tfjsVersion: tf.version.tfjs,
  config: { deadlineS: DEADLINE_S, batches: BATCHES, warmup: WARMUP, steps: STEPS, cpuWarmup: CPU_WARMUP, cpuSteps: CPU_STEPS, detSteps: DET_STEPS, cpuDet: CPU_DET, backends: BACKENDS, presets: PRESETS },
  errors,
  skipped,
};

function save(): void {
  report.durationS = Math.round((performance.now() - t0) / 100) / 10;
  try {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'gpu.json'), JSON.stringify(report, null, 2));
  } catch (e) {
    console.error(`could not write ${join(OUT, 'gpu.json')}: ${msg(e)}`);
  }
}

// ---------- WebGPU through Dawn ----------
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: Iterable<string>;
  limits: Record<string, number>;
}
interface GpuLike {
  requestAdapter(o?: Record<string, unknown>): Promise<AdapterLike | null>;
}

async function loadDawn(): Promise<{ ok: boolean; error?: string; gpu?: GpuLike }> {
  const index = process.env.WEBGPU_INDEX;
  if (!index) return { ok: false, error: 'WEBGPU_INDEX not set' };
  try {
    const mod = (await import(pathToFileURL(resolve(index)).href)) as { create(o: string[]): GpuLike; globals: Record<string, unknown> };
    const gpu = mod.create([]);
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, GPUShaderStage, GPUTextureUsage, ...
    Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `node ${process.version}` }, configurable: true, writable: true });
    return { ok: true, gpu };
  } catch (e) {
    return { ok: false, error: msg(e) };
  }
}

/** Same rule as client/worker/backend.ts probeWebGpu. */
function isHardware(a: AdapterLike): boolean {
  const info = a.info ?? {};
  return !(info.isFallbackAdapter === true || a.isFallbackAdapter === true || /swiftshader/i.test(`${info.architecture} ${info.description}`));
}

async function probeAdapters(gpu: GpuLike) {
  const out: Record<string, unknown>[] = [];
  for (const [name, opts] of [
    ['default', undefined],
    ['high-performance', { powerPreference: 'high-performance' }],
  ] as const) {
    try {
      const a = await gpu.requestAdapter(opts);
      if (!a) {
        out.push({ request: name, present: false });
        continue;
      }
      const i = a.info ?? {};
      const L = a.limits;
      out.push({
        request: name,
        present: true,
        vendor: i.vendor,
        architecture: i.architecture,
        device: i.device,
        description: i.description,
        infoIsFallbackAdapter: i.isFallbackAdapter,
        adapterIsFallbackAdapter: a.isFallbackAdapter,
        subgroupMinSize: i.subgroupMinSize,
        subgroupMaxSize: i.subgroupMaxSize,
        hardware: isHardware(a),
        features: [...a.features].sort(),
        limits: Object.fromEntries(['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension'].map((k) => [k, L[k]])),
      });
    } catch (e) {
      out.push({ request: name, present: false, error: msg(e) });
    }
  }
  return out;
}

// ---------- benchmark ----------
function syntheticMnist(size: number, seed: number): Dataset {
  const rnd = mulberry32(seed);
  const x = new Float32Array(size * 784);
  for (let i = 0; i < x.length; i++) x[i] = rnd();
  const y = new Uint8Array(size);
  for (let i = 0; i < size; i++) y[i] = Math.floor(rnd() * 10);
  return { id: 'mnist', size, featureShape: [28, 28, 1], numClasses: 10, x, y };
}
const DS = syntheticMnist(2048, 1234);
const indices = (step: number, batch: number) => Array.from({ length: batch }, (_, i) => (step * batch + i) % DS.size);
const median = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r3 = (v: number) => Math.round(v * 1000) / 1000;

async function useBackend(b: string): Promise<string | null> {
  try {
    const ok = await tf.setBackend(b);
    await tf.ready();
    return ok && tf.getBackend() === b ? null : `setBackend(${b}) returned ${ok}, active ${tf.getBackend()}`;
  } catch (e) {
    return msg(e);
  }
}

async function timeGradient(spec: JobSpec, batch: number, warmup: number, steps: number) {
  const r = await Replica.create(tf, spec);
  try {
    const times: number[] = [];
    let n = warmup + steps;
    for (let s = 0; s < n; s++) {
      const idx = indices(s, batch);
      const a = performance.now();
      await r.gradient(DS, idx);
      times.push(performance.now() - a);
      // a slow backend (over 1 s per step after the first) gets 3 timed steps, not `steps`
      if (s === warmup && s > 0 && times[s]! > 1000 && steps > 3) {
        steps = 3;
        n = warmup + steps;
      }
    }
    const timed = times.slice(warmup);
    const med = median(timed);
    return { warmup, steps, firstStepMs: r3(times[0]!), medianMs: r3(med), minMs: r3(Math.min(...timed)), maxMs: r3(Math.max(...timed)), meanMs: r3(timed.reduce((p, q) => p + q, 0) / timed.length), samplesPerSec: Math.round((batch * 1000) / med), params: r.size };
  } finally {
    r.dispose();
  }
}

async function train(spec: JobSpec, batch: number, steps: number) {
  const r = await Replica.create(tf, spec);
  try {
    const opt = createOptimizer(spec.optimizer, r.size);
    const grad = new Float32Array(r.size);
    let firstGrad: Float32Array | null = null;
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const v = await r.gradient(DS, indices(s, batch));
      if (s === 0) firstGrad = v.slice(0, r.size);
      const n = v[r.size + 2]!;
      for (let i = 0; i < r.size; i++) grad[i] = v[i]! / n;
      losses.push(v[r.size]! / n);
      opt.apply(r.params, grad);
      r.writeParams();
    }
    return { params: Float32Array.from(r.params), firstGrad: firstGrad!, losses };
  } finally {
    r.dispose();
  }
}

function diff(a: Float32Array, b: Float32Array) {
  let maxAbs = 0;
  let maxRef = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > maxAbs) maxAbs = d;
    if (Math.abs(b[i]!) > maxRef) maxRef = Math.abs(b[i]!);
    if (a[i] !== b[i]) differing++;
  }
  return { maxAbs, maxRel: maxRef > 0 ? maxAbs / maxRef : 0, differing, of: a.length };
}

async function main(): Promise<void> {
  const dawn = await loadDawn();
  report.webgpuLoad = { ok: dawn.ok, error: dawn.error ?? null };
  const adapters = dawn.gpu ? await probeAdapters(dawn.gpu) : [];
  report.adapters = adapters;
  const hw = adapters.some((a) => a.present && a.hardware);
  const any = adapters.some((a) => a.present);
  report.verdict = !dawn.ok ? 'dawn not loaded' : hw ? 'hardware adapter' : any ? 'only a fallback/software adapter' : 'no adapter';

  console.log(`== Dawn: ${dawn.ok ? 'loaded' : `NOT loaded (${dawn.error})`}`);
  for (const a of adapters) {
    if (!a.present) console.log(`  adapter [${a.request}]: none${a.error ? ` (${a.error})` : ''}`);
    else console.log(`  adapter [${a.request}]: vendor=${JSON.stringify(a.vendor)} architecture=${JSON.stringify(a.architecture)} device=${JSON.stringify(a.device)} description=${JSON.stringify(a.description)} info.isFallbackAdapter=${a.infoIsFallbackAdapter} adapter.isFallbackAdapter=${a.adapterIsFallbackAdapter} => ${a.hardware ? 'HARDWARE' : 'software fallback'}`);
  }
  console.log(`  verdict: ${report.verdict}`);
  if (PROBE) {
    console.log(`PROBE ${JSON.stringify({ verdict: report.verdict, hardware: hw, any })}`);
    process.exit(0);
  }

  // tfjs backends: the webgpu one registers at import time iff navigator.gpu exists
  await tf.setBackend('cpu');
  const specs = Object.fromEntries(PRESETS.map((p) => [p, jobSpecSchema.parse(presetSpec(tf, p))])) as Record<PresetName, JobSpec>;
  let webgpuImportError: string | null = null;
  if (dawn.ok) {
    try {
      await import('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      webgpuImportError = msg(e);
    }
  }
  const backends: Record<string, unknown> = {};
  report.backends = backends;
  const timings: Record<string, unknown>[] = [];
  report.timings = timings;
  // determinism: two Replica instances, same backend, same batches, N optimizer steps (run right
  // after each backend's timings, so the GPU's results come first if the deadline cuts the run)
  const det: Record<string, unknown>[] = [];
  report.determinism = det;
  const trained: Record<string, { params: Float32Array; firstGrad: Float32Array }> = {};
  const detBatch = BATCHES[0]!;
  for (const b of BACKENDS) {
    if (b === 'webgpu' && !any) {
      backends[b] = { ok: false, error: webgpuImportError ?? `skipped: ${report.verdict}` };
      continue;
    }
    const err = await useBackend(b);
    const info: Record<string, unknown> = { ok: !err, error: err };
    if (!err && b === 'webgpu') {
      const be = tf.backend() as unknown as { adapterInfo?: unknown; device?: { addEventListener?(t: string, f: (e: unknown) => void): void; features?: Iterable<string> } };
      info.adapterInfoSeenByTfjs = be.adapterInfo;
      info.deviceFeatures = be.device?.features ? [...be.device.features].sort() : null;
      try {
        be.device?.addEventListener?.('uncapturederror', (e: unknown) => errors.push(`webgpu uncapturederror: ${msg((e as { error?: { message?: string } }).error?.message ?? e)}`));
      } catch {
        /* not supported */
      }
      info.flags = { WEBGPU_CPU_FORWARD: tf.env().get('WEBGPU_CPU_FORWARD'), WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') };
    }
    backends[b] = info;
    if (err) {
      console.log(`== backend ${b}: unavailable (${err})`);
      continue;
    }
    for (const p of PRESETS) {
      for (const batch of BATCHES) {
        const row: Record<string, unknown> = { backend: b, preset: p, batch };
        if (late()) {
          skipped.push(`timing ${b} ${p} ${batch}`);
          continue;
        }
        try {
          Object.assign(row, b === 'cpu' ? await timeGradient(specs[p], batch, CPU_WARMUP, CPU_STEPS) : await timeGradient(specs[p], batch, WARMUP, STEPS));
          console.log(`  ${b.padEnd(6)} ${p.padEnd(9)} batch ${String(batch).padStart(3)}: median ${(row.medianMs as number).toFixed(2)} ms/step (first ${(row.firstStepMs as number).toFixed(0)} ms)`);
        } catch (e) {
          row.error = msg(e);
          console.log(`  ${b} ${p} batch ${batch}: FAILED ${row.error}`);
        }
        timings.push(row);
        save();
      }
    }
    for (const p of PRESETS) {
      const row: Record<string, unknown> = { backend: b, preset: p, batch: detBatch, steps: DET_STEPS };
      if (late()) {
        skipped.push(`determinism ${b} ${p}`);
        continue;
      }
      try {
        const A = await train(specs[p], detBatch, DET_STEPS);
        trained[`${b}/${p}`] = A;
        row.hashA = hashFloat32(A.params);
        row.losses = A.losses.map((l) => Math.round(l * 1e5) / 1e5);
        if (b !== 'cpu' || CPU_DET) {
          const B = await train(specs[p], detBatch, DET_STEPS);
          row.hashB = hashFloat32(B.params);
          row.bitIdentical = row.hashA === row.hashB;
          row.firstGradBitIdentical = hashFloat32(A.firstGrad) === hashFloat32(B.firstGrad);
          if (!row.bitIdentical) row.paramsDiff = diff(A.params, B.params);
        } else row.bitIdentical = 'not checked (one replica only)';
      } catch (e) {
        row.error = msg(e);
      }
      det.push(row);
      save();
    }
    backends[b] = { ...info, numTensorsAfter: tf.memory().numTensors };
  }

  const cross: Record<string, unknown>[] = [];
  report.crossBackend = cross;
  for (const p of PRESETS) {
    const g = trained[`webgpu/${p}`];
    const c = trained[`cpu/${p}`];
    if (!g || !c) continue;
    cross.push({ preset: p, batch: detBatch, steps: DET_STEPS, firstGradVsCpu: diff(g.firstGrad, c.firstGrad), paramsVsCpu: diff(g.params, c.params), paramsBitIdenticalToCpu: hashFloat32(g.params) === hashFloat32(c.params) });
  }

  // ratios and table
  const ratios: Record<string, unknown>[] = [];
  report.ratios = ratios;
  console.log(`\n== ms per gradient step, median (webgpu: ${STEPS} steps after ${WARMUP} warm-up; cpu: ${CPU_STEPS} after ${CPU_WARMUP}), synthetic MNIST-shaped data`);
  console.log(`${'preset'.padEnd(10)} ${'batch'.padStart(5)} ${'webgpu ms'.padStart(10)} ${'cpu ms'.padStart(10)} ${'cpu/webgpu'.padStart(10)} ${'webgpu samples/s'.padStart(17)}`);
  for (const p of PRESETS) {
    for (const batch of BATCHES) {
      const w = timings.find((t) => t.backend === 'webgpu' && t.preset === p && t.batch === batch && t.medianMs != null);
      const c = timings.find((t) => t.backend === 'cpu' && t.preset === p && t.batch === batch && t.medianMs != null);
      const wm = (w?.medianMs as number | undefined) ?? null;
      const cm = (c?.medianMs as number | undefined) ?? null;
      const speedup = wm && cm ? Math.round((cm / wm) * 100) / 100 : null;
      ratios.push({ preset: p, batch, webgpuMs: wm, cpuMs: cm, cpuOverWebgpu: speedup });
      console.log(`${p.padEnd(10)} ${String(batch).padStart(5)} ${(wm?.toFixed(2) ?? '-').padStart(10)} ${(cm?.toFixed(2) ?? '-').padStart(10)} ${(speedup?.toFixed(2) ?? '-').padStart(10)} ${(w ? String(w.samplesPerSec) : '-').padStart(17)}`);
    }
  }
  console.log(`\n== determinism (two Replicas, batch ${detBatch}, ${DET_STEPS} Adam steps)`);
  for (const d of det) console.log(`  ${String(d.backend).padEnd(6)} ${String(d.preset).padEnd(9)} ${d.error ? `FAILED ${d.error}` : d.hashB === undefined ? `params ${d.hashA} (${d.bitIdentical})` : `params ${d.hashA} vs ${d.hashB}: ${d.bitIdentical ? 'BIT-IDENTICAL' : 'DIFFERENT'}; first grad ${d.firstGradBitIdentical ? 'bit-identical' : 'different'}`}`);
  for (const c of cross) {
    const f = c.firstGradVsCpu as ReturnType<typeof diff>;
    const q = c.paramsVsCpu as ReturnType<typeof diff>;
    console.log(`  webgpu vs cpu ${c.preset}: first grad max|Δ| ${f.maxAbs.toExponential(2)} (rel ${f.maxRel.toExponential(2)}, ${f.differing}/${f.of} differ); params after ${DET_STEPS} steps max|Δ| ${q.maxAbs.toExponential(2)}`);
  }
  if (skipped.length) console.log(`\n== skipped after the ${DEADLINE_S}s soft deadline: ${skipped.join('; ')}`);
  if (errors.length) console.log(`\n== errors (${errors.length}):\n  ${errors.slice(0, 10).join('\n  ')}`);
  save();
  console.log(`\nwrote ${join(OUT, 'gpu.json')} (${report.durationS} s)`);
}

main()
  .catch((e) => {
    errors.push(`fatal ${msg(e)}`);
    console.error(`fatal: ${msg(e)}`);
    save();
  })
  .finally(() => process.exit(0));
