/**
 * Coordinator hooks that write a job's life to the store: events (and the member rows they
 * describe, with status and learning-rate changes), committed-step metrics, rollbacks,
 * checkpoints and final parameters. A failed write is logged and training goes on: losing a
 * row is better than losing the swarm.
 */
import type { Coordinator, CoordinatorDeps, JobEvent } from '../coordinator.ts';
import type { Job } from '../jobs.ts';
import type { Logger } from '../log.ts';
import type { JobRecord, Store } from './store.ts';

export type PersistHooks = Required<Pick<CoordinatorDeps, 'onEvent' | 'onMetrics' | 'onCheckpoint' | 'onRollback' | 'onParams'>>;

const MEMBER_EVENTS = new Set<JobEvent['kind']>(['join', 'active', 'leave', 'drop']);
/** a test accuracy arrives after its commit; look back this far for ones not yet written */
const EVAL_LOOKBACK = 4;

export function persistHooks(store: Store, jobId: string, coordinator: () => Coordinator | undefined, log: Logger): PersistHooks {
  let status: string | null = null;
  let learningRate: number | null = null;
  const accWritten = new Set<number>();
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      log('error', `store: ${what} failed`, { jobId, err: e instanceof Error ? e.message : String(e) });
    }
  };

  const writeMember = (c: Coordinator, peerId: string, at: number) => {
    const m = c.members.get(peerId);
    if (!m) return;
    const gone = m.state === 'left' || m.state === 'dropped';
    store.upsertMember(jobId, {
      peerId, state: m.state, joinedAt: m.joinedAt, leftAt: gone ? at : null, reason: m.reason,
      backend: m.info?.backend ?? null, adapter: m.info?.adapter ?? null, userAgent: m.info?.userAgent ?? null,
    });
  };

  /** status and learning rate change only together with an event */
  const writeJobFields = (c: Coordinator) => {
    if (c.status !== status) {
      store.updateJob(jobId, { status: c.status });
      status = c.status;
    }
    if (c.learningRate !== (learningRate ?? c.spec.optimizer.learningRate)) {
      store.updateJob(jobId, { learningRate: c.learningRate });
      learningRate = c.learningRate;
    }
  };

  const writeTestAccuracies = (c: Coordinator) => {
    for (const m of c.metrics.slice(-EVAL_LOOKBACK)) {
      if (m.testAccuracy !== undefined && !accWritten.has(m.step)) {
        store.setTestAccuracy(jobId, m.step, m.testAccuracy, m.testMae !== undefined && m.testRmse !== undefined ? { mae: m.testMae, rmse: m.testRmse } : undefined);
        accWritten.add(m.step);
      }
    }
  };

  return {
    onEvent: (e) =>
      guard(`event ${e.kind}`, () => {
        store.addEvent(jobId, e);
        const c = coordinator();
        if (!c) return;
        if (e.peerId && MEMBER_EVENTS.has(e.kind)) writeMember(c, e.peerId, e.at);
        writeJobFields(c);
        writeTestAccuracies(c);
      }),
    onMetrics: (m) =>
      guard(`metrics of step ${m.step}`, () => {
        store.putMetrics(jobId, m);
        const c = coordinator();
        if (c) writeTestAccuracies(c);
      }),
    onRollback: (toStep) =>
      guard(`rollback to ${toStep}`, () => {
        store.deleteMetricsFrom(jobId, toStep);
        for (const s of accWritten) if (s >= toStep) accWritten.delete(s);
      }),
    onCheckpoint: (cp) => guard(`checkpoint of step ${cp.step}`, () => store.saveCheckpoint(jobId, cp)),
    onParams: (step, paramHash, params) =>
      guard(`final params of step ${step}`, () => {
        store.saveFinalParams(jobId, { step, paramHash, params });
        const c = coordinator();
        if (c) writeTestAccuracies(c); // the last step's evaluation arrives after 'done'
      }),
  };
}

/** `deps` with the persistence hooks run first, then the hooks `deps` already had. */
export function withPersistence<D extends Partial<PersistHooks>>(deps: D, p: PersistHooks): D & PersistHooks {
  return {
    ...deps,
    onEvent: (e) => (p.onEvent(e), deps.onEvent?.(e)),
    onMetrics: (m) => (p.onMetrics(m), deps.onMetrics?.(m)),
    onRollback: (s) => (p.onRollback(s), deps.onRollback?.(s)),
    onCheckpoint: (c) => (p.onCheckpoint(c), deps.onCheckpoint?.(c)),
    onParams: (s, h, params) => (p.onParams(s, h, params), deps.onParams?.(s, h, params)),
  };
}

/** The row of a job just created. */
export function jobRecord(job: Job): JobRecord {
  return { id: job.id, spec: job.spec, status: job.coordinator.status, tokenHash: job.tokenHash, createdAt: job.createdAt, learningRate: null };
}
