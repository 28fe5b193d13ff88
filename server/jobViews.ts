/**
 * What the REST API shows of a job, to whom.
 *
 * Public (anyone with the job id — which every volunteer's join link reveals): the spec (a
 * volunteer should see what its tab runs), status, step, epoch, learning rate, the last
 * committed step's metrics, the checkpoint step, and an anonymous member list: state,
 * backend, throughput, work done, and the final weight hash each replica reported.
 *
 * Private (only with `Authorization: Bearer <owner token>`): member ids (which address
 * signaling), GPU adapter names, user agents and backend reasons (they fingerprint the
 * volunteers' machines), why each left or was dropped, join times, the ring order, the event
 * log (it names peers and adapters), and the trained weights.
 */
import type { Job } from './jobs.ts';

/** Which job and how far along: the fields every view of a job starts with (REST, list, dashboard). */
export function jobHeadline(job: Job) {
  const c = job.coordinator;
  return { id: job.id, name: job.spec.name, status: c.status, failure: c.failure, step: c.step, steps: job.spec.steps };
}

export function publicJobView(job: Job) {
  const c = job.coordinator;
  return {
    ...jobHeadline(job),
    epoch: c.epoch,
    dataset: job.spec.dataset.id,
    learningRate: c.learningRate,
    spec: job.spec,
    members: [...c.members.values()].map((m) => ({
      state: m.state, backend: m.info?.backend ?? null,
      samplesPerSec: m.samplesPerSec, samplesDone: m.samplesDone, stepsDone: m.stepsDone, final: m.final,
    })),
    lastMetrics: c.metrics.at(-1) ?? null,
    checkpointStep: c.checkpoint?.step ?? null,
    committedParamHash: c.committedParamHash(),
    /** the final weights' test accuracy, scored across the members that trained to the end (their counts summed) */
    testAccuracy: c.finalTestAccuracy(),
    /** what the metrics measure (shared/losses.ts): accuracy, or MAE and RMSE for a regression */
    task: c.task,
    /** the final weights' test metrics as the task defines them (accuracy, or MAE and RMSE), summed across the finishers */
    test: c.finalTestMetrics(),
    hasWeights: c.finalParams !== null,
    /** a prediction job's units, throughput, disagreements and (labelled inputs) accuracy; null for training */
    prediction: c.prediction?.progress() ?? null,
    owner: false,
  };
}

export function privateJobView(job: Job) {
  const c = job.coordinator;
  return {
    ...publicJobView(job),
    owner: true,
    createdAt: job.createdAt,
    ring: [...c.ring],
    members: [...c.members.values()].map((m) => ({
      id: m.id, state: m.state, backend: m.info?.backend ?? null, adapter: m.info?.adapter ?? null, reason: m.info?.reason ?? null,
      userAgent: m.info?.userAgent ?? null, goneReason: m.reason, joinedAt: m.joinedAt, lastSeen: m.lastSeen,
      samplesPerSec: m.samplesPerSec, samplesDone: m.samplesDone, stepsDone: m.stepsDone, final: m.final, link: m.link,
    })),
    events: c.events.slice(-500),
  };
}

/** The list of jobs: public fields only. */
export function jobListEntry(job: Job) {
  return { ...jobHeadline(job), createdAt: job.createdAt };
}

/** What GET /api/jobs/:id answers: one definition for the server, the clients and the tests. */
export type PublicJobView = ReturnType<typeof publicJobView>;
export type PrivateJobView = ReturnType<typeof privateJobView>;
export type JobListEntry = ReturnType<typeof jobListEntry>;
