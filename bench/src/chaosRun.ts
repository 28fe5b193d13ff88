/**
 * `tabswarm bench chaos`: N Chromium workers, a fault every K steps — alternately a tab closed
 * in the middle of an all-reduce and a browser process killed while computing — each victim
 * replaced by a fresh tab. Prints time to recover per fault (fault → that step committed),
 * steps lost (re-executions), and the final weights' distance to the fault-free run.
 * Registered as a bench in bench/src/chaos.ts.
 */
import type { Browser, Page } from 'playwright';
import { createTabswarmServer } from '../../server/app.ts';
import { launchChromium, launchChromiumServer, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { createLogger } from '../../server/log.ts';
import { onPhase, waitFor } from './pageHooks.ts';
import { percentile } from './stats.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

export interface ChaosOptions {
  workers: number;
  faults: number;
  every: number;
  print: (l: string) => void;
}

interface Fault {
  kind: 'tab-closed-mid-allreduce' | 'browser-killed-mid-compute';
  step: number;
  at: number;
}

export interface ChaosResult {
  workers: number;
  faults: number;
  faultLog: (Fault & { recoveryMs: number })[];
  recoveryMsP50: number;
  recoveryMsMax: number;
  stepsCommitted: number;
  stepsExpected: number;
  stepsReexecuted: number;
  replicaHashes: string[];
  maxAbsDiff: number;
  wallS: number;
}

export async function runChaosBench(o: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const server = await createTabswarmServer({ port: 0, log: createLogger('warn'), coordinator: { heartbeatMs: 1000, heartbeatTimeoutMs: 6000 } });
  const steps = o.every * (o.faults + 1) + 5;
  const created = await fetch(`${server.url}/api/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ preset: 'mnist-mlp', steps, minWorkers: o.workers, checkpointEvery: 10, evalEvery: 0, dataset: { trainSize: 4096, testSize: 500 } }),
  });
  const job = (await created.json()) as { id: string; joinUrl: string; ownerToken: string };
  const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
  const url = `${job.joinUrl}&backend=wasm`;
  const shared = await launchChromium();
  const owned: { close(): Promise<void> }[] = [];
  const faults: Fault[] = [];
  const open = async (browser: Browser, prepare?: (p: Page) => Promise<void>) => {
    const page = await (await workerContext(browser)).newPage();
    if (prepare) await prepare(page);
    await page.goto(url);
    return page;
  };
  try {
    // victims first (each armed for its own fault step), then the rest
    for (let i = 0; i < Math.min(o.faults, o.workers); i++) {
      const step = o.every * (i + 1);
      if (i % 2 === 0) {
        await open(shared, (p) => onPhase(p, 'allreduce', step, (s) => {
          faults.push({ kind: 'tab-closed-mid-allreduce', step: s, at: Date.now() });
          void p.close().then(() => open(shared));
        }));
      } else {
        const own = await launchChromiumServer();
        owned.push(own.server);
        await open(own.browser, (p) => onPhase(p, 'compute', step, (s) => {
          faults.push({ kind: 'browser-killed-mid-compute', step: s, at: Date.now() });
          own.server.process().kill('SIGKILL');
          void open(shared);
        }));
      }
    }
    for (let i = Math.min(o.faults, o.workers); i < o.workers; i++) await open(shared);
    const view = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
    let lastShown = -1;
    const done = await waitFor('the chaos job to finish', async () => {
      const v = await view();
      if (Math.floor(v.step / o.every) !== lastShown) {
        lastShown = Math.floor(v.step / o.every);
        o.print(`step ${v.step}/${steps}  faults so far ${faults.length}  active ${v.members.filter((m) => m.state === 'active').length}`);
      }
      const active = v.members.filter((m) => m.state === 'active');
      return v.status === 'done' && v.hasWeights && active.every((m) => m.final) ? v : null;
    }, 900_000, 200);
    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number; at: number }[]; events: { kind: string }[] };
    const faultLog = faults.map((f) => ({ ...f, recoveryMs: (metrics.find((m) => m.step === f.step)?.at ?? NaN) - f.at }));
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, steps, { backend: 'wasm' }); // the tabs' kernels
    const rec = faultLog.map((f) => f.recoveryMs);
    const result: ChaosResult = {
      workers: o.workers,
      faults: faults.length,
      faultLog,
      recoveryMsP50: percentile(rec, 50),
      recoveryMsMax: Math.max(...rec),
      stepsCommitted: new Set(metrics.map((m) => m.step)).size,
      stepsExpected: steps,
      stepsReexecuted: events.filter((e) => e.kind === 'abort').length,
      replicaHashes: done.members.filter((m) => m.state === 'active').map((m) => m.final!.paramHash),
      maxAbsDiff: maxAbsDiff(swarm, ref.params),
      wallS: (Date.now() - t0) / 1000,
    };
    o.print('');
    o.print('fault                          step   recovery ms');
    for (const f of faultLog) o.print(`${f.kind.padEnd(30)} ${String(f.step).padStart(4)}   ${f.recoveryMs.toFixed(0).padStart(8)}`);
    o.print(`recovery p50 ${result.recoveryMsP50.toFixed(0)} ms, max ${result.recoveryMsMax.toFixed(0)} ms; steps committed ${result.stepsCommitted}/${steps}, re-executed ${result.stepsReexecuted}`);
    o.print(`replicas ${result.replicaHashes.length}, ${new Set(result.replicaHashes).size === 1 ? 'all equal' : 'DIFFER'}; max |swarm − fault-free| = ${result.maxAbsDiff.toExponential(3)}`);
    return result;
  } finally {
    await shared.close().catch(() => {});
    for (const b of owned) await b.close().catch(() => {});
    await server.close();
  }
}
