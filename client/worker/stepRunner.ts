/**
 * One training step at a time: compute this worker's slice of the batch into a gradient
 * vector, all-reduce it around the ring, report the hash, and apply the update only when
 * the coordinator commits the step (then evaluate, when asked).
 */
import type { EvalPart } from '../../shared/protocol.ts';
import { scorePart } from './evalPart.ts';
import { TabswarmError, errorCode } from '../../shared/errors.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { ErrorFeedback } from '../../shared/codec.ts';
import { InputGate } from '../../shared/allreduce/inputGate.ts';
import type { RingStats } from '../../shared/allreduce/ring.ts';
import { TAIL, evalCounts, maxSampleLoss } from '../../shared/losses.ts';
import { ContributionGuard } from './contributionGuard.ts';
import { RingLinks } from './ringLinks.ts';
import type { LoadedJob, SessionIO } from './sessionTypes.ts';

type Slice = { peerId: string; start: number; count: number };

/** A reduced step waiting for its commit. */
interface Pending {
  step: number;
  epoch: number;
  vec: Float32Array;
}

export class StepRunner {
  readonly links: RingLinks;
  private pending: Pending | null = null;
  private stepCtrl: AbortController | null = null;
  private readonly guard: ContributionGuard;
  private heldSent = '';
  private stepCheck: ((round: number, offset: number, values: Float32Array) => string | null) | null = null;
  private sumCheck: ((positions: readonly number[], offset: number, values: Float32Array) => string | null) | null = null;

  constructor(
    private readonly io: SessionIO,
    private readonly job: LoadedJob,
  ) {
    this.guard = new ContributionGuard(undefined, undefined, maxSampleLoss(job.replica.loss));
    this.links = new RingLinks({
      mesh: job.mesh, jobId: io.view.jobId, spec: job.spec, vectorLength: job.replica.vectorLength, uplinkMbit: io.d.uplinkMbit, autoPace: io.d.autoPace, latencyMaxBytes: io.d.latencyMaxBytes, maskZeros: io.d.maskZeros,
      feedback: new ErrorFeedback(),
      checkPartialSum: (round, offset, values) => this.stepCheck?.(round, offset, values) ?? null,
      checkSum: (positions, offset, values) => this.sumCheck?.(positions, offset, values) ?? null,
    });
  }

  /** The coordinator aborted the running step: it stops at once (its promise settles quietly). */
  abortRunning(reason: string) {
    this.stepCtrl?.abort(new TabswarmError('STEP_ABORTED', reason));
  }

  /** An abort of `step` reached its turn in the queue: that step will not be committed. */
  forget(step: number) {
    if (this.pending?.step === step) this.pending = null;
  }

  /**
   * Computes the slice's gradient and all-reduces it. Overlapped (the default), the ring
   * starts first and sends each range of the vector as soon as it is computed (InputGate);
   * held (an onPhase hook, or overlap: false), the gradient is complete and the 'compute'
   * hook has returned before any of it leaves.
   */
  async run(step: number, epoch: number, ring: string[], slices: Slice[], learningRate: number) {
    const { d, view } = this.io;
    const { replica, spec } = this.job;
    const rank = ring.indexOf(view.peerId);
    const slice = slices.find((s) => s.peerId === view.peerId);
    if (rank < 0 || !slice) return;
    this.pending = null;
    if (this.job.optimizer.config.learningRate !== learningRate) this.job.optimizer.setLearningRate(learningRate);
    const ctrl = new AbortController();
    this.stepCtrl = ctrl;
    this.io.set({ state: 'training', share: slice.count / spec.batchSize, detail: `step ${step}: computing ${slice.count} samples` });
    try {
      // The ring's links come up, and the ring starts, while the gradient is computed.
      // [∑grad | batch-norm sums | ∑loss, correct, ∑absErr, ∑sqErr, count] (shared/replica.ts, shared/losses.ts TAIL)
      const T = replica.tailOffset;
      const vec = new Float32Array(replica.vectorLength);
      const gate = new InputGate(vec.length);
      const gated = d.onPhase === undefined && d.overlap !== false;
      this.stepCheck = this.guard.checker({ rank, ring, slices, length: vec.length });
      this.sumCheck = this.guard.sumChecker({ rank, ring, slices, length: vec.length });
      // the ring also stops when the gradient cannot be computed (it would wait for input)
      const ringCtrl = new AbortController();
      ctrl.signal.addEventListener('abort', () => ringCtrl.abort(ctrl.signal.reason), { once: true });
      const t0 = d.now();
      const ringReady = this.links.ringFor(epoch, step, ring, rank, ctrl.signal);
      // where the slice lies in the global batch keys its random masks and ghost batches
      const { feed } = this.job;
      const computing = feed.take('train', this.job.plan.indices(step, slice.start, slice.count)).then(({ ds, idx }) => {
        // the next steps' shards come while this one computes (a stored dataset; nothing for a whole one)
        feed.prefetch(step, slice.start, slice.count);
        return replica.gradientInto(ds, idx, vec, gated ? (off, len) => gate.markReady(off, len) : undefined, { step, start: slice.start });
      });
      computing.catch((e: unknown) => ringCtrl.abort(e)); // awaited below; the ring may fail first
      ringReady.catch(() => {});
      let computeMs = 0;
      let t1 = 0;
      /** once the links are up: open the whole gate if it was held, and start the all-reduce */
      const startRing = async (): Promise<{ reducing: Promise<RingStats> }> => {
        const r = await ringReady;
        if (!gated) gate.markReady(0, vec.length);
        t1 = d.now();
        const reducing = r.allReduce(step, vec, { signal: ringCtrl.signal, timeoutMs: 60_000, input: gate });
        reducing.catch(() => {}); // awaited below, after the hooks
        return { reducing };
      };
      const computed = async () => {
        await computing;
        computeMs = d.now() - t0;
        await this.afterCompute(step, epoch, computeMs, vec, slice.count);
      };
      let started: { reducing: Promise<RingStats> };
      if (gated) {
        started = await startRing();
        await computed();
      } else {
        await computed();
        started = await startRing();
      }
      t1 = Math.max(t1, t0 + computeMs);
      const schedule = (await ringReady).schedule;
      this.io.set({ detail: `step ${step}: all-reduce (${schedule}) over ${ring.length} peers`, allReduce: schedule });
      await d.onPhase?.('allreduce', step, vec);
      const stats = await started.reducing;
      // what the ring adds to the step: from when both the ring and the own gradient were ready
      const allreduceMs = d.now() - t1;
      const wire = view.wire ?? { sentBytes: 0, denseBytes: 0 };
      this.io.set({ wire: { sentBytes: wire.sentBytes + stats.bytesSent, denseBytes: wire.denseBytes + stats.bytesDense } });
      await d.onPhase?.('reduced', step, vec);
      this.pending = { step, epoch, vec };
      this.io.send({
        type: 'reduced', step, epoch, hash: hashFloat32(vec), paramHash: replica.stateHash(), computeMs, allreduceMs,
        loss: vec[T + TAIL.loss]!, correct: vec[T + TAIL.correct]!, count: vec[T + TAIL.count]!,
        ...(replica.loss.task === 'regression' ? { absErr: vec[T + TAIL.absErr]!, sqErr: vec[T + TAIL.sqErr]! } : {}),
      });
      if (computeMs > 0 && slice.count > 0) this.io.set({ samplesPerSec: (slice.count / computeMs) * 1000 });
    } catch (e) {
      if (ctrl.signal.aborted) return;
      const peer = e instanceof TabswarmError ? e.peer : undefined;
      this.io.send({ type: 'step-failed', step, epoch, code: errorCode(e), message: String((e as Error).message ?? e).slice(0, 500), ...(peer ? { suspect: peer } : {}) });
    } finally {
      if (this.stepCtrl === ctrl) this.stepCtrl = null;
    }
  }

  /** The own gradient is complete: report it, learn its scale, let a test hook see it. */
  private async afterCompute(step: number, epoch: number, computeMs: number, vec: Float32Array, count: number) {
    this.io.send({ type: 'computed', step, epoch, computeMs });
    // what this tab's cache holds, when it changed: the coordinator slices the next steps to follow it
    const held = this.job.feed.held();
    const key = held.join();
    if (held.length > 0 && key !== this.heldSent) {
      this.heldSent = key;
      this.io.send({ type: 'shards', held });
    }
    this.io.set({ feed: this.job.feed.stats() });
    this.guard.learn(vec, count);
    await this.io.d.onPhase?.('compute', step, vec);
  }

  /** Applies the reduced step's mean gradient, if `step` is the one waiting; evaluates when asked. */
  async commit(step: number, evalPart: EvalPart | null) {
    const p = this.pending;
    if (!p || p.step !== step) return;
    this.pending = null;
    const { replica, spec } = this.job;
    const T = replica.tailOffset;
    const count = p.vec[T + TAIL.count]!;
    // mean gradient → optimizer, and the moving statistics from the ghost-batch sums, alike on every replica
    replica.applyUpdate(p.vec, this.job.optimizer);
    const { view } = this.io;
    const mySlice = view.share * spec.batchSize;
    this.io.set({ step: step + 1, loss: count > 0 ? p.vec[T + TAIL.loss]! / count : null, samplesDone: view.samplesDone + Math.round(mySlice), paramHash: replica.stateHash(), detail: `committed step ${step}` });
    if (evalPart) {
      // this tab's part of the test set; the coordinator sums every part's counts
      const ev = evalCounts(replica.loss.task, await scorePart(this.job, evalPart));
      if (ev.count > 0 && replica.loss.task !== 'regression') this.io.set({ testAccuracy: ev.correct / ev.count });
      this.io.set({ feed: this.job.feed.stats() });
      this.io.send({ type: 'eval', step, ...ev });
    }
    await this.io.d.yieldToLoop();
  }

  /** Stops the running step with `err` and the ring with it. */
  destroy(err?: Error) {
    this.stepCtrl?.abort(err);
    this.links.destroy(err);
  }
}
