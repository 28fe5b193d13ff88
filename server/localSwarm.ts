/**
 * A server, a job and N headless Chromium workers on this machine, and the loop that follows
 * the job over REST to its end: what `tabswarm demo` and the benches' swarm runs share.
 */
import { createTabswarmServer, type ServerOptions, type TabswarmServer } from './app.ts';
import { startWorkers, type HeadlessSwarm } from './workers.ts';
import type { StepMetricsWire } from '../shared/dashboardProtocol.ts';
import { TabswarmError, TimeoutError } from '../shared/errors.ts';
import type { PrivateJobView } from './jobViews.ts';

/** One committed step as `GET /api/jobs/:id/metrics` returns it. */
export type StepMetric = StepMetricsWire;

/** What `GET /api/jobs/:id` answers the owner (server/jobViews.ts). */
export type JobViewWire = PrivateJobView;

export interface CreatedJob {
  id: string;
  joinUrl: string;
  dashboardUrl: string;
  ownerToken: string;
}

export interface LocalSwarmOptions {
  /** the POST /api/jobs body */
  job: Record<string, unknown>;
  workers: number;
  server?: ServerOptions;
  /** how the workers' pages run (backend, uplink, overlap, console) */
  pages?: Omit<Parameters<typeof startWorkers>[0], 'url' | 'count'>;
  /** called once the job exists, before the workers start */
  onJob?(job: CreatedJob, serverUrl: string): void;
}

export interface LocalSwarm {
  server: TabswarmServer;
  job: CreatedJob;
  swarm: HeadlessSwarm;
  /** GET /api/jobs/:id{path} as the job's owner, parsed as JSON */
  get<T>(path: string): Promise<T>;
  /** a request to /api/jobs/:id{path} as the job's owner */
  request(path: string, init?: RequestInit): Promise<Response>;
  metrics(): Promise<StepMetric[]>;
  /** closes the workers, then the server */
  close(): Promise<void>;
}

export async function startLocalSwarm(o: LocalSwarmOptions): Promise<LocalSwarm> {
  const server = await createTabswarmServer(o.server);
  try {
    const created = await fetch(`${server.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(o.job) });
    const job = (await created.json()) as CreatedJob & { error?: { message: string } };
    if (!created.ok) throw new TabswarmError('BAD_JOB_SPEC', `job creation failed: ${job.error?.message}`);
    o.onJob?.(job, server.url);
    const swarm = await startWorkers({ url: job.joinUrl, count: o.workers, ...o.pages });
    const request = (path: string, init: RequestInit = {}) => fetch(`${server.url}/api/jobs/${job.id}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${job.ownerToken}` } });
    const get = async <T>(path: string) => (await (await request(path)).json()) as T;
    return {
      server, job, swarm, request, get,
      metrics: async () => (await get<{ metrics: StepMetric[] }>('/metrics')).metrics,
      close: async () => {
        await swarm.close().catch(() => {});
        await server.close();
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}

export interface FollowOptions {
  /** names the run in a timeout's message */
  what: string;
  timeoutS: number;
  everyMs: number;
  /** also wait for the final weights' upload (the demo downloads them) */
  weights?: boolean;
  /** each poll's view, before the end test */
  onView?(view: JobViewWire): void | Promise<void>;
}

/**
 * Polls the job until it is stopped, or done with every active member's final report in.
 * Returns the last view.
 */
export async function followJob(s: LocalSwarm, o: FollowOptions): Promise<JobViewWire> {
  const deadline = Date.now() + o.timeoutS * 1000;
  for (;;) {
    const view = await s.get<JobViewWire>('');
    await o.onView?.(view);
    // a stopped job ends without final uploads; a finished one waits for every member's
    if (view.status === 'stopped') return view;
    const finals = view.members.filter((m) => m.final).length;
    const active = view.members.filter((m) => m.state === 'active').length;
    if (view.status === 'done' && finals >= active && (!o.weights || view.hasWeights)) return view;
    if (Date.now() > deadline) throw new TimeoutError(`${o.what} (at step ${view.step}/${view.steps}, status ${view.status})`, o.timeoutS * 1000);
    await new Promise((r) => setTimeout(r, o.everyMs));
  }
}
