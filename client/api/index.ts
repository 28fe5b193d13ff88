/**
 * tabswarm's client API for job owners, in Node and in browsers (it needs only `fetch`):
 *
 *   import { connect } from 'tabswarm';
 *   const swarm = connect('http://127.0.0.1:8080');
 *   const ds = await swarm.datasets.add(csvText, { format: 'csv', label: 'species' });
 *   const job = await swarm.fit({ model, dataset: ds.id, optimizer: 'adam', batchSize: 32, steps: 200 });
 *   for await (const log of job.steps()) console.log(log.step, log.loss);
 *   const trained = await job.model(tf);
 *
 * Server types (the job views) are imported as types only: no server code is bundled.
 */
export { connect, fitSpec, Swarm } from './swarm.ts';
export type { AddDatasetOptions, AddedDataset, ConnectOptions, DatasetFormat, DatasetSummary, FitOptions, JobListEntry, JobRequest, JobSpecInput, OptimizerInput, PresetName, ShapedArray, StoredDatasetMeta, TensorLike } from './swarm.ts';
export { FINAL_STATUSES, isFinal, JobHandle } from './job.ts';
export type { AnyJobView, JobStatus, PrivateJobView, PublicJobView, StepMetricsWire, StepsOptions, TfLike, WaitOptions } from './job.ts';
export { PredictionHandle } from './predict.ts';
export type { PredictModel, PredictOptions } from './predict.ts';
export { ApiError } from './errors.ts';
export type { ApiErrorCode } from './errors.ts';
export type { FetchLike } from './transport.ts';
