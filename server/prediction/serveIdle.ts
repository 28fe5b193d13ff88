/**
 * Idle members of a finished training job serve prediction units.
 *
 * A member of a training job that is `done` and has reported its final weights is idle while
 * its tab stays open. The server (only the server: a member cannot ask for it) tells it to
 * serve the oldest prediction job on this server that still has pending units and whose
 * weights came from that very training job (`predict.source === 'job:ID'`). Why that job
 * only: a job id is the join capability, and there is no public list of jobs; a prediction
 * job made from job X's weights was created with X's owner token, so handing its id to X's
 * members tells them nothing X's owner did not already give them (they trained those weights).
 */
import type { Job, JobRegistry } from '../jobs.ts';

export interface ServeCandidate {
  id: string;
  createdAt: number;
  /** where the weights came from (`job:ID` or `upload`) */
  source: string;
  /** the job still takes members (not done, stopped or failed) */
  open: boolean;
  pendingUnits: number;
}

/** The prediction job an idle member of training job `trainingJobId` should serve, or null. Pure. */
export function pickServeJob(trainingJobId: string, candidates: readonly ServeCandidate[]): string | null {
  let best: ServeCandidate | null = null;
  for (const c of candidates) {
    if (!c.open || c.pendingUnits <= 0 || c.source !== `job:${trainingJobId}`) continue;
    if (!best || c.createdAt < best.createdAt || (c.createdAt === best.createdAt && c.id < best.id)) best = c;
  }
  return best?.id ?? null;
}

/** The prediction jobs of a registry, as candidates. */
export function serveCandidates(jobs: Iterable<Job>): ServeCandidate[] {
  const out: ServeCandidate[] = [];
  for (const j of jobs) {
    const run = j.coordinator.prediction;
    if (j.spec.kind !== 'predict' || !run) continue;
    const st = j.coordinator.status;
    out.push({ id: j.id, createdAt: j.createdAt, source: j.spec.predict?.source ?? 'upload', open: st !== 'done' && st !== 'stopped' && st !== 'failed', pendingUnits: run.book.counts().pending });
  }
  return out;
}

/**
 * One sweep: every idle member (its training job done, its final report in) not yet told is
 * sent `serve` once. Returns a sweep function that remembers whom it told.
 */
export function createIdleServer(jobs: JobRegistry) {
  const told = new Set<string>();
  return function sweep(): number {
    let sent = 0;
    const candidates = serveCandidates(jobs.jobs.values());
    if (candidates.length === 0) return 0;
    for (const j of jobs.jobs.values()) {
      const c = j.coordinator;
      if (j.spec.kind === 'predict' || c.prediction || c.status !== 'done') continue;
      const target = pickServeJob(j.id, candidates);
      if (!target) continue;
      for (const m of c.members.values()) {
        const key = `${j.id}/${m.id}`;
        if (!m.final || told.has(key)) continue;
        told.add(key);
        c.send(m.id, { type: 'serve', jobId: target });
        c.event('done', `idle: told to serve prediction job ${target}`, m.id);
        sent++;
      }
    }
    return sent;
  };
}
