/**
 * socket.io side of the server: every incoming message is validated against the shared
 * protocol and answered with a coded error when invalid; peer ids are assigned here;
 * signaling is relayed only between members of the same job's current ring (or a syncing
 * joiner and an active member); rate limits per socket and per IP (server/security/).
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'socket.io';
import { TabswarmError, errorCode } from '../shared/errors.ts';
import { PROTOCOL_VERSION, parseClientMessage, type ClientMessage, type ClientToServerEvents, type ServerMessage, type ServerToClientEvents } from '../shared/protocol.ts';
import { isGone } from './memberState.ts';
import type { Job, JobRegistry } from './jobs.ts';
import type { Logger } from './log.ts';
import type { Guards } from './security/guards.ts';
import { signalAllowed } from './security/signalPolicy.ts';

type Sock = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface SocketDeps {
  jobs: JobRegistry;
  log: Logger;
  iceServers: Record<string, unknown>[];
  /** a socket sending this many invalid messages in a row is disconnected */
  maxInvalid?: number;
  /** rate limits (server/security/guards.ts) */
  guards?: Guards;
}

export function attachSockets(io: Server<ClientToServerEvents, ServerToClientEvents>, d: SocketDeps) {
  io.on('connection', (socket: Sock) => {
    let job: Job | null = null;
    let peerId: string | null = null;
    let invalid = 0;
    const send = (m: ServerMessage) => socket.emit('msg', m);
    const fail = (code: string, message: string) => send({ type: 'error', code, message });
    const guard = d.guards?.connect(socket.handshake.address) ?? null;
    if (d.guards && !guard) {
      fail('RATE_LIMITED', 'too many connections from this address');
      socket.disconnect(true);
      return;
    }
    const rejected = (code: string, message: string) => {
      invalid++;
      fail(code, message);
      if (invalid >= (d.maxInvalid ?? 20)) socket.disconnect(true);
    };
    // events nobody listens for (on this namespace) are answered too, and count as garbage;
    // socket.io itself keeps a no-op listener for 'error', which a client can send too
    socket.onAny((event: unknown) => {
      if (typeof event !== 'string' || event === 'error' || (socket as unknown as Socket).listeners(event).length === 0) rejected('BAD_REQUEST', `unknown event ${String(event).slice(0, 40)}`);
    });

    socket.on('msg', (raw: unknown) => {
      if (guard && !guard.message()) return rejected('RATE_LIMITED', 'too many messages: slow down');
      let parsed: ReturnType<typeof parseClientMessage>;
      try {
        parsed = parseClientMessage(raw);
      } catch {
        parsed = { ok: false, code: 'BAD_REQUEST', message: 'message could not be validated (nested too deeply?)' }; // e.g. a stack overflow in a refinement
      }
      if (!parsed.ok) return rejected(parsed.code, parsed.message);
      invalid = 0;
      if (job && peerId) job.coordinator.touch(peerId);
      try {
        handle(parsed.value);
      } catch (e) {
        if (!(e instanceof TabswarmError)) d.log('error', 'socket handler failed', { err: String(e), type: parsed.value.type });
        fail(errorCode(e), e instanceof TabswarmError ? e.detail : 'internal error');
      }
    });

    socket.on('disconnect', (reason) => {
      guard?.release();
      if (job && peerId) {
        d.log('info', 'member disconnected', { jobId: job.id, peerId, reason });
        job.coordinator.remove(peerId, 'disconnect');
      }
    });

    function member() {
      if (!job || !peerId) throw new TabswarmError('NOT_A_MEMBER', 'join a job first');
      const m = job.coordinator.members.get(peerId);
      if (!m || isGone(m.state)) throw new TabswarmError('NOT_A_MEMBER', 'no longer a member of this job');
      return { c: job.coordinator, m };
    }

    function handle(msg: ClientMessage) {
      switch (msg.type) {
        case 'join': {
          if (msg.protocol !== PROTOCOL_VERSION) throw new TabswarmError('PROTOCOL_MISMATCH', `server speaks protocol ${PROTOCOL_VERSION}, client ${msg.protocol}`);
          if (job) throw new TabswarmError('BAD_REQUEST', 'already joined');
          if (guard && !guard.join()) throw new TabswarmError('RATE_LIMITED', 'too many joins from this address; try again later');
          const j = d.jobs.get(msg.jobId);
          if (j.coordinator.status === 'done' || j.coordinator.status === 'stopped') throw new TabswarmError('JOB_FINISHED', `job ${j.id} is ${j.coordinator.status}`);
          job = j;
          peerId = randomBytes(6).toString('base64url');
          j.coordinator.join(peerId, { send, disconnect: (reason) => { fail('DROPPED', reason); socket.disconnect(true); } });
          d.log('info', 'member joined', { jobId: j.id, peerId });
          send({ type: 'welcome', protocol: PROTOCOL_VERSION, peerId, jobId: j.id, spec: j.spec, iceServers: d.iceServers, heartbeatMs: j.coordinator.options.heartbeatMs });
          return;
        }
        case 'ready': {
          const { c, m } = member();
          c.ready(m.id, msg.info, msg.samplesPerSec);
          return;
        }
        case 'signal': {
          const { c, m } = member();
          if (guard && !guard.signal()) throw new TabswarmError('RATE_LIMITED', 'too much signaling: slow down');
          const to = c.members.get(msg.to);
          // only ring neighbours-to-be and sync pairs (server/security/signalPolicy.ts)
          if (!to || !signalAllowed(c, m, to)) throw new TabswarmError('UNKNOWN_PEER', `no peer ${msg.to} in this job's ring`);
          to.handle.send({ type: 'signal', from: m.id, data: msg.data });
          return;
        }
        case 'reduced': {
          const { c, m } = member();
          c.reduced(m.id, msg);
          return;
        }
        case 'eval': {
          const { c, m } = member();
          c.evaluated(m.id, msg.step, msg.testAccuracy);
          return;
        }
        case 'step-failed': {
          const { c, m } = member();
          c.stepFailed(m.id, msg.step, msg.epoch, msg.code, msg.message, msg.suspect);
          return;
        }
        case 'computed': {
          const { c, m } = member();
          c.computed(m.id, msg.step, msg.epoch);
          return;
        }
        case 'sync-sent': {
          const { c, m } = member();
          c.syncSent(m.id, msg.step, msg.to, msg.paramHash);
          return;
        }
        case 'synced': {
          const { c, m } = member();
          c.synced(m.id, msg.step, msg.paramHash);
          return;
        }
        case 'param-hash': {
          const { c, m } = member();
          c.paramHashVote(m.id, msg.step, msg.paramHash);
          return;
        }
        case 'checkpoint': {
          const { c, m } = member();
          c.checkpointed(m.id, msg.step, msg.paramHash, msg.state);
          return;
        }
        case 'final': {
          const { c, m } = member();
          c.final(m.id, msg);
          return;
        }
        case 'heartbeat': {
          const { m } = member();
          if (msg.link) m.link = { peer: msg.link.peer, rttMs: msg.link.rttMs, relayed: msg.link.relayed };
          return;
        }
        case 'leave': {
          const { c, m } = member();
          c.remove(m.id, 'left');
          // The server closes the socket: a client that disconnected at once could lose its 'leave'.
          setImmediate(() => socket.disconnect(true));
          return;
        }
      }
    }
  });
}
