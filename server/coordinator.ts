/**
 * The coordinator of one job: membership, ring epochs, joins and the synchronous step.
 *
 * open step s on epoch e with slices → every ring member reports reduced(s, e, hash)
 * → all hashes equal: broadcast commit(s) → next step. A member that goes away (disconnect,
 * missed heartbeats, a neighbour's link report, the step deadline) aborts the open step; the
 * next epoch's ring leaves it out and the same global batch is re-sliced among the
 * survivors, so faults never change what a step trains on. Joiners are admitted at a step
 * boundary after an exact state sync from a rotating donor, or from the last checkpoint.
 */
import { planSlices, type Slice } from '../shared/batchPlan.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import type { ClientMessage, ServerMessage, WorkerInfo } from '../shared/protocol.ts';
import { hashFloat32 } from '../shared/hash.ts';
import { decodeState } from '../shared/stateCodec.ts';
import { DEFAULT_DEADLINE, stepDeadlineMs, type DeadlineOptions } from './deadline.ts';
import { isGone, transition, type DropReason, type MemberEvent, type MemberState } from './memberState.ts';

export type JobStatus = 'waiting' | 'running' | 'paused' | 'done' | 'stopped';

export interface MemberHandle {
  send(m: ServerMessage): void;
  disconnect(reason: string): void;
}

export interface Member {
  id: string;
  state: MemberState;
  handle: MemberHandle;
  joinedAt: number;
  lastSeen: number;
  info: WorkerInfo | null;
  samplesPerSec: number;
  samplesDone: number;
  stepsDone: number;
  lastParamHash: string | null;
  final: { paramHash: string; testAccuracy: number | null } | null;
  reason: string | null;
  /** the member's link to its next rank, as it last reported */
  link: { peer: string; rttMs: number | null; relayed: boolean | null } | null;
}

export interface StepMetrics {
  step: number;
  epoch: number;
  members: number;
  loss: number;
  accuracy: number;
  samples: number;
  stepMs: number;
  computeMs: number;
  allreduceMs: number;
  at: number;
  testAccuracy?: number;
}

export interface JobEvent {
  at: number;
  kind: 'join' | 'active' | 'leave' | 'drop' | 'epoch' | 'abort' | 'sync' | 'rollback' | 'checkpoint' | 'done' | 'status';
  peerId?: string;
  detail: string;
}

export interface Checkpoint {
  step: number;
  paramHash: string;
  state: Uint8Array<ArrayBuffer>;
}

export interface CoordinatorOptions {
  /** extra time the first step of a new ring gets: its members open WebRTC links first */
  ringFormationMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  syncTimeoutMs: number;
  deadline: DeadlineOptions;
}

export const DEFAULT_COORDINATOR_OPTIONS: CoordinatorOptions = { ringFormationMs: 20_000, heartbeatMs: 2_000, heartbeatTimeoutMs: 10_000, syncTimeoutMs: 30_000, deadline: DEFAULT_DEADLINE };

export interface CoordinatorDeps {
  now: () => number;
  /** calls fn every ms; returns a cancel function */
  every: (ms: number, fn: () => void) => () => void;
  options?: Partial<CoordinatorOptions>;
  onEvent?: (e: JobEvent) => void;
  onMetrics?: (m: StepMetrics) => void;
  onCheckpoint?: (c: Checkpoint) => void;
  onRollback?: (toStep: number) => void;
  onParams?: (step: number, paramHash: string, params: Float32Array) => void;
  /** a restarted server hands back the job's last checkpoint */
  restore?: { checkpoint: Checkpoint | null; metrics: StepMetrics[] };
}

type Reduced = Extract<ClientMessage, { type: 'reduced' }>;

interface OpenStep {
  step: number;
  epoch: number;
  ring: string[];
  slices: Slice[];
  openedAt: number;
  deadlineAt: number;
  computed: Set<string>;
  reports: Map<string, Reduced>;
}

interface Sync {
  joiner: string;
  donor: string | 'server';
  step: number;
  startedAt: number;
  donorHash: string | null;
  joinerHash: string | null;
}

export class Coordinator {
  status: JobStatus = 'waiting';
  /** the next step to run = number of committed steps */
  step = 0;
  epoch = 0;
  ring: string[] = [];
  readonly members = new Map<string, Member>();
  metrics: StepMetrics[] = [];
  readonly events: JobEvent[] = [];
  checkpoint: Checkpoint | null = null;
  finalParams: { step: number; paramHash: string; params: Float32Array } | null = null;
  readonly options: CoordinatorOptions;
  private open: OpenStep | null = null;
  private cpRound: { step: number; voters: Set<string>; votes: Map<string, string>; upload: Checkpoint | null; uploader: string } | null = null;
  private cpCursor = 0;
  private finalCandidate: { step: number; paramHash: string; params: Float32Array } | null = null;
  private syncs = new Map<string, Sync>();
  private donorCursor = 0;
  private stepTimes: number[] = [];
  private lastCommitHash: string | null = null;
  private cancelTick: () => void;
  /** applied from the next opened step on, by every replica alike */
  learningRate: number;

  constructor(
    readonly jobId: string,
    readonly spec: JobSpec,
    private readonly deps: CoordinatorDeps,
  ) {
    this.options = { ...DEFAULT_COORDINATOR_OPTIONS, ...deps.options };
    this.learningRate = spec.optimizer.learningRate;
    if (deps.restore) {
      this.checkpoint = deps.restore.checkpoint;
      this.metrics = deps.restore.metrics.filter((m) => m.step < (this.checkpoint?.step ?? 0));
      this.step = this.checkpoint?.step ?? 0;
    }
    this.cancelTick = deps.every(Math.max(100, Math.min(1000, this.options.heartbeatMs / 2)), () => this.tick());
  }

  private event(kind: JobEvent['kind'], detail: string, peerId?: string) {
    const e: JobEvent = { at: this.deps.now(), kind, detail, ...(peerId ? { peerId } : {}) };
    this.events.push(e);
    this.deps.onEvent?.(e);
  }

  private move(m: Member, ev: MemberEvent) {
    m.state = transition(m.state, ev);
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
    this.event('join', 'joined', id);
    return m;
  }

  ready(id: string, info: WorkerInfo, samplesPerSec: number) {
    const m = this.members.get(id);
    if (!m || m.state !== 'joining') return;
    m.info = info;
    m.samplesPerSec = samplesPerSec;
    this.move(m, { type: 'ready' });
    this.advance();
  }

  active(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'active').sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1));
  }

  private send(id: string, msg: ServerMessage) {
    this.members.get(id)?.handle.send(msg);
  }

  private activate(m: Member, how: string) {
    this.move(m, { type: 'synced' });
    this.event('active', `active at step ${this.step} on ${m.info?.backend ?? '?'}${m.info?.adapter ? ` (${m.info.adapter})` : ''}; ${how}`, m.id);
  }

  /** Everything that happens at a step boundary: admit joiners, then open the next step. */
  private advance() {
    if (this.open || this.status === 'done' || this.status === 'stopped' || this.status === 'paused') return;
    if (this.step >= this.spec.steps) return this.finish();
    this.startSyncs();
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
    const ring = act.map((m) => m.id);
    const newRing = ring.join() !== this.ring.join();
    if (newRing) {
      this.epoch++;
      this.ring = ring;
      this.event('epoch', `epoch ${this.epoch}: ring ${ring.join(' → ')}`);
    }
    const now = this.deps.now();
    const slices = planSlices(this.spec.batchSize, act.map((m) => ({ peerId: m.id, weight: m.samplesPerSec })));
    this.open = {
      step: this.step, epoch: this.epoch, ring, slices, openedAt: now, deadlineAt: now + stepDeadlineMs(this.stepTimes, this.options.deadline) + (newRing ? this.options.ringFormationMs : 0),
      computed: new Set(), reports: new Map(),
    };
    for (const id of ring) this.send(id, { type: 'step', step: this.step, epoch: this.epoch, ring, slices, learningRate: this.learningRate });
  }

  private startSyncs() {
    const joiners = [...this.members.values()].filter((m) => m.state === 'syncing' && !this.syncs.has(m.id));
    if (joiners.length === 0) return;
    const act = this.active();
    for (const j of joiners) {
      if (this.step === 0) {
        this.activate(j, 'seeded initial weights, no sync needed');
      } else if (act.length > 0) {
        const donor = act[this.donorCursor++ % act.length]!;
        this.syncs.set(j.id, { joiner: j.id, donor: donor.id, step: this.step, startedAt: this.deps.now(), donorHash: null, joinerHash: null });
        this.event('sync', `state of step ${this.step} from ${donor.id}`, j.id);
        this.send(donor.id, { type: 'sync-send', step: this.step, to: j.id });
        this.send(j.id, { type: 'sync-receive', step: this.step, from: donor.id });
      } else {
        this.rollbackToCheckpoint();
        const cp = this.checkpoint;
        if (!cp) {
          this.activate(j, 'no checkpoint: restarting from the seeded initial weights');
        } else {
          this.syncs.set(j.id, { joiner: j.id, donor: 'server', step: cp.step, startedAt: this.deps.now(), donorHash: cp.paramHash, joinerHash: null });
          this.event('sync', `state of step ${cp.step} from the server's checkpoint`, j.id);
          this.send(j.id, { type: 'sync-state', step: cp.step, state: cp.state });
        }
        act.push(...this.active());
      }
    }
  }

  /** With nobody left holding the state, training continues from the last checkpoint. */
  private rollbackToCheckpoint() {
    const to = this.checkpoint?.step ?? 0;
    if (to === this.step) return;
    this.event('rollback', `no member holds step ${this.step}: resuming from ${to === 0 ? 'the initial weights' : `the checkpoint at step ${to}`}`);
    this.step = to;
    this.metrics = this.metrics.filter((m) => m.step < to);
    this.deps.onRollback?.(to);
  }

  /** The other end of a running state sync (donor of a joiner, or a joiner of a donor). */
  syncPartners(id: string): string[] {
    const out: string[] = [];
    for (const s of this.syncs.values()) {
      if (s.joiner === id && s.donor !== 'server') out.push(s.donor);
      if (s.donor === id) out.push(s.joiner);
    }
    return out;
  }

  syncSent(id: string, step: number, to: string, paramHash: string) {
    const s = this.syncs.get(to);
    if (!s || s.donor !== id || s.step !== step) return;
    s.donorHash = paramHash;
    this.checkSync(s);
  }

  synced(id: string, step: number, paramHash: string) {
    const s = this.syncs.get(id);
    if (!s || s.step !== step) return;
    s.joinerHash = paramHash;
    this.checkSync(s);
  }

  private checkSync(s: Sync) {
    if (!s.donorHash || !s.joinerHash) return;
    this.syncs.delete(s.joiner);
    const j = this.members.get(s.joiner)!;
    if (s.donorHash !== s.joinerHash) {
      this.remove(j.id, 'sync-failed');
      return;
    }
    this.activate(j, `synced from ${s.donor === 'server' ? 'checkpoint' : s.donor} (hash ${s.joinerHash})`);
    this.advance();
  }

  computed(id: string, step: number, epoch: number) {
    if (this.open && this.open.step === step && this.open.epoch === epoch) this.open.computed.add(id);
  }

  reduced(id: string, r: Reduced) {
    const o = this.open;
    if (!o || r.step !== o.step || r.epoch !== o.epoch || !o.ring.includes(id)) return;
    o.computed.add(id);
    o.reports.set(id, r);
    if (o.reports.size < o.ring.length) return;
    const reports = [...o.reports.values()];
    const hashes = new Set(reports.map((x) => x.hash));
    const paramHashes = new Set(reports.map((x) => x.paramHash));
    if (hashes.size !== 1 || paramHashes.size !== 1) return this.disagreement(o);
    const first = reports[0]!;
    const now = this.deps.now();
    this.open = null;
    for (const [pid, x] of o.reports) {
      const m = this.members.get(pid);
      if (!m) continue;
      const slice = o.slices.find((s) => s.peerId === pid)!;
      m.samplesDone += slice.count;
      m.stepsDone++;
      m.lastParamHash = x.paramHash;
      if (x.computeMs > 0 && slice.count > 0) {
        const sps = (slice.count / x.computeMs) * 1000;
        m.samplesPerSec = m.samplesPerSec > 0 ? 0.7 * m.samplesPerSec + 0.3 * sps : sps;
      }
    }
    this.lastCommitHash = first.paramHash;
    const evalStep = this.spec.evalEvery > 0 && (o.step + 1) % this.spec.evalEvery === 0;
    o.ring.forEach((id, i) => this.send(id, { type: 'commit', step: o.step, epoch: o.epoch, evaluate: evalStep && i === 0 }));
    const m: StepMetrics = {
      step: o.step, epoch: o.epoch, members: o.ring.length,
      loss: first.count > 0 ? first.loss / first.count : 0,
      accuracy: first.count > 0 ? first.correct / first.count : 0,
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
    if (this.step % this.spec.checkpointEvery === 0 && this.step < this.spec.steps) this.askCheckpoint();
    this.advance();
  }

  /**
   * Asks one active member (rotating) for its state at the current boundary and every other
   * one for the hash of its weights there. The upload is kept only when its bytes hash to what
   * it claims and a strict majority of the members holds that hash: one dishonest member
   * cannot plant the checkpoint that rejoiners and a restarted server resume from.
   */
  private askCheckpoint(): boolean {
    const act = this.active();
    if (act.length === 0) return false;
    const uploader = act[this.cpCursor++ % act.length]!;
    this.cpRound = { step: this.step, voters: new Set(act.map((m) => m.id)), votes: new Map(), upload: null, uploader: uploader.id };
    for (const m of act) m.handle.send({ type: 'checkpoint-request', step: this.step, upload: m.id === uploader.id });
    return true;
  }

  paramHashVote(id: string, step: number, paramHash: string) {
    const r = this.cpRound;
    if (!r || r.step !== step || !r.voters.has(id)) return;
    r.votes.set(id, paramHash);
    this.settleCheckpoint();
  }

  checkpointed(id: string, step: number, paramHash: string, state: Uint8Array) {
    const r = this.cpRound;
    if (!r || r.step !== step || r.uploader !== id) return;
    let ok = false;
    try {
      const st = decodeState(state);
      ok = st.step === step && hashFloat32(st.params) === paramHash;
    } catch {
      ok = false;
    }
    if (!ok) {
      this.cpRound = null;
      return this.evict(id, `its checkpoint of step ${step} does not hash to ${paramHash}`);
    }
    r.votes.set(id, paramHash);
    r.upload = { step, paramHash, state: Uint8Array.from(state) };
    this.settleCheckpoint();
  }

  private settleCheckpoint() {
    const r = this.cpRound!;
    const live = [...r.voters].filter((v) => this.members.get(v)?.state === 'active');
    if (r.upload) {
      const agree = [...r.votes.values()].filter((h) => h === r.upload!.paramHash).length;
      if (agree * 2 > live.length) {
        this.cpRound = null;
        if (this.checkpoint && this.checkpoint.step >= r.step) return;
        this.checkpoint = r.upload;
        this.event('checkpoint', `checkpoint of step ${r.step} (hash ${r.upload.paramHash}, ${r.upload.state.byteLength} bytes, ${agree}/${live.length} agree)`, r.uploader);
        this.deps.onCheckpoint?.(this.checkpoint);
        return;
      }
    }
    if (live.every((v) => r.votes.has(v))) {
      this.cpRound = null;
      this.event('checkpoint', `checkpoint of step ${r.step} discarded: no majority for the uploaded weights`);
      if (r.upload) this.evict(r.uploader, `its checkpoint of step ${r.step} differs from the majority`);
    }
  }

  evaluated(id: string, step: number, testAccuracy: number) {
    const m = this.metrics.find((x) => x.step === step);
    if (m && this.ring[0] === id) m.testAccuracy = testAccuracy;
  }

  private abort(reason: string) {
    const o = this.open;
    if (!o) return;
    this.open = null;
    this.event('abort', `step ${o.step} (epoch ${o.epoch}) aborted: ${reason}`);
    for (const id of o.ring) this.send(id, { type: 'abort', step: o.step, epoch: o.epoch, reason });
    this.advance();
  }

  /**
   * Replicas disagree on the reduced vector or on the weights they hold. When a strict
   * majority agrees, the others are evicted (a faulty or dishonest peer) and the step is
   * redone without them; without a majority the step is only redone.
   */
  private disagreement(o: OpenStep) {
    const key = (r: Reduced) => `${r.hash}/${r.paramHash}`;
    const groups = new Map<string, string[]>();
    for (const [id, r] of o.reports) groups.set(key(r), [...(groups.get(key(r)) ?? []), id]);
    const [winner, majority] = [...groups].sort((a, b) => b[1].length - a[1].length)[0]!;
    const detail = [...o.reports].map(([p, r]) => `${p}=${key(r)}`).join(', ');
    if (majority.length * 2 <= o.ring.length) return this.abort(`hash mismatch at step ${o.step} with no majority: ${detail}`);
    const outliers = [...o.reports.keys()].filter((id) => key(o.reports.get(id)!) !== winner);
    this.event('abort', `hash mismatch at step ${o.step}: ${detail}; majority ${winner}`);
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

  stepFailed(id: string, step: number, epoch: number, code: string, message: string, suspect?: string) {
    if (!this.open || this.open.step !== step || this.open.epoch !== epoch) return;
    if (suspect && suspect !== id && this.open.ring.includes(suspect) && code.startsWith('FRAME_')) {
      return this.evict(suspect, `${id} rejected its frames (${code}: ${message})`);
    }
    if (suspect && suspect !== id && this.open.ring.includes(suspect)) {
      this.event('drop', `${id} reports its link to ${suspect} failed (${code}: ${message})`, suspect);
      return this.remove(suspect, 'link-failed');
    }
    this.abort(`${id} reported ${code}: ${message}`);
  }

  /** The member leaves (reason 'left') or is dropped; an open step it is part of is redone without it. */
  remove(id: string | string[], reason: DropReason | 'left') {
    const gone = (Array.isArray(id) ? id : [id]).filter((x) => {
      const m = this.members.get(x);
      return m && !isGone(m.state);
    });
    if (gone.length === 0) return;
    for (const x of gone) {
      const m = this.members.get(x)!;
      this.move(m, reason === 'left' ? { type: 'leave' } : { type: 'drop', reason });
      m.reason = reason;
      if (reason !== 'evicted') this.event(reason === 'left' ? 'leave' : 'drop', reason, x); // evict() logged why
      if (reason !== 'left' && reason !== 'disconnect') m.handle.disconnect(`dropped: ${reason}`);
      this.syncs.delete(x);
      for (const [j, s] of this.syncs) if (s.donor === x) this.syncs.delete(j); // restarts with another donor
    }
    const inStep = gone.filter((x) => this.open?.ring.includes(x));
    if (inStep.length > 0) this.abort(`${inStep.join(', ')} ${reason === 'left' ? 'left' : `dropped (${reason})`}`);
    else this.advance();
  }

  private tick() {
    const now = this.deps.now();
    for (const m of this.members.values()) {
      if (!isGone(m.state) && now - m.lastSeen > this.options.heartbeatTimeoutMs) this.remove(m.id, 'heartbeat-timeout');
    }
    for (const s of [...this.syncs.values()]) {
      if (now - s.startedAt > this.options.syncTimeoutMs) this.remove(s.joiner, 'sync-failed');
    }
    const o = this.open;
    if (o && now > o.deadlineAt) {
      const late = o.ring.filter((id) => !o.computed.has(id));
      if (late.length > 0 && late.length < o.ring.length) this.remove(late, 'step-deadline');
      else if (this.open === o) {
        this.ring = []; // fresh links next time
        this.abort(`step ${o.step} passed its deadline of ${Math.round(o.deadlineAt - o.openedAt)} ms`);
      }
    }
  }

  private finish() {
    if (this.status === 'done') return;
    this.setStatus('done');
    const act = this.active();
    act.forEach((m, i) => m.handle.send({ type: 'done', step: this.step, upload: i === 0 }));
    this.event('done', `finished ${this.step} steps`);
  }

  /** Final weights are served once their bytes hash to what the uploader claims and a strict majority of finals agree. */
  final(id: string, f: Extract<ClientMessage, { type: 'final' }>) {
    const m = this.members.get(id);
    if (!m || this.status !== 'done') return;
    m.final = { paramHash: f.paramHash, testAccuracy: f.testAccuracy };
    if (f.params) {
      const params = new Float32Array(Uint8Array.from(f.params).buffer);
      if (hashFloat32(params) !== f.paramHash) return this.evict(id, 'its final weights do not hash to what it claims');
      this.finalCandidate = { step: f.step, paramHash: f.paramHash, params };
    }
    const c = this.finalCandidate;
    if (!c || this.finalParams) return;
    const live = this.active();
    const agree = live.filter((x) => x.final?.paramHash === c.paramHash).length;
    if (agree * 2 > live.length) {
      this.finalParams = c;
      this.deps.onParams?.(c.step, c.paramHash, c.params);
    }
  }

  /** Hash the replicas agree on for the parameters after the last commit (once finals arrive). */
  committedParamHash(): string | null {
    const counts = new Map<string, number>();
    for (const m of this.members.values()) if (m.final) counts.set(m.final.paramHash, (counts.get(m.final.paramHash) ?? 0) + 1);
    let best: string | null = null;
    for (const [h, c] of counts) if (best === null || c > counts.get(best)!) best = h;
    return best ?? this.lastCommitHash;
  }

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
    if (this.status === 'done' || this.status === 'stopped') return;
    if (this.open) this.abort('job stopped');
    this.setStatus('stopped');
  }

  setLearningRate(lr: number) {
    this.learningRate = lr;
    this.event('status', `learning rate set to ${lr} from step ${this.open ? this.step + 1 : this.step}`);
  }

  /** Asks for the state after the last commit (e.g. for a download); false when nobody can. */
  requestCheckpoint(): boolean {
    return this.askCheckpoint();
  }

  /** Idempotent. */
  destroy() {
    this.cancelTick();
  }
}
