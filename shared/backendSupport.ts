/**
 * Which tfjs backend cannot train which layer class, and so which backends a job's model rules
 * out. tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter, no DepthwiseConv2dNative
 * backprop kernels and no UnsortedSegmentSum (the gradient of a gather, i.e. of Embedding):
 * the forward pass of those layers runs on WASM, their gradient throws. Worker tabs skip such a
 * backend for the job before calibrating (client/worker/backend.ts), and a job that requires
 * it is refused at creation (server/vetting/vetSpec.ts).
 *
 * test/unit/backendSupport.test.ts keeps this table true: it checks the kernels are absent from
 * tfjs's WASM registry, and profiles the gradient of every allowed layer class on the CPU
 * backend to find each kernel WASM lacks — a class missing here fails it.
 *
 * Isomorphic and tfjs-free: reads the job's JSON topology.
 */
import type { JobSpec } from './jobSpec.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** backend → layer class → the kernels its training needs that the backend does not have */
export const BACKEND_GAPS: Readonly<Partial<Record<BackendName, Readonly<Record<string, readonly string[]>>>>> = Object.freeze({
  wasm: Object.freeze({
    Conv1D: ['Conv2DBackpropFilter'],
    Conv2D: ['Conv2DBackpropFilter'],
    Conv2DTranspose: ['Conv2DBackpropFilter'],
    DepthwiseConv2D: ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'],
    SeparableConv2D: ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'],
    Embedding: ['UnsortedSegmentSum'],
  }),
});

/** The layer classes of a Sequential or functional topology. */
function layerClasses(model: unknown): string[] {
  const cfg = (model as { config?: unknown } | null)?.config;
  const layers = Array.isArray(cfg) ? cfg : (cfg as { layers?: unknown } | undefined)?.layers;
  if (!Array.isArray(layers)) return [];
  return layers.map((l) => (l as { class_name?: unknown } | null)?.class_name).filter((c): c is string => typeof c === 'string');
}

/**
 * The backends that cannot train the job's model, each with why (e.g. "wasm cannot train
 * Conv2D, Embedding (no Conv2DBackpropFilter, UnsortedSegmentSum kernel)"); empty when every
 * backend can.
 */
export function backendsUnableToTrain(spec: Pick<JobSpec, 'model'>): Partial<Record<BackendName, string>> {
  const classes = new Set(layerClasses(spec.model));
  const out: Partial<Record<BackendName, string>> = {};
  for (const [backend, gaps] of Object.entries(BACKEND_GAPS) as [BackendName, Readonly<Record<string, readonly string[]>>][]) {
    const hit = Object.keys(gaps).filter((c) => classes.has(c)).sort();
    if (hit.length === 0) continue;
    const kernels = [...new Set(hit.flatMap((c) => gaps[c]!))].sort();
    out[backend] = `${backend} cannot train ${hit.join(', ')} (no ${kernels.join(', ')} kernel)`;
  }
  return out;
}

/**
 * The backends a worker calibrates for a job, fastest-first order of preference: WebGPU only
 * on a hardware adapter, never one excluded after a failure, never one that cannot train the
 * model; with a note for each one left out.
 */
export function backendCandidates(o: { webgpuHardware: boolean; exclude: readonly BackendName[]; spec: Pick<JobSpec, 'model'> }): { candidates: BackendName[]; notes: string[] } {
  const unable = backendsUnableToTrain(o.spec);
  const all: BackendName[] = o.webgpuHardware ? ['webgpu', 'webgl', 'wasm', 'cpu'] : ['webgl', 'wasm', 'cpu'];
  const notes = [...o.exclude.map((b) => `${b} excluded after a failure`), ...all.filter((b) => unable[b] && !o.exclude.includes(b)).map((b) => `skipped ${unable[b]}`)];
  return { candidates: all.filter((b) => !o.exclude.includes(b) && !unable[b]), notes };
}
