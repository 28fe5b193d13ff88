/**
 * A variant of `tabswarm demo` for benchmarks (both run on server/localSwarm.ts): a real
 * server, a job from a preset with any spec overrides (encoding, steps, evaluation), N
 * headless Chromium tabs; optionally stops the job once the test accuracy reaches a target.
 * Returns the per-step figures the coordinator recorded.
 */
import { followJob, startLocalSwarm } from '../../server/localSwarm.ts';
import { createLogger } from '../../server/log.ts';
import { wireTotals } from '../../server/workers.ts';
import { mean, median } from './stats.ts';

export interface SwarmRunOptions {
  workers: number;
  preset: 'mnist-mlp' | 'mnist-cnn';
  overrides?: Record<string, unknown>;
  /** stop the job once a test evaluation reaches this accuracy */
  stopAtAccuracy?: number;
  /** false: tabs compute the whole gradient before the ring starts (page ?overlap=0) */
  overlap?: boolean;
  /** more page options, e.g. { zeros: 'dense' } */
  query?: Record<string, string>;
  timeoutS: number;
  print(line: string): void;
}

export interface SwarmRunResult {
  workers: number;
  preset: string;
  steps: number;
  /** steady state: steps after the first 3 */
  stepsPerSec: number;
  samplesPerSec: number;
  computeMs: number;
  allreduceMs: number;
  stepMs: number;
  /** median coordinator step time (open → commit) over the steady steps: robust to one slow step */
  medianStepMs: number;
  accuracy: { step: number; testAccuracy: number; trainS: number }[];
  reached: { step: number; trainS: number } | null;
  finalTestAccuracy: number | null;
  finalLoss: number | null;
  replicaHashes: string[];
  backends: string[];
  /** what the tabs' all-reduces sent, summed over tabs, and what dense frames would have been */
  wire: { sentBytes: number; denseBytes: number } | null;
  /** median over steady steps of step − compute (the ring's tail after the slowest gradient, and the server's round trip) */
  beyondComputeMs: number;
  wallS: number;
}

export async function swarmRun(o: SwarmRunOptions): Promise<SwarmRunResult> {
  const t0 = Date.now();
  const run = await startLocalSwarm({ job: { preset: o.preset, minWorkers: o.workers, ...o.overrides }, workers: o.workers, server: { port: 0, log: createLogger('warn') }, pages: { overlap: o.overlap, query: o.query } });
  try {
    let stopped = false;
    let lastPrint = 0;
    const view = await followJob(run, {
      what: `swarm of ${o.workers} on ${o.preset}`, timeoutS: o.timeoutS, everyMs: 300,
      onView: async (v) => {
        if (v.status === 'stopped' || v.status === 'done') return;
        if (o.stopAtAccuracy !== undefined && !stopped && (await run.metrics()).some((m) => (m.testAccuracy ?? 0) >= o.stopAtAccuracy!)) {
          stopped = true;
          await run.request('/stop', { method: 'POST' });
        }
        if (Date.now() - lastPrint > 15_000) {
          lastPrint = Date.now();
          o.print(`    step ${v.step}/${v.steps} (${v.status})`);
        }
      },
    });
    const metrics = await run.metrics();
    const wire = await wireTotals(run.swarm);
    const steady = metrics.slice(Math.min(3, Math.max(0, metrics.length - 2)));
    const spanMs = steady.length > 1 ? steady.at(-1)!.at - steady[0]!.at : NaN;
    const start = metrics[0] ? metrics[0].at - metrics[0].stepMs : t0;
    const accuracy = metrics.filter((m) => m.testAccuracy !== undefined).map((m) => ({ step: m.step + 1, testAccuracy: m.testAccuracy!, trainS: (m.at - start) / 1000 }));
    const hit = o.stopAtAccuracy === undefined ? undefined : accuracy.find((a) => a.testAccuracy >= o.stopAtAccuracy!);
    const finals = view.members.filter((m) => m.final);
    return {
      workers: o.workers,
      preset: o.preset,
      steps: metrics.length,
      stepsPerSec: ((steady.length - 1) / spanMs) * 1000,
      samplesPerSec: (steady.slice(1).reduce((a, m) => a + m.samples, 0) / spanMs) * 1000,
      computeMs: median(steady.map((m) => m.computeMs)),
      allreduceMs: median(steady.map((m) => m.allreduceMs)),
      stepMs: mean(steady.map((m) => m.stepMs)),
      medianStepMs: median(steady.map((m) => m.stepMs)),
      accuracy,
      reached: hit ? { step: hit.step, trainS: hit.trainS } : null,
      finalTestAccuracy: finals[0]?.final?.testAccuracy ?? accuracy.at(-1)?.testAccuracy ?? null,
      finalLoss: metrics.at(-1)?.loss ?? null,
      replicaHashes: finals.map((m) => m.final!.paramHash),
      backends: view.members.filter((m) => m.backend).map((m) => m.backend!),
      wire,
      beyondComputeMs: median(steady.map((m) => Math.max(0, m.stepMs - m.computeMs))),
      wallS: (Date.now() - t0) / 1000,
    };
  } finally {
    await run.close();
  }
}
