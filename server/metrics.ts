/**
 * Prometheus metrics at `GET /metrics`, text exposition format 0.0.4 — written here rather
 * than with prom-client: the whole format is ~60 lines (HELP/TYPE, label escaping,
 * cumulative histogram buckets), and it keeps the server free of one more dependency.
 *
 * PUBLIC on purpose, unauthenticated: nothing here names a job, a member, a dataset, an
 * address or a token. Labels are drawn from fixed sets only (job status, member state,
 * error code), so their cardinality is bounded too.
 *
 * Job figures are computed at scrape time from the job registry (the coordinators are not
 * hooked): each committed step's metrics are observed once, the first scrape after its
 * commit, keyed by (job, step) high-water mark — a step re-committed after a rollback is
 * not counted twice. Steps per second is `rate(tabswarm_steps_committed_total[1m])`.
 *
 * Errors by code belong to the server's metrics object: `countError(code)` is handed to
 * wherever an error body or message is sent (server/http.ts; server/sockets.ts).
 */
import { ringVectorBytes } from '../shared/allreduce/bandwidth.ts';
import type { JobRegistry } from './jobs.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const JOB_STATUSES = ['waiting', 'running', 'paused', 'done', 'stopped', 'failed'] as const;
const MEMBER_STATES = ['joining', 'syncing', 'active', 'left', 'dropped'] as const;
/** all-reduce milliseconds */
const ALLREDUCE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
/** bytes per value on the wire for each gradient encoding (int8 ignores its small per-block scales) */
const ENCODING_BYTES: Record<string, number> = { fp32: 4, fp16: 2, int8: 1 };

type Labels = Record<string, string>;


/** `\`, `"` and newline escaped, as the format asks of label values. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function sample(name: string, labels: Labels, v: number): string {
  const ls = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(x)}"`);
  return `${name}${ls.length ? `{${ls.join(',')}}` : ''} ${num(v)}`;
}

/** A metric family: its HELP and TYPE lines, then its samples. */
export function family(name: string, type: 'counter' | 'gauge' | 'histogram' | 'untyped', help: string, samples: [Labels, number][]): string[] {
  return [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`, ...samples.map(([l, v]) => sample(name, l, v))];
}

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number) {
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
  lines(name: string, help: string): string[] {
    return [
      `# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`,
      ...this.buckets.map((b, i) => sample(`${name}_bucket`, { le: num(b) }, this.counts[i]!)),
      sample(`${name}_bucket`, { le: '+Inf' }, this.count),
      sample(`${name}_sum`, {}, this.sum),
      sample(`${name}_count`, {}, this.count),
    ];
  }
}

export interface ServerMetrics {
  /** the exposition text of every metric, as of now */
  render(): string;
  /** one more error answered with `code` (an HTTP error body, a socket error message) */
  countError(code: string): void;
}

export function createServerMetrics(d: { jobs: JobRegistry }): ServerMetrics {
  const errorCounts = new Map<string, number>();
  // committed-step figures, observed once per (job, step); survives the job leaving the registry
  const seen = new Map<string, number>();
  const allreduce = new Histogram(ALLREDUCE_BUCKETS);
  let committed = 0;
  let wireBytes = 0;
  let samples = 0;

  function observeJobs() {
    for (const job of d.jobs.jobs.values()) {
      const metrics = job.coordinator.metrics;
      let high = seen.get(job.id) ?? -1;
      const vector = ringVectorBytes(job.vetted.trainableParams) / 4;
      const perValue = ENCODING_BYTES[job.spec.encoding] ?? 4;
      // newest last: walk back to the first step not yet observed
      let i = metrics.length;
      while (i > 0 && metrics[i - 1]!.step > high) i--;
      for (; i < metrics.length; i++) {
        const m = metrics[i]!;
        committed++;
        samples += m.samples;
        allreduce.observe(m.allreduceMs);
        // a ring of N moves 2(N−1)/N of the vector out of each rank: 2(N−1) vectors in all
        wireBytes += 2 * Math.max(0, m.members - 1) * vector * perValue;
        high = Math.max(high, m.step);
      }
      seen.set(job.id, high);
    }
  }

  return {
    countError(code) {
      errorCounts.set(code, (errorCounts.get(code) ?? 0) + 1);
    },
    render() {
      observeJobs();
      const byStatus = new Map<string, number>(JOB_STATUSES.map((s) => [s, 0]));
      const byState = new Map<string, number>(MEMBER_STATES.map((s) => [s, 0]));
      for (const job of d.jobs.jobs.values()) {
        const c = job.coordinator;
        byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + 1);
        for (const m of c.members.values()) byState.set(m.state, (byState.get(m.state) ?? 0) + 1);
      }
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      const lines = [
        ...family('tabswarm_jobs', 'gauge', 'Jobs in the registry by status.', [...byStatus].map(([status, n]) => [{ status }, n])),
        ...family('tabswarm_members', 'gauge', 'Members of all jobs by state (gone members: the most recent ones each job keeps).', [...byState].map(([state, n]) => [{ state }, n])),
        ...family('tabswarm_steps_committed_total', 'counter', 'Committed training steps, all jobs. Steps per second: rate() of this.', [[{}, committed]]),
        ...family('tabswarm_samples_committed_total', 'counter', 'Training samples in committed steps, all jobs.', [[{}, samples]]),
        ...allreduce.lines('tabswarm_allreduce_ms', 'All-reduce time of each committed step, milliseconds.'),
        ...family('tabswarm_allreduce_wire_bytes_estimated_total', 'counter', 'Estimated bytes the members sent each other in ring all-reduces: 2(N-1) gradient vectors per step at the job encoding.', [[{}, wireBytes]]),
        ...family('tabswarm_errors_total', 'counter', 'Errors answered to clients (HTTP error bodies, socket error messages) by code.', [...errorCounts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, n]) => [{ code }, n])),
        ...family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [[{}, (cpu.user + cpu.system) / 1e6]]),
        ...family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [[{}, mem.rss]]),
        ...family('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', [[{}, mem.heapUsed]]),
        ...family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [[{}, Math.round(Date.now() / 1000 - process.uptime())]]),
      ];
      return lines.join('\n') + '\n';
    },
  };
}
