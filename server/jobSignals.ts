/**
 * "Something changed in job X": the coordinator's hooks ring this bell, and whoever shows or
 * waits on a job's state (the dashboard feed, a model download waiting for a checkpoint)
 * listens. It carries no data; listeners read the coordinator, so they can never disagree
 * with it.
 */
import { TimeoutError } from '../shared/errors.ts';

export type ChangeKind = 'event' | 'metrics' | 'checkpoint' | 'params' | 'rollback';

export interface JobSignals {
  changed(jobId: string, kind: ChangeKind): void;
  /** returns an unsubscribe function */
  listen(jobId: string, fn: (kind: ChangeKind) => void): () => void;
  /** resolves once `ready()` holds (checked now and after every change), rejects after `timeoutMs` */
  waitFor(jobId: string, ready: () => boolean, timeoutMs: number, what: string): Promise<void>;
}

export function createJobSignals(): JobSignals {
  const listeners = new Map<string, Set<(kind: ChangeKind) => void>>();
  const listen = (jobId: string, fn: (kind: ChangeKind) => void) => {
    let set = listeners.get(jobId);
    if (!set) listeners.set(jobId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) listeners.delete(jobId);
    };
  };
  return {
    changed(jobId, kind) {
      for (const fn of [...(listeners.get(jobId) ?? [])]) fn(kind);
    },
    listen,
    waitFor(jobId, ready, timeoutMs, what) {
      if (ready()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new TimeoutError(what, timeoutMs));
        }, timeoutMs);
        const stop = listen(jobId, () => {
          if (!ready()) return;
          clearTimeout(timer);
          stop();
          resolve();
        });
      });
    },
  };
}
