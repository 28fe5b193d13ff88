/**
 * One volunteer's worker: joins a job over socket.io, loads the model and dataset, picks a
 * backend, then follows the coordinator's steps — compute the slice's summed gradient,
 * all-reduce it around the ring, report the hash, apply the update only on commit.
 * Transport, backend choice and socket are injected, so the same session runs in a tab.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { BatchPlan } from '../../shared/batchPlan.ts';
import { loadDataset, type Dataset, type DatasetSource } from '../../shared/datasets.ts';
import { TabswarmError, errorCode } from '../../shared/errors.ts';
import { hashFloat32, hashString32 } from '../../shared/hash.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { createOptimizer, type Optimizer } from '../../shared/optimizer.ts';
import { PROTOCOL_VERSION, parseServerMessage, type ClientMessage, type ServerMessage, type WorkerInfo } from '../../shared/protocol.ts';
import { EXTRA_SLOTS, Replica } from '../../shared/replica.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { InputGate } from '../../shared/allreduce/inputGate.ts';
import { paceForUplink } from '../../shared/allreduce/pacedLink.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import { ErrorFeedback } from '../../shared/codec.ts';
import { decodeState, encodeState } from '../../shared/stateCodec.ts';
import { ContributionGuard } from './contributionGuard.ts';
import { receiveState, sendState } from '../../shared/stateTransfer.ts';

export type WorkerState = 'connecting' | 'loading' | 'calibrating' | 'waiting' | 'syncing' | 'training' | 'done' | 'left' | 'dropped' | 'error';

/** Points a test (or a curious volunteer's devtools) can observe; awaited, so it can hold a phase. */
export type Phase = 'compute' | 'allreduce' | 'reduced';

export interface Mesh {
  connect(remoteId: string, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<Link>;
  handleSignal(from: string, data: unknown): void;
  stats?(remoteId: string): Promise<{ rttMs: number | null; relayed: boolean | null } | null>;
  retain(ids: string[]): void;
  destroy(err?: Error): void;
}

export interface SocketLike {
  emit(ev: 'msg', m: ClientMessage): void;
  on(ev: 'msg', cb: (m: unknown) => void): void;
  on(ev: 'disconnect', cb: (reason: string) => void): void;
  disconnect(): void;
}

export interface SessionView {
  state: WorkerState;
  detail: string;
  jobId: string;
  jobName: string;
  peerId: string;
  backend: string;
  step: number;
  steps: number;
  loss: number | null;
  samplesPerSec: number;
  share: number;
  samplesDone: number;
  paramHash: string;
  testAccuracy: number | null;
}

export interface SessionDeps {
  tf: typeof tfjs;
  socket: SocketLike;
  datasets: DatasetSource;
  makeMesh(localId: string, sendSignal: (to: string, data: Record<string, unknown>) => void, iceServers: Record<string, unknown>[]): Mesh;
  chooseBackend(spec: JobSpec, train: Dataset, onProgress: (s: string) => void): Promise<Omit<WorkerInfo, 'userAgent'> & { samplesPerSec: number }>;
  userAgent: string;
  onView(v: SessionView): void;
  now(): number;
  /** lets the page breathe between steps (a loop that never yields freezes the tab) */
  yieldToLoop(): Promise<void>;
  every(ms: number, fn: () => void): () => void;
  /**
   * `vec` is the gradient vector at that point (own sum after compute, the reduced sum after
   * the all-reduce). With this hook set, none of the contribution leaves before the 'compute'
   * phase has returned (a test may inspect or alter it), so compute and ring do not overlap.
   */
  onPhase?(phase: Phase, step: number, vec: Float32Array): Promise<void> | void;
  /** start the all-reduce while the gradient is still computed and read back (default true) */
  overlap?: boolean;
  /** this host's uplink rate, Mbit/s: the ring paces what it sends under it (see PacedLink) */
  uplinkMbit?: number;
  /** the session ended; `state` says whether trying again makes sense (done: no) */
  onEnd?(state: WorkerState, reason: string): void;
  /** PUTs a checkpoint or the final weights to the server's /api/uploads/:uploadId */
  upload(uploadId: string, bytes: Uint8Array): Promise<void>;
}

interface Pending {
  step: number;
  epoch: number;
  vec: Float32Array;
}

export class WorkerSession {
  private view: SessionView;
  private spec: JobSpec | null = null;
  private replica: Replica | null = null;
  private optimizer: Optimizer | null = null;
  private train: Dataset | null = null;
  private test: Dataset | null = null;
  private plan: BatchPlan | null = null;
  private mesh: Mesh | null = null;
  private ring: { epoch: number; key: string; ring: RingAllReduce } | null = null;
  private pending: Pending | null = null;
  private stepCtrl: AbortController | null = null;
  private queue: Promise<void> = Promise.resolve();
  private destroyed = false;
  private stopHeartbeat: () => void = () => {};
  private syncCtrl: AbortController | null = null;
  private carried: Uint8Array[] = [];
  private nextPeer: string | null = null;
  private readonly guard = new ContributionGuard();
  private stepCheck: ((round: number, offset: number, values: Float32Array) => string | null) | null = null;
  private carriedBytes = 0;
  /** residuals of a lossy gradient encoding, kept across ring epochs */
  private readonly feedback = new ErrorFeedback();

  constructor(private readonly d: SessionDeps, jobId: string) {
    this.view = {
      state: 'connecting', detail: 'connecting to the server', jobId, jobName: '', peerId: '', backend: '',
      step: 0, steps: 0, loss: null, samplesPerSec: 0, share: 0, samplesDone: 0, paramHash: '', testAccuracy: null,
    };
    d.socket.on('msg', (raw) => this.onMessage(raw));
    d.socket.on('disconnect', (reason) => {
      if (this.view.state !== 'done') this.destroy(new TabswarmError('LINK_CLOSED', `server connection lost (${reason})`), 'dropped');
    });
    this.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId });
    this.emitView();
  }

  private set(patch: Partial<SessionView>) {
    Object.assign(this.view, patch);
    this.emitView();
  }

  private emitView() {
    this.d.onView({ ...this.view });
  }

  private send(m: ClientMessage) {
    if (!this.destroyed) this.d.socket.emit('msg', m);
  }

  private onMessage(raw: unknown) {
    const parsed = parseServerMessage(raw);
    if (!parsed.ok) return this.set({ detail: `ignored a malformed server message: ${parsed.message}` });
    const m = parsed.value;
    // Signals and aborts act at once; everything else runs in order (commit before the next step).
    if (m.type === 'signal') return this.mesh?.handleSignal(m.from, m.data);
    if (m.type === 'abort') this.stepCtrl?.abort(new TabswarmError('STEP_ABORTED', m.reason));
    if (m.type === 'error') {
      if (m.code === 'DROPPED') return this.destroy(new TabswarmError('STEP_ABORTED', `dropped by the coordinator (${m.message})`), 'dropped');
      // nothing to rejoin: the job is over, gone or quarantined
      if (m.code === 'JOB_FINISHED' || m.code === 'UNKNOWN_JOB' || m.code === 'JOB_FAILED') return this.destroy(new TabswarmError(m.code, m.message), 'done');
      // the join was refused for now (rate limit, a wait after a costly drop): end, and let the page retry with backoff
      if (!this.view.peerId && (m.code === 'RATE_LIMITED' || m.code === 'PROTOCOL_MISMATCH')) return this.destroy(new TabswarmError(m.code, m.message), 'dropped');
      return this.set({ detail: `server: ${m.code}: ${m.message}` });
    }
    if (m.type === 'sync-receive' || m.type === 'sync-state') this.syncCtrl?.abort(new TabswarmError('ABORTED', 'sync restarted'));
    this.queue = this.queue.then(() => this.handle(m)).catch((e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e)), 'error'));
  }

  private async handle(m: ServerMessage) {
    if (this.destroyed) return;
    switch (m.type) {
      case 'welcome':
        return this.start(m.peerId, m.spec, m.iceServers, m.heartbeatMs);
      case 'step':
        return this.runStep(m.step, m.epoch, m.ring, m.slices, m.learningRate);
      case 'commit':
        return this.commit(m.step, m.evaluate);
      case 'abort':
        if (this.pending?.step === m.step) this.pending = null;
        return;
      case 'done':
        return this.finish(m.step, m.upload ? (m.uploadId ?? null) : null);
      case 'sync-send':
        return this.donate(m.step, m.to);
      case 'sync-receive':
        return this.receive(m.step, m.from);
      case 'sync-state':
        return this.load(m.step, m.state, 'the server checkpoint');
      case 'checkpoint-request':
        return m.upload && m.uploadId ? this.uploadCheckpoint(m.step, m.uploadId) : this.voteParamHash(m.step);
      default:
        return;
    }
  }

  private async start(peerId: string, spec: JobSpec, iceServers: Record<string, unknown>[], heartbeatMs: number) {
    const { tf } = this.d;
    this.spec = spec;
    this.stopHeartbeat = this.d.every(heartbeatMs, () => void this.heartbeat());
    this.set({ peerId, jobName: spec.name, steps: spec.steps, state: 'loading', detail: `loading dataset ${spec.dataset.id}` });
    this.mesh = this.d.makeMesh(peerId, (to, data) => this.send({ type: 'signal', to, data }), iceServers);
    [this.train, this.test] = await Promise.all([
      loadDataset(this.d.datasets, spec.dataset.id, 'train', spec.dataset.trainSize),
      loadDataset(this.d.datasets, spec.dataset.id, 'test', spec.dataset.testSize),
    ]);
    this.set({ state: 'calibrating', detail: 'measuring backends' });
    const choice = await this.d.chooseBackend(spec, this.train, (s) => this.set({ detail: s }));
    this.replica = await Replica.create(tf, spec);
    this.optimizer = createOptimizer(spec.optimizer, this.replica.size);
    this.plan = new BatchPlan(this.train.size, spec.batchSize, spec.seed);
    this.set({ backend: choice.backend, samplesPerSec: choice.samplesPerSec, state: 'waiting', detail: `${choice.backend}: ${choice.reason}`, paramHash: hashFloat32(this.replica.params) });
    this.send({
      type: 'ready',
      info: { backend: choice.backend, adapter: choice.adapter, reason: choice.reason.slice(0, 500), calibration: choice.calibration, userAgent: this.d.userAgent.slice(0, 300) },
      samplesPerSec: choice.samplesPerSec,
    });
  }

  /** Links to the ring neighbours; kept while the ring is unchanged. */
  private async ringFor(epoch: number, step: number, ring: string[], rank: number, signal: AbortSignal): Promise<RingAllReduce> {
    const key = ring.join(',');
    if (this.ring && this.ring.key === key && this.ring.epoch === epoch) return this.ring.ring;
    this.ring?.ring.destroy(new TabswarmError('ABORTED', `ring epoch ${this.ring.epoch} replaced`));
    this.ring = null;
    const n = ring.length;
    const mesh = this.mesh!;
    const prevId = ring[(rank - 1 + n) % n]!;
    const nextId = ring[(rank + 1) % n]!;
    mesh.retain(n > 1 ? [prevId, nextId] : []);
    this.nextPeer = n > 1 ? nextId : null;
    let prev: Link | null = null;
    let next: Link | null = null;
    if (n > 1) {
      const connect = (id: string) =>
        mesh.connect(id, { signal, timeoutMs: 20_000 }).catch((e: unknown) => {
          throw new TabswarmError(e instanceof TabswarmError ? e.code : 'LINK_FAILED', `connecting to ${id}: ${(e as Error).message}`, { peer: id });
        });
      [prev, next] = await Promise.all([connect(prevId), connect(nextId)]);
    }
    // A neighbour may already run this epoch and send frames the previous ring received:
    // they were set aside and are replayed into the new ring.
    const carried = this.carried;
    this.carried = [];
    this.carriedBytes = 0;
    const r = new RingAllReduce({
      jobTag: hashString32(this.view.jobId), epoch, rank, size: n, prev, next, chunkElems: this.spec!.chunkBytes / 4,
      encoding: this.spec!.encoding, exactTail: EXTRA_SLOTS, errorFeedback: this.feedback,
      ...(this.d.uplinkMbit ? { paceBytesPerSec: paceForUplink(this.d.uplinkMbit) } : {}),
      firstStep: step,
      carriedFrames: carried,
      checkPartialSum: (round, offset, values) => this.stepCheck?.(round, offset, values) ?? null,
      onFutureEpochFrame: (bytes) => {
        if (this.carriedBytes + bytes.byteLength > 64 * 1024 * 1024) return;
        this.carried.push(bytes);
        this.carriedBytes += bytes.byteLength;
      },
    });
    this.ring = { epoch, key, ring: r };
    return r;
  }

  private async runStep(step: number, epoch: number, ring: string[], slices: { peerId: string; start: number; count: number }[], learningRate: number) {
    const replica = this.replica!;
    const rank = ring.indexOf(this.view.peerId);
    const slice = slices.find((s) => s.peerId === this.view.peerId);
    if (rank < 0 || !slice) return;
    this.pending = null;
    if (this.optimizer!.config.learningRate !== learningRate) this.optimizer!.setLearningRate(learningRate);
    const ctrl = new AbortController();
    this.stepCtrl = ctrl;
    this.set({ state: 'training', share: slice.count / this.spec!.batchSize, detail: `step ${step}: computing ${slice.count} samples` });
    try {
      // The ring's links come up, and the ring starts, while the gradient is computed: it sends
      // and sums each range as soon as that range of `vec` is filled (InputGate).
      const P = replica.size;
      const vec = new Float32Array(P + EXTRA_SLOTS);
      const gate = new InputGate(vec.length);
      const hold = this.d.onPhase !== undefined || this.d.overlap === false;
      this.stepCheck = this.guard.checker({ rank, ring, slices, length: vec.length });
      // the ring also stops when the gradient cannot be computed (it would wait for input)
      const ringCtrl = new AbortController();
      ctrl.signal.addEventListener('abort', () => ringCtrl.abort(ctrl.signal.reason), { once: true });
      const t0 = this.d.now();
      const ringReady = this.ringFor(epoch, step, ring, rank, ctrl.signal);
      const computing = replica.gradientInto(this.train!, this.plan!.indices(step, slice.start, slice.count), vec, hold ? undefined : (off, len) => gate.markReady(off, len));
      computing.catch((e: unknown) => ringCtrl.abort(e)); // awaited below; the ring may fail first
      ringReady.catch(() => {});
      let computeMs = 0;
      let t1 = 0;
      let reducing: Promise<unknown>;
      if (hold) {
        await computing;
        computeMs = this.d.now() - t0;
        await this.afterCompute(step, epoch, computeMs, vec, slice.count);
        const r = await ringReady;
        gate.markReady(0, vec.length);
        t1 = this.d.now();
        reducing = r.allReduce(step, vec, { signal: ringCtrl.signal, timeoutMs: 60_000, input: gate });
      } else {
        const r = await ringReady;
        t1 = this.d.now();
        reducing = r.allReduce(step, vec, { signal: ringCtrl.signal, timeoutMs: 60_000, input: gate });
        reducing.catch(() => {});
        await computing;
        computeMs = this.d.now() - t0;
        t1 = Math.max(t1, t0 + computeMs);
        await this.afterCompute(step, epoch, computeMs, vec, slice.count);
      }
      this.set({ detail: `step ${step}: all-reduce over ${ring.length} peers` });
      await this.d.onPhase?.('allreduce', step, vec);
      await reducing;
      // what the ring adds to the step: from when both the ring and the own gradient were ready
      const allreduceMs = this.d.now() - t1;
      await this.d.onPhase?.('reduced', step, vec);
      this.pending = { step, epoch, vec };
      this.send({
        type: 'reduced', step, epoch, hash: hashFloat32(vec), paramHash: hashFloat32(replica.params), computeMs, allreduceMs,
        loss: vec[P]!, correct: vec[P + 1]!, count: vec[P + 2]!,
      });
      if (computeMs > 0 && slice.count > 0) this.set({ samplesPerSec: (slice.count / computeMs) * 1000 });
    } catch (e) {
      if (ctrl.signal.aborted) return;
      const peer = e instanceof TabswarmError ? e.peer : undefined;
      this.send({ type: 'step-failed', step, epoch, code: errorCode(e), message: String((e as Error).message ?? e).slice(0, 500), ...(peer ? { suspect: peer } : {}) });
    } finally {
      if (this.stepCtrl === ctrl) this.stepCtrl = null;
    }
  }

  /** The own gradient is complete: report it, learn its scale, let a test hook see it. */
  private async afterCompute(step: number, epoch: number, computeMs: number, vec: Float32Array, count: number) {
    this.send({ type: 'computed', step, epoch, computeMs });
    this.guard.learn(vec, count);
    await this.d.onPhase?.('compute', step, vec);
  }

  private async commit(step: number, evaluate: boolean) {
    const p = this.pending;
    if (!p || p.step !== step) return;
    this.pending = null;
    const replica = this.replica!;
    const P = replica.size;
    const count = p.vec[P + 2]!;
    if (count > 0) {
      const grad = new Float32Array(P);
      for (let i = 0; i < P; i++) grad[i] = p.vec[i]! / count;
      this.optimizer!.apply(replica.params, grad);
      replica.writeParams();
    }
    const mySlice = this.view.share * this.spec!.batchSize;
    this.set({ step: step + 1, loss: count > 0 ? p.vec[P]! / count : null, samplesDone: this.view.samplesDone + Math.round(mySlice), paramHash: hashFloat32(replica.params), detail: `committed step ${step}` });
    if (evaluate) {
      const acc = await replica.accuracy(this.test!);
      this.set({ testAccuracy: acc });
      this.send({ type: 'eval', step, testAccuracy: acc });
    }
    await this.d.yieldToLoop();
  }

  private async heartbeat() {
    const next = this.nextPeer;
    const stats = next ? await this.mesh?.stats?.(next).catch(() => null) : null;
    this.send({ type: 'heartbeat', ...(next && stats ? { link: { peer: next, rttMs: stats.rttMs, relayed: stats.relayed } } : {}) });
  }

  private stateBytes(): Uint8Array {
    return encodeState({ step: this.view.step, params: this.replica!.params, optimizer: this.optimizer!.state() });
  }

  /** Donor: after committing step-1, send the whole training state to a joiner. */
  private async donate(step: number, to: string) {
    if (this.view.step !== step) return; // not at that boundary: the coordinator's timeout handles it
    const bytes = this.stateBytes();
    const paramHash = hashFloat32(this.replica!.params);
    try {
      const link = await this.mesh!.connect(to, { timeoutMs: 20_000 });
      await sendState(link, step, bytes);
      this.send({ type: 'sync-sent', step, to, paramHash });
    } catch (e) {
      this.set({ detail: `could not send state to ${to}: ${(e as Error).message}` });
    }
  }

  /** Joiner: receive the state of `step` from a donor over a data channel. */
  private async receive(step: number, from: string) {
    const ctrl = new AbortController();
    this.syncCtrl = ctrl;
    this.set({ state: 'syncing', detail: `receiving the state of step ${step} from ${from}` });
    try {
      const link = await this.mesh!.connect(from, { signal: ctrl.signal, timeoutMs: 20_000 });
      const bytes = await receiveState(link, step, 20_000, ctrl.signal);
      await this.load(step, bytes, from);
    } catch (e) {
      if (!ctrl.signal.aborted) this.set({ detail: `sync from ${from} failed: ${(e as Error).message}` });
    }
  }

  private async load(step: number, bytes: Uint8Array, source: string) {
    const st = decodeState(bytes);
    if (st.step !== step) throw new TabswarmError('BAD_REQUEST', `state is of step ${st.step}, expected ${step}`);
    this.replica!.setParams(st.params);
    this.optimizer = createOptimizer(this.spec!.optimizer, this.replica!.size, st.optimizer);
    const paramHash = hashFloat32(this.replica!.params);
    this.set({ state: 'waiting', step, paramHash, detail: `synced step ${step} from ${source}` });
    this.send({ type: 'synced', step, paramHash });
  }

  private async voteParamHash(step: number) {
    if (this.view.step === step) this.send({ type: 'param-hash', step, paramHash: hashFloat32(this.replica!.params) });
  }

  /** The state goes over HTTP (a socket message may not be that large); the upload is our vote. */
  private async uploadCheckpoint(step: number, uploadId: string) {
    if (this.view.step !== step) return;
    await this.d.upload(uploadId, this.stateBytes()).catch((e: unknown) => this.set({ detail: `checkpoint upload failed: ${(e as Error).message}` }));
  }

  private finalSent = false;

  /** Reports the final weights' hash once; uploads them when asked (again, if the first uploader went away). */
  private async finish(step: number, uploadId: string | null) {
    const replica = this.replica!;
    if (!this.finalSent) {
      this.finalSent = true;
      const acc = await replica.accuracy(this.test!);
      const paramHash = hashFloat32(replica.params);
      this.set({ state: 'done', testAccuracy: acc, paramHash, detail: `finished at step ${step}` });
      this.send({ type: 'final', step, paramHash, testAccuracy: acc });
    }
    if (uploadId) {
      await this.d.upload(uploadId, new Uint8Array(Float32Array.from(replica.params).buffer)).catch((e: unknown) => this.set({ detail: `final weights upload failed: ${(e as Error).message}` }));
    }
  }

  /** Idempotent teardown. */
  destroy(err?: Error, state: WorkerState = 'done', o: { keepSocket?: boolean } = {}) {
    if (this.destroyed) return;
    this.stopHeartbeat();
    this.syncCtrl?.abort(err);
    this.stepCtrl?.abort(err);
    this.ring?.ring.destroy(err);
    this.mesh?.destroy(err);
    this.set({ state, detail: err ? err.message : this.view.detail });
    this.destroyed = true;
    if (o.keepSocket) setTimeout(() => this.d.socket.disconnect(), 2000); // unless the server closes it first
    else this.d.socket.disconnect();
    this.replica?.dispose();
    this.d.onEnd?.(state, err?.message ?? state);
  }

  /** Leaves cleanly: says so, stops work, and lets the server close the socket (closing it here could drop the 'leave'). */
  leave(reason = 'left') {
    this.send({ type: 'leave' });
    this.destroy(new TabswarmError('ABORTED', reason), this.view.state === 'done' ? 'done' : 'left', { keepSocket: true });
  }
}
