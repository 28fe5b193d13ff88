/**
 * A restarted server brings its jobs back from the store.
 *
 * - waiting/running/paused jobs resume from their last checkpoint: the coordinator starts at
 *   the checkpoint's step (or 0 without one) and hands the checkpoint to the first worker that
 *   rejoins; committed steps after the checkpoint are forgotten (rows deleted) and redone, so
 *   the committed-step history has neither a gap nor a duplicate. running comes back as
 *   waiting (no worker is connected yet); paused stays paused.
 * - done/stopped jobs come back read-only with their whole history and final parameters.
 * Members that were connected to the old process are marked dropped ('server-restart').
 */
import type { Coordinator, JobEvent } from '../coordinator.ts';
import type { Job, JobRegistry, VettedModel } from '../jobs.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import type { Logger } from '../log.ts';
import type { Store, StoredJob } from './store.ts';

export interface RestoreReport {
  jobId: string;
  status: string;
  /** the step training resumes at (the checkpoint's), or null for a finished job */
  resumeStep: number | null;
  /** committed steps before the restart that are redone */
  redone: number;
}

function addEvent(store: Store, c: Coordinator, e: JobEvent) {
  c.loadEvents([e]);
  store.addEvent(c.jobId, e);
}

function restoreOne(store: Store, jobs: JobRegistry, s: StoredJob, now: number, vetted: VettedModel): { job: Job; report: RestoreReport } {
  const rec = { id: s.id, spec: s.spec, tokenHash: s.tokenHash, createdAt: s.createdAt };
  if (s.status === 'done' || s.status === 'stopped') {
    const job = jobs.adopt(rec, vetted);
    const c = job.coordinator;
    c.status = s.status;
    c.metrics = s.metrics;
    c.step = (s.metrics.at(-1)?.step ?? -1) + 1;
    c.checkpoint = s.checkpoint;
    c.finalParams = s.finalParams ? { ...s.finalParams, source: s.finalParams.step === c.step ? 'final' : 'checkpoint' } : null;
    if (s.learningRate !== null) c.learningRate = s.learningRate;
    c.loadEvents(s.events);
    return { job, report: { jobId: s.id, status: s.status, resumeStep: null, redone: 0 } };
  }
  const resumeStep = s.checkpoint?.step ?? 0;
  const redone = s.metrics.filter((m) => m.step >= resumeStep).length;
  const job = jobs.adopt(rec, vetted, { checkpoint: s.checkpoint, metrics: s.metrics });
  const c = job.coordinator;
  if (s.learningRate !== null) c.learningRate = s.learningRate;
  if (s.status === 'paused') c.status = 'paused';
  c.loadEvents(s.events);
  store.deleteMetricsFrom(s.id, resumeStep);
  store.closeMembers(s.id, 'server-restart', now);
  store.updateJob(s.id, { status: c.status });
  const from = s.checkpoint ? `the checkpoint at step ${resumeStep} (hash ${s.checkpoint.paramHash})` : 'the initial weights (no checkpoint yet)';
  addEvent(store, c, { at: now, kind: 'rollback', detail: `server restarted: resuming from ${from}; ${redone} committed step(s) will be redone` });
  return { job, report: { jobId: s.id, status: c.status, resumeStep, redone } };
}

/**
 * A stored job that cannot be brought back (its model no longer passes vetting, its rows do
 * not make sense) is quarantined, not retried into a crash loop and not hidden: it is listed
 * with status 'failed' and the reason, read-only, its history and final weights intact.
 */
function quarantine(store: Store, jobs: JobRegistry, s: StoredJob, reason: string): Job {
  jobs.jobs.get(s.id)?.coordinator.destroy();
  jobs.jobs.delete(s.id);
  const unvetted: VettedModel = { trainableParams: 0, nonTrainableParams: 0, activationFloatsPerSample: 0, macsPerSample: 0, layers: [], outputShape: [], lastActivation: '', model: s.spec.model as VettedModel['model'] };
  const job = jobs.adopt({ id: s.id, spec: s.spec, tokenHash: s.tokenHash, createdAt: s.createdAt }, unvetted);
  const c = job.coordinator;
  c.metrics = s.metrics;
  c.loadEvents(s.events);
  c.finalParams = s.finalParams ? { ...s.finalParams, source: 'final' } : null;
  c.fail(reason);
  store.updateJob(s.id, { status: 'failed' });
  return job;
}

/** Loads every stored job into the registry; one that fails to load or to pass `vet` is quarantined. */
export async function restoreJobs(store: Store, jobs: JobRegistry, now: () => number, log: Logger, vet: (spec: JobSpec) => Promise<VettedModel>): Promise<RestoreReport[]> {
  const reports: RestoreReport[] = [];
  const corrupt = (jobId: string, e: Error) => log('error', 'stored job does not decode: skipped', { jobId, err: e.message });
  for (const s of store.loadJobs(corrupt)) {
    try {
      const { report } = restoreOne(store, jobs, s, now(), await vet(s.spec));
      reports.push(report);
      log('info', 'job restored', { ...report });
    } catch (e) {
      const reason = `could not be restored after a restart: ${e instanceof Error ? e.message : String(e)}`;
      log('error', 'job quarantined', { jobId: s.id, reason });
      try {
        quarantine(store, jobs, s, reason);
        reports.push({ jobId: s.id, status: 'failed', resumeStep: null, redone: 0 });
      } catch (e2) {
        jobs.jobs.delete(s.id);
        log('error', 'job could not even be quarantined: skipped', { jobId: s.id, err: e2 instanceof Error ? e2.message : String(e2) });
      }
    }
  }
  return reports;
}
