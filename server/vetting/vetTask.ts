/**
 * The job's loss against its dataset and its model's output, checked at job creation (after
 * the static topology check, which leaves the output to this file):
 *
 *   loss                              dataset                    model output             last activation
 *   categorical / sparse CE           classes (2..65,536)        [numClasses]             softmax (fromLogits: not softmax)
 *   binaryCrossentropy                classes, at most 2 (0/1)   [1]                      sigmoid (fromLogits: not sigmoid)
 *   meanSquaredError / MAE / huber    regression targets         the target shape         any
 *
 * A loss of the other task is TASK_MISMATCH (a regression loss on class labels, a
 * cross-entropy on float targets); an output that does not fit is MODEL_REJECTED, as every
 * other model refusal. Both answer 400 naming what does not fit.
 */
import { TabswarmError } from '../../shared/errors.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { lossConfig } from '../../shared/losses.ts';

/** What job creation knows of a dataset (built in or uploaded). */
export interface DatasetTask {
  featureShape: readonly number[];
  task: 'classification' | 'regression';
  /** classification: how many classes */
  classes: number | null;
  /** regression: one sample's target shape */
  targetShape: readonly number[] | null;
}

/** the output as vetTopology inferred it */
export interface ModelOutput {
  outputShape: readonly number[];
  lastActivation: string;
}

/** the largest class count a job trains (workers hold class ids in 16 bits) */
export const MAX_JOB_CLASSES = 65_536;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function vetTask(spec: JobSpec, ds: DatasetTask, out: ModelOutput): void {
  const cfg = lossConfig(spec);
  const id = spec.dataset.id;
  const mismatch = (m: string) => new TabswarmError('TASK_MISMATCH', m);
  const model = (m: string) => new TabswarmError('MODEL_REJECTED', `model: ${m}`);
  if (cfg.fromLogits && cfg.task === 'regression') throw new TabswarmError('BAD_JOB_SPEC', `fromLogits: only the cross-entropies read logits, not ${cfg.name}`);
  if (spec.huberDelta !== undefined && cfg.name !== 'huber') throw new TabswarmError('BAD_JOB_SPEC', `huberDelta: only the huber loss has a delta, not ${cfg.name}`);

  if (cfg.task === 'regression') {
    if (ds.task !== 'regression') throw mismatch(`loss ${cfg.name} is a regression loss, but dataset ${id} holds class labels (${ds.classes ?? 0} classes); use sparseCategoricalCrossentropy or binaryCrossentropy, or upload the labels as regression targets`);
    const t = ds.targetShape ?? [1];
    if (!same(out.outputShape, t)) throw model(`the output ${fmt(out.outputShape)} must equal dataset ${id}'s target shape ${fmt(t)} (loss ${cfg.name})`);
    return;
  }
  if (ds.task !== 'classification') throw mismatch(`loss ${cfg.name} is a classification loss, but dataset ${id} holds regression targets of shape ${fmt(ds.targetShape ?? [1])}; use meanSquaredError, meanAbsoluteError or huber`);
  const classes = ds.classes ?? 0;
  if (cfg.task === 'binary') {
    if (classes > 2) throw mismatch(`loss binaryCrossentropy needs labels 0 and 1, but dataset ${id} has ${classes} classes; use sparseCategoricalCrossentropy`);
    if (!same(out.outputShape, [1])) throw model(`the output must be [1] (one probability of class 1) for binaryCrossentropy, got ${fmt(out.outputShape)}`);
    if (!cfg.fromLogits && out.lastActivation !== 'sigmoid') throw model(`the last layer must end in a sigmoid for binaryCrossentropy on probabilities (or set fromLogits: true), got ${out.lastActivation || 'no activation'}`);
    if (cfg.fromLogits && out.lastActivation === 'sigmoid') throw model('fromLogits: true wants logits, but the last layer ends in a sigmoid');
    return;
  }
  if (classes < 2) throw mismatch(`dataset ${id} has ${classes} class; a classifier needs at least 2`);
  if (classes > MAX_JOB_CLASSES) throw mismatch(`dataset ${id} has ${classes} classes; jobs train at most ${MAX_JOB_CLASSES}`);
  if (!same(out.outputShape, [classes])) {
    throw model(`the model's output must be [${classes}] (one ${cfg.fromLogits ? 'logit' : 'probability'} per class of the dataset), got ${fmt(out.outputShape)}`);
  }
  if (!cfg.fromLogits && out.lastActivation !== 'softmax') throw model(`the last layer must end in a softmax (the loss is ${cfg.name} on probabilities; or set fromLogits: true)`);
  if (cfg.fromLogits && out.lastActivation === 'softmax') throw model('fromLogits: true wants logits, but the last layer ends in a softmax');
}
