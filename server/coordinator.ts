/**
 * The coordinator of one job: membership, ring epochs and the synchronous step.
 *
 * open step s on epoch e with slices → every ring member reports reduced(s, e, hash)
 * → all hashes equal: broadcast commit(s) → next step. A member that goes away aborts the
 * open step; the next epoch's ring leaves it out and the same global batch is re-sliced
 * among the survivors, so faults never change what a step trains on.
 */
import { planSlices, type Slice } from '../shared/batchPlan.ts';
import type { JobSpec } from '../shared/jobSpec.ts';
import type { ClientMessage, ServerMessage, WorkerInfo } from '../shared/protocol.ts';
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
  info: WorkerInfo | null;
  samplesPerSec: number;
  samplesDone: number;
  stepsDone: number;
  lastParamHash: string | null;
  final: { paramHash: string; testAccuracy: number | null } | null;
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
  kind: 'join' | 'active' | 'leave' | 'drop' | 'epoch' | 'abort' | 'done' | 'status';
  peerId?: string;
  detail: string;
}

export interface CoordinatorDeps {
  now: () => number;
  onEvent?: (e: JobEvent) => void;
  onMetrics?: (m: StepMetrics) => void;
  onParams?: (step: number, paramHash: string, params: Float32Array) => void;
}

type Reduced = Extract<ClientMessage, { type: 'reduced' }>;

interface OpenStep {
  step: number;
  epoch: number;
  ring: string[];
  slices: Slice[];
  openedAt: number;
  reports: Map<string, Reduced>;
}

export class Coordinator {
  status: JobStatus = 'waiting';
  /** the next step to run = number of committed steps */
  step = 0;
  epoch = 0;
  ring: string[] = [];
  readonly members = new Map<string, Member>();
  readonly metrics: StepMetrics[] = [];
  readonly events: JobEvent[] = [];
  private open: OpenStep | null = null;
  private lastCommitHash: string | null = null;
  finalParams: { step: number; paramHash: string; params: Float32Array } | null = null;

  constructor(
    readonly jobId: string,
    readonly spec: JobSpec,
    private readonly deps: CoordinatorDeps,
  ) {}

  private event(kind: JobEvent['kind'], detail: string, peerId?: string) {
    const e: JobEvent = { at: this.deps.now(), kind, detail, ...(peerId ? { peerId } : {}) };
    this.events.push(e);
    this.deps.onEvent?.(e);
  }

  private move(m: Member, ev: MemberEvent) {
    m.state = transition(m.state, ev);
  }

  join(id: string, handle: MemberHandle): Member {
    const m: Member = {
      id, state: 'joining', handle, joinedAt: this.deps.now(), info: null, samplesPerSec: 0,
      samplesDone: 0, stepsDone: 0, lastParamHash: null, final: null,
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
    // Before the first commit every replica holds the seeded initial weights: no sync needed.
    if (this.step === 0 && !this.open) {
      this.move(m, { type: 'synced' });
      this.event('active', `active on ${info.backend}${info.adapter ? ` (${info.adapter})` : ''}`, id);
    }
    this.maybeOpen();
  }

  active(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'active').sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1));
  }

  private broadcast(ids: Iterable<string>, msg: ServerMessage) {
    for (const id of ids) this.members.get(id)?.handle.send(msg);
  }

  private maybeOpen() {
    if (this.open || this.status === 'done' || this.status === 'stopped' || this.status === 'paused') return;
    if (this.step >= this.spec.steps) return this.finish();
    const act = this.active();
    if (act.length === 0 || (this.status === 'waiting' && act.length < this.spec.minWorkers)) return;
    if (this.status === 'waiting') this.setStatus('running');
    const ring = act.map((m) => m.id);
    if (ring.join() !== this.ring.join()) {
      this.epoch++;
      this.ring = ring;
      this.event('epoch', `epoch ${this.epoch}: ring ${ring.join(' → ')}`);
    }
    const slices = planSlices(this.spec.batchSize, act.map((m) => ({ peerId: m.id, weight: m.samplesPerSec })));
    this.open = { step: this.step, epoch: this.epoch, ring, slices, openedAt: this.deps.now(), reports: new Map() };
    this.broadcast(ring, { type: 'step', step: this.step, epoch: this.epoch, ring, slices });
  }

  reduced(id: string, r: Reduced) {
    const o = this.open;
    if (!o || r.step !== o.step || r.epoch !== o.epoch || !o.ring.includes(id)) return;
    o.reports.set(id, r);
    if (o.reports.size < o.ring.length) return;
    const reports = [...o.reports.values()];
    const hashes = new Set(reports.map((x) => x.hash));
    const paramHashes = new Set(reports.map((x) => x.paramHash));
    if (hashes.size !== 1 || paramHashes.size !== 1) {
      // Disagreement: someone summed or holds something else. Issue-level handling
      // (eviction) lives with the security work; here the step is aborted and redone.
      return this.abort(`hash mismatch at step ${o.step}: ${[...o.reports].map(([p, x]) => `${p}=${x.hash}`).join(', ')}`);
    }
    const first = reports[0]!;
    const now = this.deps.now();
    this.open = null;
    for (const [pid, x] of o.reports) {
      const m = this.members.get(pid);
      if (m) {
        const slice = o.slices.find((s) => s.peerId === pid)!;
        m.samplesDone += slice.count;
        m.stepsDone++;
        m.lastParamHash = x.paramHash;
        if (x.computeMs > 0) {
          const sps = (slice.count / x.computeMs) * 1000;
          m.samplesPerSec = m.samplesPerSec > 0 ? 0.7 * m.samplesPerSec + 0.3 * sps : sps;
        }
      }
    }
    const evalStep = this.spec.evalEvery > 0 && (o.step + 1) % this.spec.evalEvery === 0;
    this.lastCommitHash = first.paramHash;
    this.broadcast(o.ring, { type: 'commit', step: o.step, epoch: o.epoch, evaluate: false });
    if (evalStep) this.members.get(o.ring[0]!)?.handle.send({ type: 'commit', step: o.step, epoch: o.epoch, evaluate: true });
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
    this.deps.onMetrics?.(m);
    this.step = o.step + 1;
    this.maybeOpen();
  }

  evaluated(id: string, step: number, testAccuracy: number) {
    const m = this.metrics.find((x) => x.step === step);
    if (m && this.ring[0] === id) m.testAccuracy = testAccuracy;
  }

  private abort(reason: string) {
    const o = this.open;
    if (!o) return;
    this.open = null;
    this.event('abort', `step ${o.step} aborted: ${reason}`);
    this.broadcast(o.ring, { type: 'abort', step: o.step, epoch: o.epoch, reason });
    this.maybeOpen();
  }

  stepFailed(id: string, step: number, epoch: number, code: string, message: string) {
    if (this.open && this.open.step === step && this.open.epoch === epoch) this.abort(`${id} reported ${code}: ${message}`);
  }

  /** The member leaves (reason 'left') or is dropped; an open step it is part of is redone without it. */
  remove(id: string, reason: DropReason | 'left') {
    const m = this.members.get(id);
    if (!m || isGone(m.state)) return;
    this.move(m, reason === 'left' ? { type: 'leave' } : { type: 'drop', reason });
    this.event(reason === 'left' ? 'leave' : 'drop', reason, id);
    if (this.open?.ring.includes(id)) this.abort(`${id} ${reason === 'left' ? 'left' : `dropped (${reason})`}`);
    else this.maybeOpen();
  }

  private finish() {
    if (this.status === 'done') return;
    this.setStatus('done');
    const ring = this.ring.filter((id) => this.members.get(id)?.state === 'active');
    ring.forEach((id, i) => this.members.get(id)!.handle.send({ type: 'done', step: this.step, upload: i === 0 }));
    this.event('done', `finished ${this.step} steps`);
  }

  final(id: string, f: Extract<ClientMessage, { type: 'final' }>) {
    const m = this.members.get(id);
    if (!m || this.status !== 'done') return;
    m.final = { paramHash: f.paramHash, testAccuracy: f.testAccuracy };
    if (f.params && f.paramHash === this.committedParamHash()) {
      const copy = new Uint8Array(f.params); // aligned copy
      this.finalParams = { step: f.step, paramHash: f.paramHash, params: new Float32Array(copy.buffer) };
      this.deps.onParams?.(f.step, f.paramHash, this.finalParams.params);
    }
  }

  /** Hash every replica agreed on for the parameters after the last commit (known once finals arrive). */
  committedParamHash(): string | null {
    const finals = [...this.members.values()].filter((m) => m.final).map((m) => m.final!.paramHash);
    const counts = new Map<string, number>();
    for (const h of finals) counts.set(h, (counts.get(h) ?? 0) + 1);
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
      this.maybeOpen();
    }
  }

  stop() {
    if (this.status === 'done' || this.status === 'stopped') return;
    if (this.open) this.abort('job stopped');
    this.setStatus('stopped');
  }
}
