/**
 * Prometheus metrics at `GET /metrics`, by prom-client. Each server's metrics object owns
 * its own `Registry` (never prom-client's global default one), so two servers in one process
 * — the tests, `tabswarm demo` — never share or double-register a metric.
 *
 * PUBLIC on purpose, unauthenticated: nothing here names a job, a member, a dataset, an
 * address or a token. Labels are drawn from fixed sets only (job kind and status, member
 * state, error code), so their cardinality is bounded too.
 *
 * Job figures are computed at scrape time from the job registry (the coordinators are not
 * hooked): each committed step's metrics are observed once, the first scrape after its
 * commit, keyed by (job, step) high-water mark — a step re-committed after a rollback is
 * not counted twice. Prediction units and samples likewise: the growth of each job's settled
 * counts since the last scrape. Rates are left to Prometheus, the Prometheus way: steps per
 * second is `rate(tabswarm_steps_committed_total[1m])`, units per second
 * `rate(tabswarm_prediction_units_total[1m])`.
 *
 * Errors by code belong to the server's metrics object: `countError(code)` is handed to
 * wherever an error body or message is sent (server/http.ts; server/sockets.ts).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ringVectorBytes } from '../shared/allreduce/bandwidth.ts';
import type { JobRegistry } from './jobs.ts';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const JOB_KINDS = ['train', 'predict'] as const;
const JOB_STATUSES = ['waiting', 'running', 'paused', 'done', 'stopped', 'failed'] as const;
const MEMBER_STATES = ['joining', 'syncing', 'active', 'left', 'dropped'] as const;
/** all-reduce milliseconds */
const ALLREDUCE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
/** bytes per value on the wire for each gradient encoding (int8 ignores its small per-block scales) */
const ENCODING_BYTES: Record<string, number> = { fp32: 4, fp16: 2, int8: 1 };

export interface ServerMetrics {
  /** this server's registry: every metric below, and nothing of any other server's */
  readonly registry: Registry;
  /** the exposition text of every metric, as of now */
  render(): Promise<string>;
  /** one more error answered with `code` (an HTTP error body, a socket error message) */
  countError(code: string): void;
}

export function createServerMetrics(d: { jobs: JobRegistry }): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  // high-water marks per job; they survive the job leaving the registry
  const seenStep = new Map<string, number>();
  const seenUnits = new Map<string, { units: number; samples: number }>();

  const jobs = new Gauge({ name: 'tabswarm_jobs', help: 'Jobs in the registry by kind and status.', labelNames: ['kind', 'status'] as const, registers });
  const members = new Gauge({ name: 'tabswarm_members', help: 'Members of all jobs by state (gone members: the most recent ones each job keeps).', labelNames: ['state'] as const, registers });
  const committed = new Counter({ name: 'tabswarm_steps_committed_total', help: 'Committed training steps, all jobs. Steps per second: rate() of this.', registers });
  const samples = new Counter({ name: 'tabswarm_samples_committed_total', help: 'Training samples in committed steps, all jobs.', registers });
  const allreduce = new Histogram({ name: 'tabswarm_allreduce_ms', help: 'All-reduce time of each committed step, milliseconds.', buckets: ALLREDUCE_BUCKETS, registers });
  const wireBytes = new Counter({ name: 'tabswarm_allreduce_wire_bytes_estimated_total', help: 'Estimated bytes the members sent each other in ring all-reduces: 2(N-1) gradient vectors per step at the job encoding, as dense frames (exact frames with +0.0 values travel masked and send fewer).', registers });
  const units = new Counter({ name: 'tabswarm_prediction_units_total', help: 'Prediction units settled (quorum reached, output stored), all jobs. Units per second: rate() of this.', registers });
  const unitSamples = new Counter({ name: 'tabswarm_prediction_samples_total', help: 'Samples in settled prediction units, all jobs.', registers });
  const errors = new Counter({ name: 'tabswarm_errors_total', help: 'Errors answered to clients (HTTP error bodies, socket error messages) by code.', labelNames: ['code'] as const, registers });
  // process figures: read at scrape, with no timers or observers left behind when the server closes
  const start = Math.round(Date.now() / 1000 - process.uptime());
  new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers, collect() {
    const cpu = process.cpuUsage();
    this.reset();
    this.inc((cpu.user + cpu.system) / 1e6);
  } });
  new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', registers, collect() { this.set(process.memoryUsage().rss); } });
  new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.', registers, collect() { this.set(process.memoryUsage().heapUsed); } });
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers, collect() { this.set(start); } });

  function observeJobs() {
    for (const job of d.jobs.jobs.values()) {
      const c = job.coordinator;
      let high = seenStep.get(job.id) ?? -1;
      const vector = ringVectorBytes(job.vetted.trainableParams) / 4;
      const perValue = ENCODING_BYTES[job.spec.encoding] ?? 4;
      // newest last: walk back to the first step not yet observed
      let i = c.metrics.length;
      while (i > 0 && c.metrics[i - 1]!.step > high) i--;
      for (; i < c.metrics.length; i++) {
        const m = c.metrics[i]!;
        committed.inc();
        samples.inc(m.samples);
        allreduce.observe(m.allreduceMs);
        // a ring of N moves 2(N−1)/N of the vector out of each rank: 2(N−1) vectors in all
        wireBytes.inc(2 * Math.max(0, m.members - 1) * vector * perValue);
        high = Math.max(high, m.step);
      }
      seenStep.set(job.id, high);
      if (c.prediction) {
        const p = c.prediction.progress();
        const was = seenUnits.get(job.id) ?? { units: 0, samples: 0 };
        units.inc(Math.max(0, p.unitsDone - was.units));
        unitSamples.inc(Math.max(0, p.samplesDone - was.samples));
        seenUnits.set(job.id, { units: Math.max(was.units, p.unitsDone), samples: Math.max(was.samples, p.samplesDone) });
      }
    }
  }

  function observeGauges() {
    jobs.reset();
    members.reset();
    // every fixed label value present, zero included, so a series never vanishes
    for (const kind of JOB_KINDS) for (const status of JOB_STATUSES) jobs.set({ kind, status }, 0);
    for (const state of MEMBER_STATES) members.set({ state }, 0);
    for (const job of d.jobs.jobs.values()) {
      const c = job.coordinator;
      jobs.inc({ kind: job.spec.kind ?? 'train', status: c.status });
      for (const m of c.members.values()) members.inc({ state: m.state });
    }
  }

  return {
    registry,
    countError(code) {
      errors.inc({ code });
    },
    async render() {
      observeJobs();
      observeGauges();
      return registry.metrics();
    },
  };
}
