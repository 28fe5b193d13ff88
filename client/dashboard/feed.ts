/**
 * The dashboard's live state for one job, fed by the `/dashboard` socket.io namespace:
 * a snapshot (the whole stored history), then increments. Every server message is validated.
 */
import { io, type Socket } from 'socket.io-client';
import {
  DASHBOARD_NAMESPACE,
  parseDashboardServerMessage,
  type DashboardClientEvents,
  type DashboardServerEvents,
  type DashboardServerMessage,
  type PrivateView,
  type PublicSummary,
} from '../../shared/dashboardProtocol.ts';

export interface JobState {
  access: 'owner' | 'public' | null;
  summary: PublicSummary | null;
  priv: PrivateView | null;
  /** the last feed error (e.g. UNAUTHORIZED for a wrong token) */
  error: { code: string; message: string } | null;
  connected: boolean;
}

export interface Feed {
  state: JobState;
  close(): void;
}

/** Applies one server message to the state; returns what changed. */
export function applyMessage(s: JobState, m: DashboardServerMessage): string {
  switch (m.type) {
    case 'snapshot':
      s.access = m.access;
      s.summary = m.job;
      s.priv = m.private ?? null;
      return 'all';
    case 'summary':
      s.summary = m.job;
      return 'summary';
    case 'metrics': {
      if (!s.priv) return 'none';
      const last = s.priv.metrics.at(-1)?.step ?? -1;
      s.priv.metrics.push(...m.metrics.filter((x) => x.step > last));
      return 'metrics';
    }
    case 'eval': {
      const row = s.priv?.metrics.find((x) => x.step === m.step);
      if (row) {
        row.testAccuracy = m.testAccuracy;
        if (m.testMae !== undefined) Object.assign(row, { testMae: m.testMae, testRmse: m.testRmse });
      }
      return 'metrics';
    }
    case 'events':
      s.priv?.events.push(...m.events);
      return 'events';
    case 'members':
      if (!s.priv) return 'none';
      Object.assign(s.priv, { members: m.members, ring: m.ring, epoch: m.epoch, learningRate: m.learningRate, checkpointStep: m.checkpointStep, hasFinalWeights: m.hasFinalWeights });
      return 'members';
    case 'error':
      s.error = { code: m.code, message: m.message };
      return 'error';
  }
}

export function connectFeed(o: { jobId: string; token: string | null; onChange(s: JobState, what: string): void }): Feed {
  const state: JobState = { access: null, summary: null, priv: null, error: null, connected: false };
  const socket: Socket<DashboardServerEvents, DashboardClientEvents> = io(DASHBOARD_NAMESPACE, { transports: ['websocket'] });
  const subscribe = () => socket.emit('msg', { type: 'subscribe', jobId: o.jobId, ...(o.token ? { token: o.token } : {}) });
  socket.on('connect', () => {
    state.connected = true;
    subscribe(); // again after a reconnect: the snapshot brings back what was missed
    o.onChange(state, 'connection');
  });
  socket.on('disconnect', () => {
    state.connected = false;
    o.onChange(state, 'connection');
  });
  socket.on('msg', (raw: unknown) => {
    const p = parseDashboardServerMessage(raw);
    if (!p.ok) {
      state.error = { code: p.code, message: `malformed feed message: ${p.message}` };
      return o.onChange(state, 'error');
    }
    o.onChange(state, applyMessage(state, p.value));
  });
  return { state, close: () => socket.close() };
}
