/**
 * socket.io side of the server. Every incoming message goes through the same gate:
 *
 *   rate limit → schema (shared/protocol.ts) → role (server/messagePolicy.ts) → handler
 *
 * and is answered with a coded error at the first gate it fails. Malformed messages and
 * messages outside the sender's role both spend the socket's violation budget; a socket that
 * spends it is disconnected. Peer ids are assigned here; signaling is relayed only between
 * ring neighbours-to-be and sync pairs (server/security/signalPolicy.ts). A handler that
 * throws something unexpected quarantines its job (coordinator.fail), never the process.
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'socket.io';
import { TabswarmError, errorCode } from '../shared/errors.ts';
import { PROTOCOL_VERSION, parseClientMessage, type ClientMessage, type ClientToServerEvents, type ServerMessage, type ServerToClientEvents } from '../shared/protocol.ts';
import type { Coordinator, Member } from './coordinator.ts';
import type { DropReason } from './memberState.ts';
import type { Job, JobRegistry } from './jobs.ts';
import type { Logger } from './log.ts';
import { authorize } from './messagePolicy.ts';
import type { Guards } from './security/guards.ts';
import type { PenaltyBox } from './security/penaltyBox.ts';
import { createTokenBucket, type BucketSpec } from './security/rateLimit.ts';
import { signalAllowed } from './security/signalPolicy.ts';

type Sock = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface SocketDeps {
  jobs: JobRegistry;
  log: Logger;
  /** ICE servers for a member (STUN/TURN with its own short-lived credentials) */
  iceServers: (peerId: string) => Record<string, unknown>[];
  /** violations a socket may commit (malformed or out-of-role messages) before it is disconnected */
  violations?: BucketSpec;
  /** rate limits (server/security/guards.ts) */
  guards?: Guards;
  /** addresses barred for a while from a job after a costly drop (server/security/penaltyBox.ts) */
  penalties?: PenaltyBox;
  /** counts every error answered, by code (server/metrics.ts) */
  countError?: (code: string) => void;
  now?: () => number;
}

/** Drops that cost the job something: the address waits before it may join again. */
const PENALIZED: ReadonlySet<DropReason> = new Set(['sync-failed', 'evicted', 'violations']);

/** Honest workers cross an abort now and then (counted as nothing) and never send garbage. */
export const DEFAULT_VIOLATIONS: BucketSpec = { burst: 20, perSec: 0.2 };

type Handler<T extends ClientMessage['type']> = (c: Coordinator, m: Member, msg: Extract<ClientMessage, { type: T }>, ctx: { socket: Sock }) => void;

/** What each message does once its sender's role is checked. */
const HANDLERS: { [T in Exclude<ClientMessage['type'], 'join'>]: Handler<T> } = {
  ready: (c, m, msg) => c.ready(m.id, msg.info, msg.samplesPerSec),
  signal: (c, m, msg) => {
    const to = c.members.get(msg.to);
    if (!to || !signalAllowed(c, m, to)) throw new TabswarmError('UNKNOWN_PEER', `no peer ${msg.to} in this job's ring`);
    to.handle.send({ type: 'signal', from: m.id, data: msg.data });
  },
  computed: (c, m, msg) => c.computed(m.id, msg.step, msg.epoch),
  reduced: (c, m, msg) => c.reduced(m.id, msg),
  'step-failed': (c, m, msg) => c.stepFailed(m.id, msg.step, msg.epoch, msg.code, msg.message, msg.suspect),
  eval: (c, m, msg) => c.evaluated(m.id, msg.step, msg.correct, msg.count, { absErr: msg.absErr, sqErr: msg.sqErr }),
  'sync-sent': (c, m, msg) => c.syncSent(m.id, msg.step, msg.to, msg.paramHash),
  synced: (c, m, msg) => c.synced(m.id, msg.step, msg.paramHash),
  'param-hash': (c, m, msg) => c.paramHashVote(m.id, msg.step, msg.paramHash),
  final: (c, m, msg) => c.final(m.id, msg),
  heartbeat: (c, m, msg) => {
    // the link table shows only the member's real next rank
    const ring = c.ring;
    const i = ring.indexOf(m.id);
    if (msg.link && i >= 0 && ring[(i + 1) % ring.length] === msg.link.peer) {
      m.link = { ...msg.link };
      // counts only for the sender's own link (server/ringOrder.ts bounds what a liar can do)
      c.ringPlanner.links.report(m.id, msg.link.peer, msg.link);
    }
  },
  shards: (c, m, msg) => c.shardsHeld(m.id, msg.held),
  'unit-failed': (c, m, msg) => c.prediction?.unitFailed(m.id, msg.unit, msg.code, msg.message),
  leave: (c, m, _msg, { socket }) => {
    c.remove(m.id, 'left');
    // The server closes the socket: a client that disconnected at once could lose its 'leave'.
    setImmediate(() => socket.disconnect(true));
  },
};

export function attachSockets(io: Server<ClientToServerEvents, ServerToClientEvents>, d: SocketDeps) {
  const now = d.now ?? Date.now;
  io.on('connection', (socket: Sock) => {
    let job: Job | null = null;
    let peerId: string | null = null;
    const budget = createTokenBucket(d.violations ?? DEFAULT_VIOLATIONS, now);
    const send = (m: ServerMessage) => socket.emit('msg', m);
    const fail = (code: string, message: string) => {
      d.countError?.(code);
      send({ type: 'error', code, message });
    };
    const guard = d.guards?.connect(socket.handshake.address) ?? null;
    if (d.guards && !guard) {
      fail('RATE_LIMITED', 'too many connections from this address');
      socket.disconnect(true);
      return;
    }
    /** answered, and counted against the socket when `counts` */
    const refuse = (code: string, message: string, counts = true) => {
      fail(code, message);
      if (!counts || budget.take()) return;
      fail('TOO_MANY_VIOLATIONS', 'too many malformed or out-of-role messages: disconnected');
      if (job && peerId) job.coordinator.guarded('a disconnect', () => job!.coordinator.remove(peerId!, 'violations'));
      socket.disconnect(true);
    };
    // events nobody listens for (on this namespace) are answered too, and count as garbage;
    // socket.io itself keeps a no-op listener for 'error', which a client can send too
    socket.onAny((event: unknown) => {
      if (typeof event !== 'string' || event === 'error' || (socket as unknown as Socket).listeners(event).length === 0) refuse('BAD_REQUEST', `unknown event ${String(event).slice(0, 40)}`);
    });

    socket.on('msg', (raw: unknown) => {
      if (guard && !guard.message()) return refuse('RATE_LIMITED', 'too many messages: slow down');
      const parsed = parseClientMessage(raw);
      if (!parsed.ok) return refuse(parsed.code, parsed.message);
      const msg = parsed.value;
      if (msg.type === 'join') return safely(msg, () => join(msg));
      const c = job?.coordinator;
      const m = c && peerId ? (c.members.get(peerId) ?? null) : null;
      if (c && m) c.touch(m.id);
      const verdict = c ? authorize(c, m, msg) : { code: 'NOT_A_MEMBER', message: 'join a job first', counts: true };
      if (verdict) return refuse(verdict.code, verdict.message, verdict.counts);
      if (msg.type === 'signal' && guard && !guard.signal()) return refuse('RATE_LIMITED', 'too much signaling: slow down', false);
      safely(msg, () => (HANDLERS[msg.type] as Handler<typeof msg.type>)(c!, m!, msg as never, { socket }));
    });

    socket.on('disconnect', (reason) => {
      guard?.release();
      const j = job;
      if (j && peerId) {
        d.log('info', 'member disconnected', { jobId: j.id, peerId, reason });
        j.coordinator.guarded('a disconnect', () => j.coordinator.remove(peerId!, 'disconnect'));
      }
    });

    /** Coded errors go back to the sender; anything else quarantines the job, not the process. */
    function safely(msg: ClientMessage, fn: () => void) {
      try {
        fn();
      } catch (e) {
        if (e instanceof TabswarmError) return fail(e.code, e.detail);
        d.log('error', 'socket handler failed: job quarantined', { jobId: job?.id, err: e instanceof Error ? (e.stack ?? e.message) : String(e), type: msg.type });
        job?.coordinator.fail(`internal error handling '${msg.type}': ${e instanceof Error ? e.message : String(e)}`, e);
        fail(errorCode(e), 'internal error');
      }
    }

    function join(msg: Extract<ClientMessage, { type: 'join' }>) {
      if (msg.protocol !== PROTOCOL_VERSION) throw new TabswarmError('PROTOCOL_MISMATCH', `server speaks protocol ${PROTOCOL_VERSION}, client ${msg.protocol}`);
      if (job) return refuse('REPLAYED', 'already joined');
      if (guard && !guard.join()) throw new TabswarmError('RATE_LIMITED', 'too many joins from this address; try again later');
      const j = d.jobs.get(msg.jobId);
      const ip = guard?.ip ?? socket.handshake.address;
      const wait = d.penalties?.barredFor(ip, j.id) ?? 0;
      if (wait > 0) throw new TabswarmError('RATE_LIMITED', `a member from this address was dropped from job ${j.id} for what it did: wait ${Math.ceil(wait / 1000)} s`);
      const st = j.coordinator.status;
      if (st === 'done' || st === 'stopped') throw new TabswarmError('JOB_FINISHED', `job ${j.id} is ${st}`);
      if (st === 'failed') throw new TabswarmError('JOB_FAILED', `job ${j.id} failed: ${j.coordinator.failure ?? 'internal error'}`);
      job = j;
      const id = randomBytes(6).toString('base64url');
      peerId = id;
      j.coordinator.join(id, {
        send,
        disconnect: (reason, cause) => {
          if (cause && PENALIZED.has(cause)) d.penalties?.penalize(ip, j.id);
          fail('DROPPED', reason);
          socket.disconnect(true);
        },
      });
      d.log('info', 'member joined', { jobId: j.id, peerId: id });
      send({ type: 'welcome', protocol: PROTOCOL_VERSION, peerId: id, jobId: j.id, spec: j.spec, iceServers: d.iceServers(id), heartbeatMs: j.coordinator.options.heartbeatMs });
    }
  });
}

