/**
 * Over our ~300-line guide: the job's state and its step loop stay in one class so every transition reads in one place; the parts with a job of their own (joins, checkpoints, the end, votes, accusations, the deadline judge) are in server/coordinator/.
 *
 * The coordinator of one job: membership, ring epochs, joins and the synchronous step.
 *
 * open step s on epoch e with slices → every ring member reports reduced(s, e, hash)
 * → all reports equal: broadcast commit(s) → next step. A member that goes away (disconnect,
 * missed heartbeats, the step deadline, a neighbour's report judged on evidence) aborts the
 * open step; the next epoch's ring leaves it out and the same global batch is re-sliced among
 * the survivors, so faults never change what a step trains on. Joiners are admitted at a step
 * boundary after an exact state sync from a rotating donor, or from the last checkpoint.
 *
 * Every message it handles has passed server/messagePolicy.ts (its sender's role), so the
 * handlers here decide what a report means, not whether its sender may make it. Votes on
 * whole weights live in server/votes.ts, accusations in server/accusation.ts.
 */
import { planSlices, type Slice } from '../shared/batchPlan.ts';
import { sliceGranularity } from '../shared/exactness.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import { lossTask, taskMetrics, type LossTask, type TaskMetrics } from '../shared/losses.ts';
import type { ClientMessage, EvalCounts, ServerMessage, WorkerInfo } from '../shared/protocol.ts';
import { Accusation } from './coordinator/accusation.ts';
import { DEFAULT_COORDINATOR_OPTIONS, type Checkpoint, type CoordinatorDeps, type CoordinatorOptions, type JobEvent, type JobStatus, type Member, type MemberHandle, type StepMetrics, type UploadKind } from './coordinator/types.ts';
import { stepDeadlineMs } from './deadline.ts';
import { LinkTable, RingPlanner } from './ringOrder.ts';
import { isGone, transition, type DropReason, type MemberEvent } from './memberState.ts';
import type { PolicyView } from './messagePolicy.ts';
import { JoinSyncs } from './coordinator/syncs.ts';
import { JobEnding } from './coordinator/ending.ts';
import { Evaluation } from './coordinator/evaluation.ts';
import { judgeDeadline, PauseDetector } from './coordinator/judge.ts';
import { CheckpointRounds } from './coordinator/checkpoints.ts';
import type { FinalWeights } from './coordinator/votes.ts';
import { ShardHoldings } from './coordinator/shardHoldings.ts';
import { PredictionRun } from './prediction/run.ts';

export * from './coordinator/types.ts';

/** No claim of speed above this is believed before anything was measured (samples/s). */
const MAX_CLAIMED_SPEED = 1e6;
/** closed steps remembered, so that a report crossing an abort is recognised as late, not hostile */
const RECENT_STEPS = 4;

type Reduced = Extract<ClientMessage, { type: 'reduced' }>;

interface OpenStep {
  step: number;
  epoch: number;
  ring: string[];
  slices: Slice[];
  openedAt: number;
  deadlineAt: number;
  computed: Set<string>;
  /** when the server heard `computed`: the speed it measured, whatever the member claims */
  computedAt: Map<string, number>;
  reports: Map<string, Reduced>;
  reported: Set<string>;
  failed: Set<string>;
}


const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};

export class Coordinator implements PolicyView {
  status: JobStatus = 'waiting';
  /** why the job failed (status 'failed'), or why its weights are not the final ones */
  failure: string | null = null;
  /** the next step to run = number of committed steps */
  step = 0;
  epoch = 0;
  ring: string[] = [];
  readonly members = new Map<string, Member>();
  metrics: StepMetrics[] = [];
  /** the newest `maxEvents` events; `eventSeq` counts every event ever logged */
  readonly events: JobEvent[] = [];
  eventSeq = 0;
  checkpoint: Checkpoint | null = null;
  finalParams: FinalWeights | null = null;
  readonly options: CoordinatorOptions;
  /** a stored dataset's shards each member is believed to hold (absent: a shipped dataset) */
  private readonly holdings: ShardHoldings | null;
  /** applied from the next opened step on, by every replica alike */
  learningRate: number;
  private open: OpenStep | null = null;
  private recent: { step: number; epoch: number; ring: string[] }[] = [];
  private readonly checkpoints: CheckpointRounds;
  private ending: JobEnding | null = null;
  private readonly syncs: JoinSyncs;
  private stepTimes: number[] = [];
  private lastCommitHash: string | null = null;
  /** distributed evaluations of committed steps (server/coordinator/evaluation.ts), the last 16 */
  private evals = new Map<number, Evaluation>();
  private accusation: Accusation | null = null;
  /** link reports (members' heartbeats) and the ring order they lead to */
  readonly ringPlanner = new RingPlanner(new LinkTable());
  private readonly pauses: PauseDetector;
  private uploadSeq = 0;
  private cancelTick: () => void;
  /** a prediction job's units and outputs (server/prediction/run.ts); null for training */
  readonly prediction: PredictionRun | null = null;

  constructor(
    readonly jobId: string,
    readonly spec: JobSpec,
    private readonly deps: CoordinatorDeps,
  ) {
    this.options = { ...DEFAULT_COORDINATOR_OPTIONS, ...deps.options };
    this.holdings = deps.shards ? new ShardHoldings(deps.shards) : null;
    this.learningRate = spec.optimizer.learningRate;
    if (deps.restore) {
      this.checkpoint = deps.restore.checkpoint;
      this.metrics = deps.restore.metrics.filter((m) => m.step < (this.checkpoint?.step ?? 0));
      this.step = this.checkpoint?.step ?? 0;
    }
    this.syncs = new JoinSyncs(this);
    if (spec.kind === 'predict') {
      if (deps.prediction) this.prediction = new PredictionRun(this, deps.prediction);
      else {
        // its weights and output file lived in the process that created it
        this.status = 'failed';
        this.failure = 'a prediction job does not survive a server restart: create it again';
      }
    }
    this.checkpoints = new CheckpointRounds(this, (c) => deps.onCheckpoint?.(c));
    const tickMs = Math.max(100, Math.min(1000, this.options.heartbeatMs / 2));
    this.pauses = new PauseDetector(tickMs, deps.now());
    this.cancelTick = deps.every(tickMs, () => this.guarded('the step timer', () => this.tick()));
  }

  // ── the policy's view (server/messagePolicy.ts) ────────────────────────────────────────

  member(id: string) {
    return this.members.get(id);
  }
  openStep() {
    return this.open;
  }
  recentRing(step: number, epoch: number) {
    return this.recent.find((r) => r.step === step && r.epoch === epoch)?.ring ?? null;
  }
  syncOf(id: string) {
    return this.syncs.of(id);
  }
  predictionUnit(index: number) {
    const u = this.prediction?.book.units[index];
    return u ? { holders: u.holders } : undefined;
  }

  checkpointRound() {
    return this.checkpoints.view();
  }

  evaluation(step: number) {
    const e = this.evals.get(step);
    return e ? { parts: e.parts, answered: new Set(e.reports.keys()) } : undefined;
  }
  finish() {
    const f = this.ending?.round;
    return f ? { step: f.step, finishers: f.finishers, reported: new Set(f.reports.keys()) } : null;
  }

  // ── boundaries ──────────────────────────────────────────────────────────────────────────

  /** Runs `fn`; an exception quarantines this job (status 'failed', reason visible) instead of escaping. */
  guarded<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      this.fail(`internal error in ${what}: ${e instanceof Error ? e.message : String(e)}`, e);
      return undefined;
    }
  }

  /** Quarantines the job: no more steps, members told and let go, the reason in the views. Idempotent. */
  fail(reason: string, err?: unknown) {
    if (this.status === 'failed') return;
    this.open = null;
    this.status = 'failed';
    this.failure = reason;
    try {
      this.event('status', `failed: ${reason}`);
      for (const m of this.members.values()) {
        if (isGone(m.state)) continue;
        m.state = 'dropped';
        m.reason = 'job-failed';
        m.handle.send({ type: 'error', code: 'JOB_FAILED', message: reason });
        m.handle.disconnect(`job failed: ${reason}`);
      }
    } finally {
      this.deps.onFailure?.(reason, err);
    }
  }

  /** @internal (the coordinator's parts) */
  event(kind: JobEvent['kind'], detail: string, peerId?: string) {
    const e: JobEvent = { at: this.deps.now(), kind, detail, ...(peerId ? { peerId } : {}) };
    this.events.push(e);
    this.eventSeq++;
    if (this.events.length > this.options.maxEvents) this.events.splice(0, this.events.length - this.options.maxEvents);
    this.deps.onEvent?.(e);
  }

  /** History from the store (a restart): appended without ringing the hooks. */
  loadEvents(events: JobEvent[]) {
    this.events.push(...events);
    this.eventSeq += events.length;
    if (this.events.length > this.options.maxEvents) this.events.splice(0, this.events.length - this.options.maxEvents);
  }

  /** Events logged after the first `seq` (as counted by `eventSeq`), as far as memory reaches back. */
  eventsAfter(seq: number): JobEvent[] {
    const n = Math.min(this.events.length, Math.max(0, this.eventSeq - seq));
    return n === 0 ? [] : this.events.slice(-n);
  }

  private move(m: Member, ev: MemberEvent) {
    m.state = transition(m.state, ev);
  }

  // ── membership ─────────────────────────────────────────────────────────────────────────

  /** A member's report of the shards its cache holds (only ever narrows what it is believed to hold). */
  shardsHeld(id: string, held: readonly number[]) {
    this.holdings?.report(id, held);
  }

  /** Each member's ranges of test samples in shards it holds (a stored dataset), else null: equal parts. */
  evalParts(ids: readonly string[]): ReadonlyMap<string, [number, number][]> | null {
    return this.holdings?.evalParts(ids) ?? null;
  }

  /** Any message from a member counts as a heartbeat. */
  touch(id: string) {
    const m = this.members.get(id);
    if (m) m.lastSeen = this.deps.now();
  }

  join(id: string, handle: MemberHandle): Member {
    const now = this.deps.now();
    const m: Member = {
      id, state: 'joining', handle, joinedAt: now, lastSeen: now, info: null, samplesPerSec: 0,
      samplesDone: 0, stepsDone: 0, lastParamHash: null, final: null, reason: null, link: null,
    };
    this.members.set(id, m);
    this.forgetOldMembers();
    this.event('join', 'joined', id);
    return m;
  }

  /** Bounded memory: only the newest `maxGoneMembers` members that are gone stay listed. */
  private forgetOldMembers() {
    let gone = 0;
    for (const m of this.members.values()) if (isGone(m.state)) gone++;
    for (const [id, m] of this.members) {
      if (gone <= this.options.maxGoneMembers) break;
      if (isGone(m.state)) {
        this.members.delete(id);
        gone--;
      }
    }
  }

  ready(id: string, info: WorkerInfo, samplesPerSec: number) {
    const m = this.members.get(id);
    if (!m || m.state !== 'joining') return;
    m.info = info;
    // a claim is only a claim: at most 4× the median of what the others hold, until measured
    const others = [...this.members.values()].filter((x) => x !== m && !isGone(x.state) && x.samplesPerSec > 0).map((x) => x.samplesPerSec);
    const cap = others.length > 0 ? 4 * median(others) : MAX_CLAIMED_SPEED;
    m.samplesPerSec = Math.min(samplesPerSec, cap, MAX_CLAIMED_SPEED);
    this.move(m, { type: 'ready' });
    this.advance();
  }

  active(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'active').sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1));
  }

  /** @internal */
  readonly alive = (id: string) => this.members.get(id)?.state === 'active';
  /** @internal */
  readonly now = () => this.deps.now();

  /** @internal */
  send(id: string, msg: ServerMessage) {
    this.members.get(id)?.handle.send(msg);
  }

  /** @internal */
  activate(m: Member, how: string) {
    this.move(m, { type: 'synced' });
    this.event('active', `active at step ${this.step} on ${m.info?.backend ?? '?'}${m.info?.adapter ? ` (${m.info.adapter})` : ''}; ${how}`, m.id);
  }

  /** @internal */
  uploadId(peerId: string, kind: UploadKind, step: number): string {
    return this.deps.offerUpload?.({ peerId, kind, step }) ?? `u${String(++this.uploadSeq).padStart(31, '0')}`;
  }

  // ── the step loop ──────────────────────────────────────────────────────────────────────

  private stopped() {
    return this.status === 'done' || this.status === 'stopped' || this.status === 'failed';
  }

  /** Everything that happens at a step boundary: admit joiners, then open the next step. */
  /** @internal */
  advance() {
    if (this.prediction) return this.prediction.advance();
    if (this.open || this.stopped() || this.status === 'paused' || this.accusation) return;
    if (this.step >= this.spec.steps) return this.finishJob();
    this.syncs.start();
    if (this.syncs.size > 0) return; // hold the boundary until joiners hold the same state
    const act = this.active();
    if (act.length === 0) {
      if (this.status === 'running') {
        this.setStatus('waiting');
        this.event('status', `no active members: paused at step ${this.step} until one joins`);
      }
      return;
    }
    if (this.status === 'waiting' && this.step === 0 && act.length < this.spec.minWorkers) return;
    if (this.status === 'waiting') this.setStatus('running');
    // ordered so that its slowest link is as fast as it can be (server/ringOrder.ts)
    const { ring, why } = this.ringPlanner.next(act.map((m) => m.id), this.ring, this.step);
    const newRing = ring.join() !== this.ring.join();
    if (newRing) {
      this.epoch++;
      this.ring = ring;
      this.event('epoch', `epoch ${this.epoch}: ring ${ring.join(' → ')}${why ? `; ${why}` : ''}`);
    }
    const now = this.deps.now();
    // with batch statistics, slices are cut on ghost-batch boundaries (shared/exactness.ts)
    // a stored dataset: each member gets, where it can, the part of the batch in shards it holds
    const weights = act.map((m) => ({ peerId: m.id, weight: m.samplesPerSec }));
    const granularity = sliceGranularity(this.spec);
    const slices = this.holdings
      ? this.holdings.cut(this.step, weights, granularity, (id) => !isGone(this.members.get(id)?.state ?? 'left'))
      : planSlices(this.spec.batchSize, weights, { granularity });
    this.open = {
      step: this.step, epoch: this.epoch, ring, slices, openedAt: now,
      deadlineAt: now + stepDeadlineMs(this.stepTimes, this.options.deadline) + (newRing ? this.options.ringFormationMs : 0),
      computed: new Set(), computedAt: new Map(), reports: new Map(), reported: new Set(), failed: new Set(),
    };
    for (const id of ring) this.send(id, { type: 'step', step: this.step, epoch: this.epoch, ring, slices, learningRate: this.learningRate });
  }

  private close(o: OpenStep) {
    if (this.open === o) this.open = null;
    this.recent.push({ step: o.step, epoch: o.epoch, ring: o.ring });
    if (this.recent.length > RECENT_STEPS) this.recent.shift();
  }

  computed(id: string, step: number, epoch: number) {
    const o = this.open;
    if (!o || o.step !== step || o.epoch !== epoch || !o.ring.includes(id)) return;
    o.computed.add(id);
    if (!o.computedAt.has(id)) o.computedAt.set(id, this.deps.now());
  }

  reduced(id: string, r: Reduced) {
    const o = this.open;
    if (!o || r.step !== o.step || r.epoch !== o.epoch || !o.ring.includes(id) || o.reported.has(id)) return;
    this.computed(id, r.step, r.epoch);
    o.reports.set(id, r);
    o.reported.add(id);
    if (o.reports.size < o.ring.length) return;
    const reports = [...o.reports.values()];
    // the loss, correct and count slots are part of the reduced vector every rank holds: they
    // must agree as exactly as its hash, so one reporter cannot set the job's metrics
    if (new Set(reports.map(reportKey)).size !== 1) return this.disagreement(o);
    const first = reports[0]!;
    if (!(first.correct <= first.count)) return this.abort(`step ${o.step}: reported ${first.correct} correct of ${first.count} samples`);
    const now = this.deps.now();
    this.close(o);
    for (const [pid, x] of o.reports) {
      const m = this.members.get(pid);
      if (!m) continue;
      const slice = o.slices.find((s) => s.peerId === pid)!;
      m.samplesDone += slice.count;
      m.stepsDone++;
      m.lastParamHash = x.paramHash;
      // speed as the server saw it: from the step's opening to the member's `computed`
      const ms = (o.computedAt.get(pid) ?? now) - o.openedAt;
      if (ms > 0 && slice.count > 0) {
        this.holdings?.observe(pid, ms);
        const sps = Math.min((slice.count / ms) * 1000, MAX_CLAIMED_SPEED);
        m.samplesPerSec = m.samplesPerSec > 0 ? 0.7 * m.samplesPerSec + 0.3 * sps : sps;
      }
    }
    this.lastCommitHash = first.paramHash;
    const evalStep = this.spec.evalEvery > 0 && (o.step + 1) % this.spec.evalEvery === 0;
    const ev = evalStep ? new Evaluation(o.ring, this.evalParts(o.ring)) : null;
    if (ev) {
      this.evals.set(o.step, ev);
      for (const s of this.evals.keys()) if (this.evals.size > 16) this.evals.delete(s);
    }
    for (const rid of o.ring) this.send(rid, { type: 'commit', step: o.step, epoch: o.epoch, evalPart: ev?.partOf(rid) ?? null });
    const m: StepMetrics = {
      step: o.step, epoch: o.epoch, members: o.ring.length,
      loss: first.count > 0 ? first.loss / first.count : 0,
      accuracy: first.count > 0 ? first.correct / first.count : 0,
      ...(this.task === 'regression' && first.count > 0 ? { mae: (first.absErr ?? 0) / first.count, rmse: Math.sqrt((first.sqErr ?? 0) / first.count) } : {}),
      samples: first.count,
      stepMs: now - o.openedAt,
      computeMs: Math.max(...reports.map((x) => x.computeMs)),
      allreduceMs: Math.max(...reports.map((x) => x.allreduceMs)),
      at: now,
    };
    this.metrics.push(m);
    this.stepTimes.push(m.stepMs);
    if (this.stepTimes.length > 100) this.stepTimes.splice(0, this.stepTimes.length - 100);
    this.deps.onMetrics?.(m);
    this.step = o.step + 1;
    if (this.step % this.spec.checkpointEvery === 0 && this.step < this.spec.steps) this.checkpoints.ask(this.step);
    this.advance();
  }

  /** A member's part of a distributed evaluation; the step's test accuracy once every part is in. */
  evaluated(id: string, step: number, correct: number, count: number, errs: Pick<EvalCounts, 'absErr' | 'sqErr'> = {}) {
    const e = this.evals.get(step);
    if (!e || !e.report(id, { correct, count, ...errs })) return;
    const t = e.total();
    const m = this.metrics.find((x) => x.step === step);
    if (!t || !m) return;
    m.testAccuracy = t.count > 0 ? t.correct / t.count : 0;
    if (this.task === 'regression' && t.count > 0) {
      m.testMae = t.absErr / t.count;
      m.testRmse = Math.sqrt(t.sqErr / t.count);
    }
  }

  /** what the job's metrics measure: accuracy (classification, binary) or MAE/RMSE (regression) */
  get task(): LossTask {
    return lossTask(this.spec.loss);
  }

  private abort(reason: string) {
    const o = this.open;
    if (!o) return;
    this.close(o);
    this.event('abort', `step ${o.step} (epoch ${o.epoch}) aborted: ${reason}`);
    for (const id of o.ring) this.send(id, { type: 'abort', step: o.step, epoch: o.epoch, reason });
    this.advance();
  }

  /**
   * Replicas disagree on the reduced vector (its hash or its loss/correct/count slots) or on
   * the weights they hold. When a strict majority agrees, the others are evicted (a faulty or
   * dishonest peer) and the step is redone without them; without a majority it is only redone.
   */
  private disagreement(o: OpenStep) {
    const groups = new Map<string, string[]>();
    for (const [id, r] of o.reports) groups.set(reportKey(r), [...(groups.get(reportKey(r)) ?? []), id]);
    const [winner, majority] = [...groups].sort((a, b) => b[1].length - a[1].length)[0]!;
    const detail = [...o.reports].map(([p, r]) => `${p}=${r.hash}/${r.paramHash}`).join(', ');
    if (majority.length * 2 <= o.ring.length) return this.abort(`hash mismatch at step ${o.step} with no majority: ${detail}`);
    const outliers = [...o.reports.keys()].filter((id) => reportKey(o.reports.get(id)!) !== winner);
    this.event('abort', `hash mismatch at step ${o.step}: ${detail}; majority ${winner.split('|').slice(0, 2).join('/')}`);
    this.evict(outliers, `reduced vector or weights differ from the majority at step ${o.step}`);
  }

  /** A peer found faulty: out of the job, reason in the event log; its slice is redone by the others. */
  evict(ids: string | string[], why: string) {
    const list = (Array.isArray(ids) ? ids : [ids]).filter((id) => {
      const m = this.members.get(id);
      return m && !isGone(m.state);
    });
    for (const id of list) this.event('drop', `evicted: ${why}`, id);
    this.remove(list, 'evicted');
  }

  /**
   * A ring member could not finish its part. Without a suspect it leaves the ring itself
   * (it may rejoin): a failure nobody else caused is the reporter's. With a suspect it is an
   * accusation, judged on evidence and never free (server/accusation.ts).
   */
  stepFailed(id: string, step: number, epoch: number, code: string, message: string, suspect?: string) {
    const o = this.open;
    if (!o || o.step !== step || o.epoch !== epoch || !o.ring.includes(id) || o.failed.has(id)) return;
    o.failed.add(id);
    if (!suspect || suspect === id || !o.ring.includes(suspect)) {
      this.event('drop', `reported ${code} in step ${step}: ${message}`, id);
      return this.remove(id, 'step-failed');
    }
    const a = new Accusation(id, suspect, code, message, this.deps.now(), 1.5 * this.options.heartbeatMs);
    if (a.frames) {
      // the suspect sent frames, so it is alive: judged at once
      return this.settleAccusation(a, 'frames');
    }
    this.accusation = a;
    this.abort(`${id} reports its link to ${suspect} failed (${code}: ${message})`);
  }

  /** Links: evidence first (did the suspect go silent or away?), then both leave the ring. */
  private judgeAccusation(now: number) {
    const a = this.accusation;
    if (!a) return;
    const suspect = this.members.get(a.suspect);
    const accuser = this.members.get(a.accuser);
    if (!suspect || isGone(suspect.state) || !accuser || isGone(accuser.state)) {
      this.accusation = null;
      return this.advance();
    }
    if (now < a.judgeAt) return;
    this.accusation = null;
    this.settleAccusation(a, suspect.lastSeen <= a.at ? 'silent' : 'both-alive');
  }

  private settleAccusation(a: Accusation, evidence: 'frames' | 'silent' | 'both-alive') {
    if (evidence === 'silent') {
      this.event('drop', `${a.accuser} reports its link to it failed (${a.code}: ${a.message}), and it has been silent since`, a.suspect);
      return this.remove(a.suspect, 'link-failed');
    }
    if (evidence === 'frames') this.event('drop', `evicted: ${a.accuser} rejected its frames (${a.code}: ${a.message})`, a.suspect);
    else this.event('drop', `${a.accuser} reports its link to it failed (${a.code}: ${a.message}); both still talk to the server`, a.suspect);
    this.event('drop', `accused ${a.suspect}: an accusation costs the accuser its place in the ring (it may rejoin)`, a.accuser);
    const accuser = this.members.get(a.accuser);
    if (accuser && !isGone(accuser.state)) {
      this.move(accuser, { type: 'drop', reason: 'accuser' });
      accuser.reason = 'accuser';
      accuser.handle.disconnect('dropped: you accused a ring neighbour; rejoin to continue');
    }
    this.remove(a.suspect, evidence === 'frames' ? 'evicted' : 'link-failed');
  }

  /** The member leaves (reason 'left') or is dropped; an open step it is part of is redone without it. */
  remove(id: string | string[], reason: DropReason | 'left') {
    const gone = (Array.isArray(id) ? id : [id]).filter((x) => {
      const m = this.members.get(x);
      return m && !isGone(m.state);
    });
    for (const x of gone) {
      const m = this.members.get(x)!;
      this.move(m, reason === 'left' ? { type: 'leave' } : { type: 'drop', reason });
      m.reason = reason;
      if (reason !== 'evicted') this.event(reason === 'left' ? 'leave' : 'drop', reason, x); // evict() logged why
      if (reason !== 'left' && reason !== 'disconnect') m.handle.disconnect(`dropped: ${reason}`, reason);
      this.syncs.forget(x);
      this.ringPlanner.links.forget(x);
    }
    this.forgetOldMembers();
    this.prediction?.membersGone(gone);
    this.checkpoints.settle();
    this.ending?.memberGone();
    const o = this.open;
    const inStep = o ? [...new Set([...gone, ...o.ring.filter((x) => this.members.get(x)?.state !== 'active')])].filter((x) => o.ring.includes(x)) : [];
    if (inStep.length > 0) this.abort(`${inStep.join(', ')} ${reason === 'left' ? 'left' : `dropped (${reason})`}`);
    else if (this.accusation) this.judgeAccusation(this.deps.now());
    else this.advance();
  }

  // ── joins ───────────────────────────────────────────────────────────────────────────────

  /** With nobody left holding the state, training continues from the last checkpoint. */
  /** @internal */
  rollbackToCheckpoint() {
    const to = this.checkpoint?.step ?? 0;
    if (to === this.step) return;
    this.event('rollback', `no member holds step ${this.step}: resuming from ${to === 0 ? 'the initial weights' : `the checkpoint at step ${to}`}`);
    this.step = to;
    this.metrics = this.metrics.filter((m) => m.step < to);
    this.deps.onRollback?.(to);
  }

  /** The other end of a running state sync (donor of a joiner, or a joiner of a donor). */
  syncPartners(id: string): string[] {
    return this.syncs.partners(id);
  }

  syncSent(id: string, step: number, to: string, paramHash: string) {
    this.syncs.sent(id, step, to, paramHash);
  }

  synced(id: string, step: number, paramHash: string) {
    this.syncs.synced(id, step, paramHash);
  }

  // ── checkpoints (server/coordinator/checkpoints.ts) ─────────────────────────────────────

  paramHashVote(id: string, step: number, paramHash: string) {
    this.checkpoints.vote(id, step, paramHash);
  }

  /** The uploader's state arrived (PUT /api/uploads/:id). */
  checkpointUploaded(id: string, step: number, state: Uint8Array) {
    return this.checkpoints.uploaded(id, step, state);
  }

  // ── the end ─────────────────────────────────────────────────────────────────────────────

  private finishJob() {
    if (this.status === 'done') return;
    this.setStatus('done');
    this.event('done', `finished ${this.step} steps`);
    this.ending = new JobEnding(this, this.step, this.active(), (step, hash, params) => this.deps.onParams?.(step, hash, params));
  }

  /** A finisher's report: the hash of its weights after the last step (a vote) and its test accuracy. */
  final(id: string, f: Pick<Extract<ClientMessage, { type: 'final' }>, 'step' | 'paramHash' | 'eval'>) {
    this.ending?.report(id, f.step, f.paramHash, f.eval);
  }

  /** The final weights' test accuracy, scored across the finishers (null until every part is in). */
  finalTestAccuracy(): number | null {
    const t = this.ending?.evaluation.total();
    return t && t.count > 0 && this.task !== 'regression' ? t.correct / t.count : null;
  }

  /** The final weights' test metrics as the task defines them (null fields until every part is in). */
  finalTestMetrics(): TaskMetrics {
    const t = this.ending?.evaluation.total();
    return taskMetrics(this.task, t ?? { correct: 0, count: 0, absErr: 0, sqErr: 0 });
  }

  /** The final weights arrived from the member asked for them (PUT /api/uploads/:id). */
  finalUploaded(id: string, step: number, bytes: Uint8Array) {
    return this.ending?.uploaded(id, step, bytes) ?? false;
  }

  /** Hash the replicas agree on for the parameters after the last commit. */
  committedParamHash(): string | null {
    if (this.finalParams?.source === 'final') return this.finalParams.paramHash;
    return this.lastCommitHash;
  }

  // ── time ────────────────────────────────────────────────────────────────────────────────

  private tick() {
    const now = this.deps.now();
    const gap = this.pauses.tick(now);
    if (gap > 0) {
      // nobody is judged on time the server did not watch: every clock it judges by moves on
      for (const m of this.members.values()) m.lastSeen += gap;
      if (this.open) this.open.deadlineAt += gap;
      this.syncs.postpone(gap);
      this.accusation?.postpone(gap);
      return;
    }
    for (const m of this.members.values()) {
      if (!isGone(m.state) && now - m.lastSeen > this.options.heartbeatTimeoutMs) this.remove(m.id, 'heartbeat-timeout');
    }
    for (const j of this.syncs.overdue(now, this.options.syncTimeoutMs)) this.remove(j, 'sync-failed');
    this.judgeAccusation(now);
    const o = this.open;
    if (!o || now <= o.deadlineAt) return;
    const v = judgeDeadline({ ...o, lastSeen: (id) => this.members.get(id)?.lastSeen ?? 0 }, now, this.options.heartbeatMs);
    if (v.kind === 'drop') return this.remove(v.ids, 'step-deadline');
    if (v.kind === 'wait') return;
    this.ring = []; // fresh links next time
    this.abort(`step ${o.step} passed its deadline of ${Math.round(o.deadlineAt - o.openedAt)} ms`);
  }

  // ── the owner's controls ───────────────────────────────────────────────────────────────

  private setStatus(s: JobStatus) {
    this.status = s;
    this.event('status', s);
  }

  pause() {
    if (this.status === 'running' || this.status === 'waiting') this.setStatus('paused');
  }

  resume() {
    if (this.status === 'paused') {
      this.setStatus(this.step > 0 ? 'running' : 'waiting');
      this.advance();
    }
  }

  stop() {
    if (this.stopped()) return;
    if (this.open) this.abort('job stopped');
    this.setStatus('stopped');
  }

  setLearningRate(lr: number) {
    this.learningRate = lr;
    this.event('status', `learning rate set to ${lr} from step ${this.open ? this.step + 1 : this.step}`);
  }

  /** Asks for the state after the last commit (e.g. for a download); false when nobody can. */
  requestCheckpoint(): boolean {
    if (this.status === 'failed') return false;
    if (this.checkpoints.openStep === this.step) return true;
    return this.checkpoints.ask(this.step);
  }

  /** Idempotent. */
  destroy() {
    this.cancelTick();
    this.prediction?.close();
  }
}

/** What every replica of a step must report alike: its reduced vector and weights, and the vector's bookkeeping slots. */
const reportKey = (r: Reduced) => `${r.hash}|${r.paramHash}|${r.loss}|${r.correct}|${r.count}|${r.absErr ?? 0}|${r.sqErr ?? 0}`;
