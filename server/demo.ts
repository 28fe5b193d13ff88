/**
 * `tabswarm demo`: a server, a job and N headless workers on embedded defaults. Shows
 * progress, then prints loss, test accuracy and every replica's weight hash; `--verify`
 * also trains the single-process reference on the same global batches and prints the
 * max abs weight difference.
 */
import { createDatasetFiles } from './datasetFiles.ts';
import { followJob, startLocalSwarm, type StepMetric } from './localSwarm.ts';
import { wireTotals } from './workers.ts';
import { createLogger } from './log.ts';
import { maxAbsDiff, trainReference } from './reference.ts';
import { predictWithSameTabs, type DemoPrediction } from './demoPredict.ts';

export interface DemoOptions {
  workers: number;
  preset: string;
  /** job fields over the preset's (e.g. a model of one's own) */
  job?: Record<string, unknown>;
  steps?: number;
  trainSize?: number;
  testSize?: number;
  backend?: string;
  /** the workers' uplink, Mbit/s: their rings pace under it (page ?uplink=) */
  uplinkMbit?: number;
  /** more page options (client/worker/main.ts), e.g. { zeros: 'dense' } */
  query?: Record<string, string>;
  verify: boolean;
  /** after training, predict the test set with the same tabs (default true) */
  predict?: boolean;
  json: boolean;
  port: number;
  timeoutS: number;
  print: (line: string) => void;
}

export interface DemoResult {
  jobId: string;
  preset: string;
  workers: number;
  steps: number;
  initialLoss: number;
  finalLoss: number;
  testAccuracy: number | null;
  /** the final test metrics as the job's task defines them (accuracy, or MAE and RMSE) */
  test: { accuracy: number | null; mae: number | null; rmse: number | null } | null;
  replicaHashes: string[];
  backends: string[];
  stepsPerSec: number;
  samplesPerSec: number;
  allreduceMsMean: number;
  /** the fastest step's all-reduce (max over workers) */
  allreduceMsMin: number;
  computeMsMean: number;
  /**
   * What a step takes beyond its slowest tab's compute (step − compute, mean over steps): the
   * ring's tail after the last gradient is in, plus the server's open/commit round trip. The
   * all-reduce figure above also counts a fast tab's wait for the slowest one's gradient.
   */
  beyondComputeMsMean: number;
  /**
   * What the tabs' all-reduces sent, summed over tabs, and what dense frames would have been
   * (exact chunks travel masked when their +0.0 values make them smaller); null when no tab said.
   */
  wire: { sentBytes: number; denseBytes: number } | null;
  /** trainable parameters (with --verify: the length of the downloaded weights) */
  paramCount: number | null;
  wallS: number;
  maxAbsDiff: number | null;
  referenceTestAccuracy: number | null;
  /** the test set predicted by the same tabs after training (null with predict: false) */
  predict: DemoPrediction | null;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now();
  const body: Record<string, unknown> = { preset: o.preset, minWorkers: o.workers, ...(o.job ?? {}) };
  if (o.steps) body.steps = o.steps;
  if (o.trainSize !== undefined || o.testSize !== undefined) body.dataset = { ...(o.trainSize !== undefined ? { trainSize: o.trainSize } : {}), ...(o.testSize !== undefined ? { testSize: o.testSize } : {}) };
  const run = await startLocalSwarm({
    job: body,
    workers: o.workers,
    server: { port: o.port, log: createLogger(process.env.TABSWARM_LOG === 'debug' ? 'debug' : 'warn') },
    pages: { backend: o.backend, uplinkMbit: o.uplinkMbit, query: o.query, onConsole: (i, l) => process.env.TABSWARM_LOG === 'debug' && o.print(`  [worker ${i}] ${l}`) },
    onJob: (job, url) => {
      o.print(`server ${url}  job ${job.id}  (${o.preset}, ${o.workers} workers)`);
      o.print(`join link: ${job.joinUrl}`);
    },
  });
  try {
    let lastPrinted = -1;
    const view = await followJob(run, {
      what: `demo job ${run.job.id}`, timeoutS: o.timeoutS, everyMs: 500, weights: true,
      onView: async (v) => {
        const bucket = Math.floor(v.step / Math.max(1, Math.round(v.steps / 12)));
        if (bucket === lastPrinted) return;
        lastPrinted = bucket;
        const active = v.members.filter((m) => m.state === 'active').length;
        const states = (await run.swarm.views()).map((w) => (w ? `${w.state}/${w.backend || '?'}` : 'closed')).join(' ');
        o.print(`step ${String(v.step).padStart(5)}/${v.steps}  loss ${v.lastMetrics?.loss.toFixed(4) ?? '—'}  members ${active}  [${states}]`);
      },
    });
    const metrics = await run.metrics();
    // read before prediction: the tabs' views then hold the training's whole traffic
    const wire = await wireTotals(run.swarm);
    const finals = view.members.filter((m) => m.final);
    const trainMs = metrics.length > 1 ? metrics.at(-1)!.at - metrics[0]!.at + metrics[0]!.stepMs : 1;
    const mean = (f: (m: StepMetric) => number) => metrics.reduce((a, m) => a + f(m), 0) / Math.max(1, metrics.length);
    const result: DemoResult = {
      jobId: run.job.id,
      preset: o.preset,
      workers: o.workers,
      steps: metrics.length,
      initialLoss: metrics[0]?.loss ?? NaN,
      finalLoss: metrics.at(-1)?.loss ?? NaN,
      // the final weights' distributed evaluation (every finisher's part summed)
      testAccuracy: view.testAccuracy ?? finals[0]?.final?.testAccuracy ?? null,
      test: view.test ?? null,
      replicaHashes: finals.map((m) => m.final!.paramHash),
      backends: view.members.filter((m) => m.backend).map((m) => m.backend!),
      stepsPerSec: (metrics.length / trainMs) * 1000,
      samplesPerSec: (metrics.reduce((a, m) => a + m.samples, 0) / trainMs) * 1000,
      allreduceMsMean: mean((m) => m.allreduceMs),
      allreduceMsMin: Math.min(...metrics.map((m) => m.allreduceMs)),
      computeMsMean: mean((m) => m.computeMs),
      beyondComputeMsMean: mean((m) => Math.max(0, m.stepMs - m.computeMs)),
      wire,
      paramCount: null,
      wallS: (Date.now() - t0) / 1000,
      maxAbsDiff: null,
      referenceTestAccuracy: null,
      predict: null,
    };
    if (o.verify) {
      o.print('training the single-process reference on the same global batches…');
      const w = await run.request('/weights');
      const swarmParams = new Float32Array(await w.arrayBuffer());
      // on the tabs' kernels where they all ran one the reference has (replicas are bit-identical
      // across backends; the reference matches a backend's kernels only up to their rounding)
      const backend = result.backends.length > 0 && result.backends.every((b) => b === 'wasm') ? 'wasm' : 'cpu';
      const ref = await trainReference(view.spec, createDatasetFiles().source, result.steps, { backend });
      // the download is params then non-trainable weights (batch-norm moving statistics) when the model has any
      result.maxAbsDiff = maxAbsDiff(swarmParams, ref.weights);
      result.paramCount = swarmParams.length;
      result.referenceTestAccuracy = ref.testAccuracy;
    }
    if (o.predict !== false) result.predict = await predictWithSameTabs(run, view, { timeoutS: o.timeoutS, backend: o.backend, print: o.print });
    o.print('');
    o.print(`workers ${result.workers} (${result.backends.join(', ')})   steps ${result.steps}   ${result.stepsPerSec.toFixed(2)} steps/s   ${result.samplesPerSec.toFixed(0)} samples/s`);
    // the metrics follow the task: accuracy for a classifier, MAE / RMSE for a regression
    const testLine = view.task === 'regression'
      ? `test MAE ${result.test?.mae?.toFixed(4) ?? '—'}   test RMSE ${result.test?.rmse?.toFixed(4) ?? '—'}`
      : `test accuracy ${result.testAccuracy === null ? '—' : (result.testAccuracy * 100).toFixed(2) + ' %'}`;
    o.print(`loss ${result.initialLoss.toFixed(4)} → ${result.finalLoss.toFixed(4)}   ${testLine}`);
    o.print(`per step: compute ${result.computeMsMean.toFixed(1)} ms, all-reduce ${result.allreduceMsMean.toFixed(1)} ms (max over workers, mean over steps; a tab's wait for slower tabs' gradients included)`);
    o.print(`          beyond the slowest tab's compute ${result.beyondComputeMsMean.toFixed(1)} ms (the ring's tail after the last gradient, and the server's round trip)`);
    if (wire && result.steps > 0) {
      const kb = (b: number) => `${(b / result.workers / result.steps / 1000).toFixed(0)} KB`;
      o.print(`          sent per tab per step ${kb(wire.sentBytes)} (dense ${kb(wire.denseBytes)}: ${((1 - wire.sentBytes / Math.max(1, wire.denseBytes)) * 100).toFixed(0)} % less, the gradients' +0.0 values left out)`);
    }
    o.print(`replica hashes: ${result.replicaHashes.join(' ')}  ${new Set(result.replicaHashes).size === 1 ? '(all equal)' : '(DIFFER)'}`);
    if (result.maxAbsDiff !== null) o.print(`max |swarm − single process| = ${result.maxAbsDiff.toExponential(3)}   reference test accuracy ${(result.referenceTestAccuracy! * 100).toFixed(2)} %`);
    const p = result.predict;
    if (p) {
      o.print(`predict: ${p.samples} test samples in ${p.units} units on ${p.workers} tabs   ${p.samplesPerSec.toFixed(0)} samples/s   accuracy ${(p.accuracy * 100).toFixed(2)} % (from the gathered predictions)`);
      o.print(`         max |swarm − single-process model.predict| = ${p.maxAbsDiffVsSingle.toExponential(3)}   ${p.wireBytesPerSample} bytes/sample uploaded`);
    }
    return result;
  } finally {
    await run.close();
  }
}
