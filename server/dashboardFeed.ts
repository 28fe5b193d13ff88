/**
 * The `/dashboard` socket.io namespace: a live view of one job per socket.
 *
 * subscribe(jobId, token?) → a snapshot of the coordinator's stored history (the owner's
 * private view only with the right token), then increments: new steps, test evaluations,
 * events, the member table, the public summary. Increments are diffs of the coordinator's
 * state against what the job's rooms were last sent, computed whenever the coordinator's
 * hooks ring (jobSignals) and on a slow tick, so nothing is missed and nothing repeats.
 * The feed is read-only: controls go through the owner-only REST routes.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import {
  DASHBOARD_NAMESPACE,
  parseDashboardClientMessage,
  type DashboardClientEvents,
  type DashboardServerEvents,
  type DashboardServerMessage,
} from '../shared/dashboardProtocol.ts';
import { TabswarmError, errorCode } from '../shared/errors.ts';
import type { StepMetrics } from './coordinator.ts';
import { membersMessage, privateView, publicSummary } from './dashboardView.ts';
import type { Job, JobRegistry } from './jobs.ts';
import type { JobSignals } from './jobSignals.ts';
import type { Logger } from './log.ts';
import type { Guards } from './security/guards.ts';

type Sock = Socket<DashboardClientEvents, DashboardServerEvents>;
type Nsp = Namespace<DashboardClientEvents, DashboardServerEvents>;

export interface DashboardFeedDeps {
  jobs: JobRegistry;
  signals: JobSignals;
  log: Logger;
  /** trainable parameter count of a job's model (for busbw) */
  paramCount(job: Job): Promise<number>;
  /** calls fn every ms; returns a cancel function */
  every(ms: number, fn: () => void): () => void;
  /** safety tick for changes no hook reports (default 1000 ms) */
  tickMs?: number;
  /** a socket sending this many invalid messages in a row is disconnected */
  maxInvalid?: number;
  /** at most this many messages per socket per 10 s */
  maxPerWindow?: number;
  /** the same per-IP connection limit as the worker namespace (server/security/guards.ts) */
  guards?: Guards;
}

/** What a job's rooms were last sent. */
interface Cursor {
  job: Job;
  paramCount: number;
  metricsSent: number;
  lastMetric: StepMetrics | null;
  evalPending: StepMetrics[];
  eventsSent: number;
  members: string;
  summary: string;
  subscribers: number;
  stop: () => void;
}

const ownerRoom = (id: string) => `owner:${id}`;
const publicRoom = (id: string) => `public:${id}`;

export function attachDashboardFeed(io: Server, d: DashboardFeedDeps): Nsp {
  const nsp = io.of(DASHBOARD_NAMESPACE) as unknown as Nsp;
  const cursors = new Map<string, Cursor>();

  const toOwners = (c: Cursor, m: DashboardServerMessage) => nsp.to(ownerRoom(c.job.id)).emit('msg', m);

  function isEvalStep(c: Cursor, m: StepMetrics) {
    const k = c.job.spec.evalEvery;
    return k > 0 && (m.step + 1) % k === 0;
  }

  /**
   * A view that cannot be computed (a bug, a job in a state nobody foresaw) must not take the
   * process down: the error is logged with the job, its subscribers told, the cursor dropped.
   */
  function safeFlush(c: Cursor) {
    try {
      flush(c);
    } catch (e) {
      d.log('error', 'dashboard feed failed: subscribers of the job disconnected', { jobId: c.job.id, err: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      c.stop();
      cursors.delete(c.job.id);
      const rooms = [ownerRoom(c.job.id), publicRoom(c.job.id)];
      nsp.to(rooms).emit('msg', { type: 'error', code: 'INTERNAL', message: 'the live view of this job failed; reload to try again' });
      nsp.in(rooms).disconnectSockets(true);
    }
  }

  /** Sends the job's rooms whatever changed since the last flush. Synchronous. */
  function flush(c: Cursor) {
    const co = c.job.coordinator;
    const ms = co.metrics;
    if (ms.length < c.metricsSent || (c.lastMetric && ms[c.metricsSent - 1] !== c.lastMetric)) {
      // rolled back to a checkpoint: the owners start over from a fresh snapshot
      sendSnapshot(c, nsp.to(ownerRoom(c.job.id)), true);
      return;
    }
    for (const p of c.evalPending.filter((x) => x.testAccuracy !== undefined)) {
      toOwners(c, { type: 'eval', step: p.step, testAccuracy: p.testAccuracy!, ...(p.testMae === undefined ? {} : { testMae: p.testMae, testRmse: p.testRmse! }) });
    }
    c.evalPending = c.evalPending.filter((x) => x.testAccuracy === undefined).slice(-20);
    if (ms.length > c.metricsSent) {
      const fresh = ms.slice(c.metricsSent);
      toOwners(c, { type: 'metrics', metrics: fresh.map((x) => ({ ...x })) });
      c.evalPending.push(...fresh.filter((x) => x.testAccuracy === undefined && isEvalStep(c, x)));
      c.metricsSent = ms.length;
      c.lastMetric = ms.at(-1) ?? null;
    }
    if (co.eventSeq > c.eventsSent) {
      toOwners(c, { type: 'events', events: co.eventsAfter(c.eventsSent).map((e) => ({ ...e })) });
      c.eventsSent = co.eventSeq;
    }
    const mem = membersMessage(c.job);
    const memJson = JSON.stringify(mem);
    if (memJson !== c.members) {
      toOwners(c, mem);
      c.members = memJson;
    }
    const summary = publicSummary(c.job, c.paramCount);
    const sumJson = JSON.stringify(summary);
    if (sumJson !== c.summary) {
      nsp.to([ownerRoom(c.job.id), publicRoom(c.job.id)]).emit('msg', { type: 'summary', job: summary });
      c.summary = sumJson;
    }
  }

  function cursorFor(job: Job, paramCount: number): Cursor {
    const existing = cursors.get(job.id);
    if (existing) return existing;
    const co = job.coordinator;
    // everything that can throw runs before any timer or listener is registered
    const cur: Cursor = {
      job, paramCount, metricsSent: co.metrics.length, lastMetric: co.metrics.at(-1) ?? null, evalPending: [], eventsSent: co.eventSeq,
      members: JSON.stringify(membersMessage(job)), summary: JSON.stringify(publicSummary(job, paramCount)), subscribers: 0,
      stop: () => {},
    };
    let scheduled = false;
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (cursors.get(job.id) === cur) safeFlush(cur);
      });
    };
    const stopListen = d.signals.listen(job.id, schedule);
    const stopTick = d.every(d.tickMs ?? 1000, schedule);
    cur.stop = () => {
      stopListen();
      stopTick();
    };
    cursors.set(job.id, cur);
    return cur;
  }

  /** Brings the rooms up to date, then sends `to` the whole state as of now. */
  function sendSnapshot(c: Cursor, to: { emit(ev: 'msg', m: DashboardServerMessage): unknown }, owner: boolean) {
    const co = c.job.coordinator;
    // everything up to now goes into the snapshot; the cursor moves past it
    c.metricsSent = co.metrics.length;
    c.lastMetric = co.metrics.at(-1) ?? null;
    c.evalPending = co.metrics.filter((x) => x.testAccuracy === undefined && isEvalStep(c, x)).slice(-20);
    c.eventsSent = co.eventSeq;
    c.members = JSON.stringify(membersMessage(c.job));
    const summary = publicSummary(c.job, c.paramCount);
    c.summary = JSON.stringify(summary);
    to.emit('msg', {
      type: 'snapshot',
      access: owner ? 'owner' : 'public',
      job: summary,
      ...(owner ? { private: privateView(c.job) } : {}),
    });
  }

  nsp.on('connection', (socket: Sock) => {
    const guard = d.guards?.connect(socket.handshake.address) ?? null;
    if (d.guards && !guard) {
      socket.emit('msg', { type: 'error', code: 'RATE_LIMITED', message: 'too many connections from this address' });
      socket.disconnect(true);
      return;
    }
    socket.on('disconnect', () => guard?.release());
    let sub: { cursor: Cursor; owner: boolean } | null = null;
    let invalid = 0;
    let windowStart = Date.now();
    let inWindow = 0;
    const fail = (code: string, message: string) => socket.emit('msg', { type: 'error', code, message });

    const unsubscribe = () => {
      if (!sub) return;
      const { cursor, owner } = sub;
      void socket.leave((owner ? ownerRoom : publicRoom)(cursor.job.id));
      sub = null;
      if (--cursor.subscribers === 0) {
        cursor.stop();
        cursors.delete(cursor.job.id);
      }
    };

    socket.on('msg', (raw: unknown) => {
      const now = Date.now();
      if (now - windowStart > 10_000) {
        windowStart = now;
        inWindow = 0;
      }
      if (++inWindow > (d.maxPerWindow ?? 30)) return fail('RATE_LIMITED', 'too many messages; slow down');
      const parsed = parseDashboardClientMessage(raw);
      if (!parsed.ok) {
        fail(parsed.code, parsed.message);
        if (++invalid >= (d.maxInvalid ?? 20)) socket.disconnect(true);
        return;
      }
      invalid = 0;
      const msg = parsed.value;
      if (msg.type === 'unsubscribe') return unsubscribe();
      void subscribe(msg.jobId, msg.token).catch((e: unknown) => {
        if (!(e instanceof TabswarmError)) d.log('error', 'dashboard subscribe failed', { err: String(e) });
        fail(errorCode(e), e instanceof TabswarmError ? e.message : 'internal error');
      });
    });

    socket.on('disconnect', unsubscribe);

    async function subscribe(jobId: string, token: string | undefined) {
      const job = d.jobs.get(jobId);
      const owner = d.jobs.isOwner(job, token);
      unsubscribe();
      const paramCount = await d.paramCount(job);
      if (socket.disconnected) return;
      const cursor = cursorFor(job, paramCount);
      safeFlush(cursor); // existing subscribers get everything up to now first
      if (cursors.get(job.id) !== cursor) throw new TabswarmError('INTERNAL', 'the live view of this job failed');
      cursor.subscribers++;
      sub = { cursor, owner };
      void socket.join((owner ? ownerRoom : publicRoom)(job.id));
      sendSnapshot(cursor, socket, owner);
      if (token && !owner) fail('UNAUTHORIZED', 'the owner token does not match this job: showing the public view only');
    }
  });

  return nsp;
}
