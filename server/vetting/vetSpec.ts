/**
 * Vetting a job's model before the server accepts (or restores) the job: the static check
 * (vetTopology.ts) against the dataset's shapes and the caps, then one build with tfjs to
 * confirm that tfjs reads the topology and counts the same trainable parameters.
 *
 * The build runs in this process, not in a worker: it comes after the static caps, which
 * bound what it allocates (maxTotalParams floats plus the initializers' temporaries) and how
 * long the initializers take (maxOrthogonalElements), and a worker would have to load tfjs
 * for every job created.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { backendsUnableToTrain } from '../../shared/backendSupport.ts';
import { DATASETS } from '../../shared/datasets.ts';
import { TabswarmError } from '../../shared/errors.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { DEFAULT_VETTING_LIMITS, type VettingLimits } from './limits.ts';
import { vetTask, type DatasetTask } from './vetTask.ts';
import { vetModelTopology, type StaticVetting } from './vetTopology.ts';

type Tf = typeof tfjs;

/** What the server knows of an accepted job's model. */
export type VettedModel = StaticVetting;

const size = (shape: readonly (number | null)[]) => shape.reduce<number>((a, b) => a * (b ?? 1), 1);

/**
 * Builds the topology once with tfjs and returns its trainable parameter count; a topology
 * tfjs refuses is MODEL_REJECTED.
 */
export async function tfjsTrainableParams(tf: Tf, model: Record<string, unknown>): Promise<number> {
  let built: tfjs.LayersModel;
  try {
    // a copy: tfjs's deserialisation must not touch the job's stored topology
    built = await tf.models.modelFromJSON(structuredClone(model) as unknown as Parameters<Tf['models']['modelFromJSON']>[0]);
  } catch (e) {
    throw new TabswarmError('MODEL_REJECTED', `model: tfjs could not build it: ${(e instanceof Error ? e.message : String(e)).slice(0, 300)}`, { cause: e });
  }
  try {
    return built.trainableWeights.reduce((a, w) => a + size(w.shape), 0);
  } finally {
    built.dispose();
  }
}

/**
 * The shape an uploaded dataset gives a job (server/datasets/): undefined when there is no
 * such dataset. A lookup that gives only `classes` is a classification dataset.
 */
export type DatasetShapeLookup = (id: string) => (Partial<DatasetTask> & { featureShape: readonly number[]; classes: number | null }) | undefined;

/**
 * The static check, then the confirming tfjs build; throws TabswarmError('MODEL_REJECTED') on any refusal.
 * `task: false` (prediction on regression targets, where no loss is trained) skips the
 * loss-versus-labels check; the topology and size checks stay.
 */
export async function vetSpec(tf: Tf, spec: JobSpec, limits: VettingLimits = DEFAULT_VETTING_LIMITS, datasetShape?: DatasetShapeLookup, o: { task?: boolean } = {}): Promise<VettedModel> {
  const id = spec.dataset.id;
  // the store's entry; without a store (tools, tests), the shipped catalogue's shapes
  const shipped = Object.hasOwn(DATASETS, id) ? DATASETS[id]! : undefined;
  const found = datasetShape?.(id) ?? (shipped ? { featureShape: shipped.featureShape, classes: shipped.numClasses } : undefined);
  if (!found) throw new TabswarmError('DATASET_UNKNOWN', `unknown dataset ${String(id)}`);
  const ds: DatasetTask = { task: 'classification', targetShape: null, ...found };
  // the output is the task check's: it knows the loss
  const v = vetModelTopology(spec.model, { featureShape: ds.featureShape }, limits);
  if (o.task !== false) vetTask(spec, ds, v);
  const unable = spec.backend ? backendsUnableToTrain(spec)[spec.backend] : undefined;
  if (unable) throw new TabswarmError('MODEL_REJECTED', `model: the job requires backend ${spec.backend}, but ${unable}; require another backend, or none to let each worker pick`);
  const batchBytes = v.activationFloatsPerSample * 4 * spec.batchSize;
  if (batchBytes > limits.maxActivationBytesPerBatch) {
    throw new TabswarmError(
      'MODEL_REJECTED',
      `model: a batch of ${spec.batchSize} needs about ${batchBytes} bytes of activations, over the limit of ${limits.maxActivationBytesPerBatch}; use a smaller batchSize or model`,
    );
  }
  const counted = await tfjsTrainableParams(tf, v.model);
  if (counted !== v.trainableParams) {
    throw new TabswarmError('MODEL_REJECTED', `model: tfjs counts ${counted} trainable parameters where the vetter counts ${v.trainableParams}; refused as not understood`);
  }
  return v;
}
