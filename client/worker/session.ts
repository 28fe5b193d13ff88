/**
 * One volunteer's worker: joins a job over socket.io, loads the model and dataset, picks a
 * backend, then follows the coordinator's steps. Transport, backend choice and socket are
 * injected, so the same session runs in a tab.
 *
 * This file is the dispatcher and the lifecycle (start, heartbeat, destroy, leave); the work
 * lives in its parts: StepRunner (compute, all-reduce, commit; its RingLinks keep the ring)
 * and StateSync (donate, receive, load, checkpoints, the final weights).
 */
import { TabswarmError } from '../../shared/errors.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { createOptimizer } from '../../shared/optimizer.ts';
import { PROTOCOL_VERSION, parseServerMessage, type ClientMessage, type ServerMessage } from '../../shared/protocol.ts';
import { Replica } from '../../shared/replica.ts';
import { openFeed } from './openFeed.ts';
import { StateSync } from './stateSync.ts';
import { StepRunner } from './stepRunner.ts';
import { PredictInputs } from '../../shared/predictInputs.ts';
import { PredictRunner } from './predictRunner.ts';
import type { LoadedJob, Mesh, SessionDeps, SessionIO, SessionView, WorkerState } from './sessionTypes.ts';

export type { Mesh, HookPoint, SessionDeps, SessionView, SocketLike, WorkerState } from './sessionTypes.ts';

export class WorkerSession {
  private view: SessionView;
  private mesh: Mesh | null = null;
  private job: LoadedJob | null = null;
  private steps: StepRunner | null = null;
  private sync: StateSync | null = null;
  /** a prediction job's runner (client/worker/predictRunner.ts) */
  private predictor: PredictRunner | null = null;
  private predictReplica: Replica | null = null;
  private queue: Promise<void> = Promise.resolve();
  private destroyed = false;
  private stopHeartbeat: () => void = () => {};
  /** what the parts use to show progress and speak to the server */
  private readonly io: SessionIO;

  constructor(private readonly d: SessionDeps, jobId: string) {
    this.view = {
      state: 'connecting', detail: 'connecting to the server', jobId, jobName: '', peerId: '', backend: '',
      step: 0, steps: 0, loss: null, samplesPerSec: 0, share: 0, samplesDone: 0, paramHash: '', testAccuracy: null, feed: null, wire: null,
    };
    this.io = { d, view: this.view, set: (patch) => this.set(patch), send: (m) => this.send(m) };
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
    if (m.type === 'abort') this.steps?.abortRunning(m.reason);
    if (m.type === 'error') {
      if (m.code === 'DROPPED') return this.destroy(new TabswarmError('STEP_ABORTED', `dropped by the coordinator (${m.message})`), 'dropped');
      // nothing to rejoin: the job is over, gone or quarantined
      if (m.code === 'JOB_FINISHED' || m.code === 'UNKNOWN_JOB' || m.code === 'JOB_FAILED') return this.destroy(new TabswarmError(m.code, m.message), 'done');
      // the join was refused for now (rate limit, a wait after a costly drop): end, and let the page retry with backoff
      if (!this.view.peerId && (m.code === 'RATE_LIMITED' || m.code === 'PROTOCOL_MISMATCH')) return this.destroy(new TabswarmError(m.code, m.message), 'dropped');
      return this.set({ detail: `server: ${m.code}: ${m.message}` });
    }
    if (m.type === 'sync-receive' || m.type === 'sync-state') this.sync?.abort(new TabswarmError('ABORTED', 'sync restarted'));
    this.queue = this.queue.then(() => this.handle(m)).catch((e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e)), 'error'));
  }

  private async handle(m: ServerMessage) {
    if (this.destroyed) return;
    switch (m.type) {
      case 'welcome':
        if (m.spec.kind === 'predict') return this.startPredict(m.peerId, m.spec, m.heartbeatMs);
        return this.start(m.peerId, m.spec, m.iceServers, m.heartbeatMs);
      case 'predict-model':
        return this.predictor?.load(m.weights);
      case 'unit':
        return this.predictor?.unit(m.unit, m.start, m.count, m.uploadId);
      case 'units-done':
        this.set({ state: 'done', detail: 'every unit is predicted' });
        return this.leave('the prediction job is finished');
      case 'serve':
        // only a finished training session is idle; a prediction or a running one ignores it
        if (this.view.state !== 'done' || this.predictor || !this.d.onServe) return;
        this.set({ detail: `serving prediction job ${m.jobId}` });
        this.leave(`serving prediction job ${m.jobId}`);
        return this.d.onServe(m.jobId);
      case 'step':
        return this.steps?.run(m.step, m.epoch, m.ring, m.slices, m.learningRate);
      case 'commit':
        return this.steps?.commit(m.step, m.evalPart);
      case 'abort':
        return this.steps?.forget(m.step);
      case 'done':
        return this.sync!.finish(m.step, m.upload ? (m.uploadId ?? null) : null, m.evalPart);
      case 'sync-send':
        // not awaited: the state is taken at once, and a joiner that never answers (a stranger)
        // must not hold this tab's queue — its next step would miss the deadline
        void this.sync!.donate(m.step, m.to).catch((e: unknown) => this.set({ detail: `donating state failed: ${(e as Error).message}` }));
        return;
      case 'sync-receive':
        return this.sync!.receive(m.step, m.from);
      case 'sync-state':
        return this.sync!.load(m.step, m.state, 'the server checkpoint');
      case 'checkpoint-request':
        return m.upload && m.uploadId ? this.sync!.uploadCheckpoint(m.step, m.uploadId) : this.sync!.voteParamHash(m.step);
      default:
        return;
    }
  }

  /** Loads the dataset, picks a backend, builds the model and says 'ready'. */
  private async start(peerId: string, spec: JobSpec, iceServers: Record<string, unknown>[], heartbeatMs: number) {
    const { tf } = this.d;
    this.stopHeartbeat = this.d.every(heartbeatMs, () => void this.heartbeat());
    this.set({ peerId, jobName: spec.name, steps: spec.steps, state: 'loading', detail: `loading dataset ${spec.dataset.id}` });
    const mesh = this.d.makeMesh(peerId, (to, data) => this.send({ type: 'signal', to, data }), iceServers);
    this.mesh = mesh;
    // a shipped dataset comes whole; a stored one shard by shard, as the steps need them
    const feed = await openFeed(spec, this.d.datasets, this.d.feed, peerId);
    this.set({ state: 'calibrating', detail: 'measuring backends' });
    const choice = await this.d.chooseBackend(spec, feed.calibration(), (s) => this.set({ detail: s }));
    const replica = await Replica.create(tf, spec);
    const optimizer = createOptimizer(spec.optimizer, replica.size);
    this.job = { spec, replica, optimizer, feed, plan: feed.plan, mesh };
    this.steps = new StepRunner(this.io, this.job);
    this.sync = new StateSync(this.io, this.job);
    this.set({ backend: choice.backend, samplesPerSec: choice.samplesPerSec, state: 'waiting', detail: `${choice.backend}: ${choice.reason}`, paramHash: replica.stateHash() });
    this.send({
      type: 'ready',
      info: { backend: choice.backend, adapter: choice.adapter, reason: choice.reason.slice(0, 500), calibration: choice.calibration, userAgent: this.d.userAgent.slice(0, 300) },
      samplesPerSec: choice.samplesPerSec,
    });
  }

  /**
   * A prediction job: no ring and no dataset split to train on. The first rows of the inputs
   * calibrate the backend (labels when there are, else class 0), then the model waits for its
   * weights (`predict-model`) and units.
   */
  private async startPredict(peerId: string, spec: JobSpec, heartbeatMs: number) {
    const { tf } = this.d;
    this.stopHeartbeat = this.d.every(heartbeatMs, () => this.send({ type: 'heartbeat' }));
    this.set({ peerId, jobName: spec.name, steps: 0, state: 'loading', detail: `loading inputs of ${spec.dataset.id}` });
    const inputs = new PredictInputs(this.d.datasets, spec.dataset.id, spec.predict!);
    const info = await inputs.info();
    const sample = await inputs.rows(0, Math.min(64, info.size));
    const classes = Math.max(1, info.classes);
    const n = sample.x.length / Math.max(1, info.featureShape.reduce((a, b) => a * b, 1));
    const calib = { id: spec.dataset.id, size: n, featureShape: info.featureShape, numClasses: classes, x: sample.x, y: Uint8Array.from({ length: n }, (_, i) => Math.min(classes - 1, Number(sample.y?.[i] ?? 0))) };
    this.set({ state: 'calibrating', detail: 'measuring backends' });
    const choice = await this.d.chooseBackend(spec, calib, (s) => this.set({ detail: s }));
    // built once the backend is chosen (tfjs allocates its variables there)
    const replica = await Replica.create(tf, spec);
    this.predictReplica = replica;
    this.predictor = new PredictRunner(this.io, spec, replica, inputs);
    this.set({ backend: choice.backend, samplesPerSec: choice.samplesPerSec, state: 'waiting', detail: `${choice.backend}: ${choice.reason}` });
    this.send({
      type: 'ready',
      info: { backend: choice.backend, adapter: choice.adapter, reason: choice.reason.slice(0, 500), calibration: choice.calibration, userAgent: this.d.userAgent.slice(0, 300) },
      samplesPerSec: choice.samplesPerSec,
    });
  }

  /** Tells the server this worker lives, with the link to its next ring neighbour as it sees it. */
  private async heartbeat() {
    const next = this.steps?.links.nextPeer ?? null;
    const stats = next ? await this.mesh?.stats?.(next).catch(() => null) : null;
    this.send({ type: 'heartbeat', ...(next && stats ? { link: { peer: next, rttMs: stats.rttMs, relayed: stats.relayed } } : {}) });
  }

  /** Idempotent teardown. */
  destroy(err?: Error, state: WorkerState = 'done', o: { keepSocket?: boolean } = {}) {
    if (this.destroyed) return;
    this.stopHeartbeat();
    this.sync?.abort(err);
    this.steps?.destroy(err);
    this.mesh?.destroy(err);
    this.set({ state, detail: err ? err.message : this.view.detail });
    this.destroyed = true;
    if (o.keepSocket) setTimeout(() => this.d.socket.disconnect(), 2000); // unless the server closes it first
    else this.d.socket.disconnect();
    this.job?.replica.dispose();
    this.predictReplica?.dispose();
    this.d.onEnd?.(state, err?.message ?? state);
  }

  /** Leaves cleanly: says so, stops work, and lets the server close the socket (closing it here could drop the 'leave'). */
  leave(reason = 'left') {
    this.send({ type: 'leave' });
    this.destroy(new TabswarmError('ABORTED', reason), this.view.state === 'done' ? 'done' : 'left', { keepSocket: true });
  }
}
