/**
 * A variant of `tabswarm demo` for benchmarks: a real server, a job from a preset with any
 * spec overrides (encoding, steps, evaluation), N headless Chromium tabs; optionally stops
 * the job once the test accuracy reaches a target. Returns the per-step figures the
 * coordinator recorded.
 */
import { createTabswarmServer } from '../../server/app.ts';
import { createLogger } from '../../server/log.ts';
import { startWorkers } from '../../server/workers.ts';
import { TabswarmError, TimeoutError } from '../../shared/errors.ts';
import { mean, median } from './stats.ts';

export interface SwarmRunOptions {
  workers: number;
  preset: 'mnist-mlp' | 'mnist-cnn';
  overrides?: Record<string, unknown>;
  /** stop the job once a test evaluation reaches this accuracy */
  stopAtAccuracy?: number;
  /** false: tabs compute the whole gradient before the ring starts (page ?overlap=0) */
  overlap?: boolean;
  timeoutS: number;
  print(line: string): void;
}

interface Metric { step: number; loss: number; stepMs: number; computeMs: number; allreduceMs: number; samples: number; at: number; testAccuracy?: number }
interface View { status: string; step: number; steps: number; members: { state: string; backend: string | null; final: { paramHash: string; testAccuracy: number | null } | null }[] }

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
  wallS: number;
}

export async function swarmRun(o: SwarmRunOptions): Promise<SwarmRunResult> {
  const server = await createTabswarmServer({ port: 0, log: createLogger('warn') });
  const t0 = Date.now();
  try {
    const created = await fetch(`${server.url}/api/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ preset: o.preset, minWorkers: o.workers, ...o.overrides }),
    });
    const job = (await created.json()) as { id: string; joinUrl: string; ownerToken: string; error?: { message: string } };
    if (!created.ok) throw new TabswarmError('BAD_JOB_SPEC', `job creation failed: ${job.error?.message}`);
    const auth = { authorization: `Bearer ${job.ownerToken}` };
    const get = async <T>(path: string) => (await (await fetch(`${server.url}/api/jobs/${job.id}${path}`, { headers: auth })).json()) as T;
    const swarm = await startWorkers({ url: job.joinUrl, count: o.workers, overlap: o.overlap });
    try {
      const deadline = Date.now() + o.timeoutS * 1000;
      let view: View;
      let stopped = false;
      let lastPrint = 0;
      for (;;) {
        view = await get<View>('');
        // a stopped job ends without final uploads; a finished one waits for every member's
        if (view.status === 'stopped') break;
        if (view.status === 'done' && view.members.filter((m) => m.final).length >= view.members.filter((m) => m.state === 'active').length) break;
        if (o.stopAtAccuracy !== undefined && !stopped) {
          const { metrics } = await get<{ metrics: Metric[] }>('/metrics');
          if (metrics.some((m) => (m.testAccuracy ?? 0) >= o.stopAtAccuracy!)) {
            stopped = true;
            await fetch(`${server.url}/api/jobs/${job.id}/stop`, { method: 'POST', headers: auth });
          }
        }
        if (Date.now() - lastPrint > 15_000) {
          lastPrint = Date.now();
          o.print(`    step ${view.step}/${view.steps} (${view.status})`);
        }
        if (Date.now() > deadline) throw new TimeoutError(`swarm of ${o.workers} on ${o.preset} (at step ${view.step}, ${view.status})`, o.timeoutS * 1000);
        await new Promise((r) => setTimeout(r, 300));
      }
      const { metrics } = await get<{ metrics: Metric[] }>('/metrics');
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
        wallS: (Date.now() - t0) / 1000,
      };
    } finally {
      await swarm.close().catch(() => {});
    }
  } finally {
    await server.close();
  }
}
