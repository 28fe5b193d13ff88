/**
 * Who may send what: one table, for every client message type, of the sender's role — its
 * member state, its place in the open step's ring, its part in a sync, a checkpoint round or
 * the end of the job — and the step and epoch the message must be about. Socket handlers ask
 * `authorize` before they touch the coordinator and never re-decide it.
 *
 * A message outside its role is answered with a coded error and counts against the sender
 * (server/sockets.ts disconnects a socket that keeps doing it), except a *late* one: a
 * message about a step that closed a moment ago, from a member of that step's ring, is what
 * an honest worker sends when an abort crosses its report on the wire. It is refused with
 * STALE_STEP but not counted.
 */
import type { ErrorCode } from '../shared/errors.ts';
import type { ClientMessage } from '../shared/protocol.ts';
import type { MemberState } from './memberState.ts';

type Msg<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** What the policy reads of a job; the coordinator provides it. */
export interface PolicyView {
  readonly ring: readonly string[];
  member(id: string): { id: string; state: MemberState } | undefined;
  /** the step now running, if any */
  openStep(): { step: number; epoch: number; ring: readonly string[]; computed: ReadonlySet<string>; reported: ReadonlySet<string>; failed: ReadonlySet<string> } | null;
  /** the ring of a step that closed (committed or aborted) recently, if (step, epoch) is one */
  recentRing(step: number, epoch: number): readonly string[] | null;
  /** the running sync of joiner `id` */
  syncOf(id: string): { donor: string; step: number; joinerReported: boolean; donorReported: boolean } | undefined;
  /** the open checkpoint round */
  checkpointRound(): { step: number; voters: ReadonlySet<string>; voted: ReadonlySet<string>; uploader: string } | null;
  /** who was given a part of the evaluation of committed step `step`, and who answered */
  evaluation(step: number): { parts: ReadonlyMap<string, number>; answered: ReadonlySet<string> } | undefined;
  /** a prediction job's unit `index`: who computes it now (absent: no such unit, or not a prediction job) */
  predictionUnit?(index: number): { holders: ReadonlySet<string> } | undefined;
  /** the job is done and these members trained to its end */
  finish(): { step: number; finishers: ReadonlySet<string>; reported: ReadonlySet<string> } | null;
}

export interface Verdict {
  code: ErrorCode;
  message: string;
  /** counts against the sender (false for an honest race: a report crossing an abort) */
  counts: boolean;
}

const no = (code: ErrorCode, message: string, counts = true): Verdict => ({ code, message, counts });
const isFrameCode = (code: string) => code.startsWith('FRAME_');

/** Reports about the open step: from a ring member of exactly that step and epoch, once. */
function aboutOpenStep(v: PolicyView, id: string, step: number, epoch: number, already: 'computed' | 'reported' | 'failed' | null): Verdict | null {
  const o = v.openStep();
  if (!o || o.step !== step || o.epoch !== epoch) {
    const late = v.recentRing(step, epoch);
    if (late?.includes(id)) return no('STALE_STEP', `step ${step} (epoch ${epoch}) is closed`, false);
    return no('STALE_STEP', o ? `the open step is ${o.step} (epoch ${o.epoch}), not ${step} (epoch ${epoch})` : `no step is open`);
  }
  if (!o.ring.includes(id)) return no('NOT_IN_RING', `not in the ring of step ${step}`);
  if (already && o[already].has(id)) return no('REPLAYED', `already sent ${already === 'reported' ? 'reduced' : already === 'failed' ? 'step-failed' : 'computed'} for step ${step}`);
  return null;
}

type Rule<T extends ClientMessage['type']> = {
  /** who may send it, in words (for the README and error messages) */
  who: string;
  check(v: PolicyView, sender: { id: string; state: MemberState }, msg: Msg<T>): Verdict | null;
};

const activeOnly = (s: { state: MemberState }) => (s.state === 'active' ? null : no('WRONG_STATE', `only an active member may send this (you are ${s.state})`));

export const MESSAGE_POLICY: { [T in Exclude<ClientMessage['type'], 'join'>]: Rule<T> } = {
  ready: {
    who: 'a member that joined and has not reported ready yet',
    check: (_v, s) => (s.state === 'joining' ? null : no('WRONG_STATE', `ready only once, while joining (you are ${s.state})`)),
  },
  signal: {
    // where to is decided by server/security/signalPolicy.ts (ring neighbours, sync pairs)
    who: 'any member still in the job',
    check: () => null,
  },
  computed: {
    who: "a ring member of the open step, once, about that step and epoch",
    check: (v, s, m) => activeOnly(s) ?? aboutOpenStep(v, s.id, m.step, m.epoch, 'computed'),
  },
  reduced: {
    who: 'a ring member of the open step, once, about that step and epoch',
    check: (v, s, m) => activeOnly(s) ?? aboutOpenStep(v, s.id, m.step, m.epoch, 'reported'),
  },
  'step-failed': {
    who: "a ring member of the open step, once; a suspect only the sender's ring neighbour (frames come over ring links only: from the predecessor in the ring, from either neighbour in a latency schedule)",
    check: (v, s, m) => {
      const bad = activeOnly(s) ?? aboutOpenStep(v, s.id, m.step, m.epoch, 'failed');
      if (bad || m.suspect === undefined) return bad;
      const ring = v.openStep()!.ring;
      const n = ring.length;
      const i = ring.indexOf(s.id);
      const prev = ring[(i - 1 + n) % n]!;
      const next = ring[(i + 1) % n]!;
      if (m.suspect === s.id || n < 2) return no('NOT_ALLOWED', 'a member cannot accuse itself');
      // a latency schedule (shared/allreduce/scheduleChoice.ts) exchanges frames with both
      // neighbours; accusing a neighbour of frames still costs the accuser its place
      if (isFrameCode(m.code)) return m.suspect === prev || m.suspect === next ? null : no('NOT_ALLOWED', `frames come only from your ring neighbours ${prev} and ${next}; you cannot reject frames of ${m.suspect}`);
      return m.suspect === prev || m.suspect === next ? null : no('NOT_ALLOWED', `a link report may only name a ring neighbour (${prev} or ${next})`);
    },
  },
  eval: {
    who: 'a ring member given a part of that committed step\'s evaluation, once, no more right answers than samples',
    check: (v, s, m) => {
      const e = v.evaluation(m.step);
      if (!e || !e.parts.has(s.id)) return no('NOT_ALLOWED', `you were not given a part of the evaluation of step ${m.step}`);
      if (m.correct > m.count) return no('NOT_ALLOWED', 'more right answers than samples');
      return e.answered.has(s.id) ? no('REPLAYED', `your part of step ${m.step} is already in`) : null;
    },
  },
  'sync-sent': {
    who: 'the donor of a running sync, about that sync',
    check: (v, s, m) => {
      const sync = v.syncOf(m.to);
      if (!sync || sync.donor !== s.id) return no('NOT_ALLOWED', `you are not donating to ${m.to}`);
      if (sync.step !== m.step) return no('STALE_STEP', `the sync to ${m.to} is of step ${sync.step}`);
      return sync.donorReported ? no('REPLAYED', 'sync already reported') : null;
    },
  },
  synced: {
    who: 'a syncing joiner, about its own sync',
    check: (v, s, m) => {
      if (s.state !== 'syncing') return no('WRONG_STATE', `only a syncing joiner reports synced (you are ${s.state})`);
      const sync = v.syncOf(s.id);
      if (!sync) return no('NOT_ALLOWED', 'no sync is running for you');
      if (sync.step !== m.step) return no('STALE_STEP', `your sync is of step ${sync.step}`);
      return sync.joinerReported ? no('REPLAYED', 'sync already reported') : null;
    },
  },
  'param-hash': {
    who: 'an active member asked to vote in the open checkpoint round, once',
    check: (v, s, m) => {
      const r = v.checkpointRound();
      if (!r || r.step !== m.step) return no('STALE_STEP', `no checkpoint round of step ${m.step} is open`, false);
      if (!r.voters.has(s.id) || r.uploader === s.id) return no('NOT_ALLOWED', `you are not a voter of the checkpoint of step ${m.step}`);
      return r.voted.has(s.id) ? no('REPLAYED', 'already voted') : null;
    },
  },
  final: {
    who: 'a member that trained to the end of a finished job, once, about the last step',
    check: (v, s, m) => {
      if (m.eval && m.eval.correct > m.eval.count) return no('NOT_ALLOWED', 'more right answers than samples');
      const f = v.finish();
      if (!f) return no('WRONG_STATE', 'the job is not finished');
      if (!f.finishers.has(s.id)) return no('NOT_ALLOWED', 'only members that trained to the end report final weights');
      if (m.step !== f.step) return no('STALE_STEP', `the job finished at step ${f.step}`);
      return f.reported.has(s.id) ? no('REPLAYED', 'final already reported') : null;
    },
  },
  'unit-failed': {
    who: 'an active member of a prediction job, about a unit it computes now, once',
    check: (v, s, m) => activeOnly(s) ?? (v.predictionUnit?.(m.unit)?.holders.has(s.id) ? null : no('NOT_ALLOWED', `unit ${m.unit} is not assigned to you`)),
  },
  heartbeat: { who: 'any member still in the job', check: () => null },
  // only ever narrows what the coordinator believes the sender holds (server/coordinator/shardHoldings.ts)
  shards: { who: 'any member still in the job; it only affects its own slices', check: () => null },
  leave: { who: 'any member still in the job', check: () => null },
};

/**
 * null when `sender` may send `msg` now. `sender` is the socket's member (null before it
 * joined, or once it is gone); `join` is the socket layer's business.
 */
export function authorize(v: PolicyView, sender: { id: string; state: MemberState } | null, msg: ClientMessage): Verdict | null {
  if (msg.type === 'join') return null;
  if (!sender) return no('NOT_A_MEMBER', 'join a job first');
  if (sender.state === 'left' || sender.state === 'dropped') return no('NOT_A_MEMBER', 'no longer a member of this job', false);
  const rule = MESSAGE_POLICY[msg.type] as Rule<typeof msg.type>;
  return rule.check(v, sender, msg as never);
}
