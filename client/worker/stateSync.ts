/**
 * The training state in and out of this worker: sent to a joiner (donor), received from a
 * donor or loaded from the server's checkpoint (joiner), voted on and uploaded as a
 * checkpoint, and the final weights reported and uploaded when the job is done.
 */
import { evalCounts } from '../../shared/losses.ts';
import type { EvalPart } from '../../shared/protocol.ts';
import { scorePart } from './evalPart.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { createOptimizer } from '../../shared/optimizer.ts';
import { decodeState, encodeState } from '../../shared/stateCodec.ts';
import { receiveState, sendState } from '../../shared/stateTransfer.ts';
import type { LoadedJob, SessionIO } from './sessionTypes.ts';

export class StateSync {
  private syncCtrl: AbortController | null = null;
  private finalSent = false;

  constructor(
    private readonly io: SessionIO,
    private readonly job: LoadedJob,
  ) {}

  /** A new sync (or the end of the session) replaces a receive in flight: it stops at once. */
  abort(err?: Error) {
    this.syncCtrl?.abort(err);
  }

  private stateBytes(): Uint8Array {
    const r = this.job.replica;
    return encodeState({ step: this.io.view.step, params: r.params, optimizer: this.job.optimizer.state(), ...(r.buffers.length > 0 ? { buffers: r.buffers } : {}) });
  }

  /** Donor: after committing step-1, send the whole training state to a joiner. */
  async donate(step: number, to: string) {
    if (this.io.view.step !== step) return; // not at that boundary: the coordinator's timeout handles it
    const bytes = this.stateBytes();
    const paramHash = this.job.replica.stateHash();
    try {
      const link = await this.job.mesh.connect(to, { timeoutMs: 20_000 });
      await sendState(link, step, bytes);
      this.io.send({ type: 'sync-sent', step, to, paramHash });
    } catch (e) {
      this.io.set({ detail: `could not send state to ${to}: ${(e as Error).message}` });
    }
  }

  /** Joiner: receive the state of `step` from a donor over a data channel. */
  async receive(step: number, from: string) {
    const ctrl = new AbortController();
    this.syncCtrl = ctrl;
    this.io.set({ state: 'syncing', detail: `receiving the state of step ${step} from ${from}` });
    try {
      const link = await this.job.mesh.connect(from, { signal: ctrl.signal, timeoutMs: 20_000 });
      const bytes = await receiveState(link, step, 20_000, ctrl.signal);
      await this.load(step, bytes, from);
    } catch (e) {
      if (!ctrl.signal.aborted) this.io.set({ detail: `sync from ${from} failed: ${(e as Error).message}` });
    }
  }

  /** Takes the state of `step` (params and optimizer) and tells the server its hash. */
  async load(step: number, bytes: Uint8Array, source: string) {
    const { replica, spec } = this.job;
    const st = decodeState(bytes);
    if (st.step !== step) throw new TabswarmError('BAD_REQUEST', `state is of step ${st.step}, expected ${step}`);
    replica.setState(st.params, st.buffers);
    this.job.optimizer = createOptimizer(spec.optimizer, replica.size, st.optimizer);
    const paramHash = replica.stateHash();
    this.io.set({ state: 'waiting', step, paramHash, detail: `synced step ${step} from ${source}` });
    this.io.send({ type: 'synced', step, paramHash });
  }

  async voteParamHash(step: number) {
    if (this.io.view.step === step) this.io.send({ type: 'param-hash', step, paramHash: this.job.replica.stateHash() });
  }

  /** The state goes over HTTP (a socket message may not be that large); the upload is our vote. */
  async uploadCheckpoint(step: number, uploadId: string) {
    if (this.io.view.step !== step) return;
    await this.io.d.upload(uploadId, this.stateBytes()).catch((e: unknown) => this.io.set({ detail: `checkpoint upload failed: ${(e as Error).message}` }));
  }

  /** Reports the final weights' hash once; uploads them when asked (again, if the first uploader went away). */
  async finish(step: number, uploadId: string | null, evalPart: EvalPart | null) {
    const { replica } = this.job;
    if (!this.finalSent) {
      this.finalSent = true;
      // only this tab's part of the test set: the coordinator sums the finishers' counts
      const ev = evalPart ? evalCounts(replica.loss.task, await scorePart(this.job, evalPart)) : null;
      const paramHash = replica.stateHash();
      const testAccuracy = ev && ev.count > 0 && replica.loss.task !== 'regression' ? ev.correct / ev.count : null;
      this.io.set({ state: 'done', testAccuracy, paramHash, detail: `finished at step ${step}`, feed: this.job.feed.stats() });
      this.io.send({ type: 'final', step, paramHash, eval: ev });
    }
    if (uploadId) {
      // the whole state: trainable weights, then the non-trainable ones (moving statistics)
      await this.io.d.upload(uploadId, new Uint8Array(replica.stateVector().buffer)).catch((e: unknown) => this.io.set({ detail: `final weights upload failed: ${(e as Error).message}` }));
    }
  }
}
