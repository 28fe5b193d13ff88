/**
 * A member's part of a prediction job: load the model's weights (`predict-model`), then for
 * each `unit` read its inputs, run `model.predict` in batches on the chosen backend, and PUT
 * the outputs (float32, input order) to the unit's one-time upload id. A unit this tab cannot
 * compute is reported (`unit-failed`) and goes to another member.
 *
 * The outputs pass the session's phase hook ('compute', unit index, outputs) before they are
 * sent, as a gradient does: a test can hold a tab there (killed mid-unit) or alter them.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { TabswarmError } from '../../shared/errors.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import type { PredictInputs } from '../../shared/predictInputs.ts';
import type { Replica } from '../../shared/replica.ts';
import type { SessionIO } from './sessionTypes.ts';

export class PredictRunner {
  private loaded = false;
  private done = 0;

  constructor(
    private readonly io: SessionIO,
    private readonly spec: JobSpec,
    private readonly replica: Replica,
    private readonly inputs: PredictInputs,
  ) {}

  /** The state vector: trainable weights, then non-trainable ones. */
  load(bytes: Uint8Array) {
    const all = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(all.buffer).set(bytes);
    const r = this.replica;
    if (all.length !== r.size + r.bufferSize) throw new TabswarmError('BAD_REQUEST', `the model has ${r.size + r.bufferSize} weights, the server sent ${all.length}`);
    r.setState(all.subarray(0, r.size), all.subarray(r.size));
    this.loaded = true;
    this.io.set({ state: 'training', detail: 'predicting', paramHash: r.stateHash() });
  }

  async unit(index: number, start: number, count: number, uploadId: string) {
    const { d } = this.io;
    try {
      if (!this.loaded) throw new TabswarmError('BAD_REQUEST', 'a unit came before the model');
      const t0 = d.now();
      const out = await this.predict(start, count);
      await d.onPhase?.('compute', index, out);
      await d.upload(uploadId, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
      this.done += count;
      const ms = d.now() - t0;
      this.io.set({ samplesDone: this.done, step: index + 1, samplesPerSec: ms > 0 ? (count / ms) * 1000 : this.io.view.samplesPerSec, detail: `unit ${index}: ${count} samples` });
    } catch (e) {
      const err = e instanceof TabswarmError ? e : new TabswarmError('INTERNAL', e instanceof Error ? e.message : String(e));
      this.io.send({ type: 'unit-failed', unit: index, code: err.code.slice(0, 40), message: err.message.slice(0, 500) });
      this.io.set({ detail: `unit ${index} failed: ${err.message}` });
    }
    await d.yieldToLoop();
  }

  /** Outputs of rows [start, start + count), `batchSize` rows per `model.predict`. */
  private async predict(start: number, count: number): Promise<Float32Array> {
    const tf = this.io.d.tf;
    const rows = await this.inputs.rows(start, count);
    const F = rows.featureShape.reduce((a, b) => a * b, 1);
    const B = this.spec.predict?.batchSize ?? 256;
    let out: Float32Array | null = null;
    for (let i = 0; i < count; i += B) {
      const n = Math.min(B, count - i);
      const y = tf.tidy(() => this.replica.model.predict(tf.tensor(rows.x.subarray(i * F, (i + n) * F), [n, ...rows.featureShape])) as tfjs.Tensor);
      const v = (await y.data()) as Float32Array;
      y.dispose();
      const k = v.length / n;
      out ??= new Float32Array(count * k);
      out.set(v, i * k);
    }
    return out ?? new Float32Array(0);
  }
}
