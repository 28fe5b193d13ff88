/**
 * A handle on one job: its views, its committed steps as an async iterator, the owner's
 * controls (pause, resume, stop, learning rate), and the trained weights — as a flat
 * Float32Array or as a tfjs LayersModel.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { StepMetricsWire } from '../../shared/dashboardProtocol.ts';
import type { PrivateJobView, PublicJobView } from '../../server/jobViews.ts';
import { ApiError, abortError, sleep } from './errors.ts';
import type { Transport } from './transport.ts';

export type { PrivateJobView, PublicJobView, StepMetricsWire };
export type JobStatus = PublicJobView['status'];
export type AnyJobView = PublicJobView | PrivateJobView;

/** statuses a job never leaves */
export const FINAL_STATUSES: readonly JobStatus[] = ['done', 'stopped', 'failed'];
export const isFinal = (s: JobStatus) => FINAL_STATUSES.includes(s);

export interface StepsOptions {
  /** the first step to yield (default 0: the whole history) */
  from?: number;
  /** poll interval right after new steps came (default 100 ms) */
  intervalMs?: number;
  /** the interval doubles while nothing new comes, up to this (default 2000 ms) */
  maxIntervalMs?: number;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** default 10 minutes */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** poll interval (default 250 ms) */
  intervalMs?: number;
  /** a done job: also wait for its final weights (default true with an owner token) */
  weights?: boolean;
}

/** The parts of tfjs `model()` uses: pass the `@tensorflow/tfjs` (or tfjs-node) namespace. */
export type TfLike = Pick<typeof tfjs, 'loadLayersModel'>;

interface ModelJson {
  modelTopology: tfjs.io.ModelArtifacts['modelTopology'];
  weightsManifest: { paths: string[]; weights: tfjs.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  userDefinedMetadata?: Record<string, unknown>;
}

export class JobHandle<View extends AnyJobView = PrivateJobView> {
  /** the volunteers' link: open it in browser tabs to join the job */
  readonly joinUrl: string;
  /** the owner's live dashboard (carries the owner token in its fragment when there is one) */
  readonly dashboardUrl: string;

  constructor(
    private readonly t: Transport,
    readonly id: string,
    /** the owner token: pause/resume/stop, learning rate, weights and model need it */
    readonly ownerToken?: string,
    urls: { joinUrl?: string; dashboardUrl?: string } = {},
  ) {
    const q = encodeURIComponent(id);
    this.joinUrl = urls.joinUrl ?? `${t.base}/?job=${q}`;
    this.dashboardUrl = urls.dashboardUrl ?? `${t.base}/dashboard.html?job=${q}${ownerToken ? `#token=${encodeURIComponent(ownerToken)}` : ''}`;
  }

  private path(rest = '') {
    return `/api/jobs/${encodeURIComponent(this.id)}${rest}`;
  }

  private owner(what: string): string {
    if (this.ownerToken === undefined) throw new ApiError('UNAUTHORIZED', `${what} needs the job's owner token: swarm.job(id, ownerToken)`);
    return this.ownerToken;
  }

  /** GET /api/jobs/:id — the private view with an owner token, the public one without. */
  view(o: { signal?: AbortSignal } = {}): Promise<View> {
    return this.t.json<View>('GET', this.path(), { token: this.ownerToken, signal: o.signal });
  }

  /** The committed steps' metrics from step `from` on, and the job's status when they were read. */
  async metrics(from = 0, o: { signal?: AbortSignal } = {}): Promise<{ metrics: StepMetricsWire[]; status: JobStatus | undefined }> {
    const r = await this.t.json<{ metrics: StepMetricsWire[]; status?: JobStatus }>('GET', this.path('/metrics'), {
      token: this.ownerToken, query: from > 0 ? { from } : {}, signal: o.signal,
    });
    return { metrics: r.metrics.filter((m) => m.step >= from), status: r.status };
  }

  /**
   * Each committed step's metrics, in step order, each once; ends once the job is done,
   * stopped or failed and every committed step has been yielded. Polls
   * GET /api/jobs/:id/metrics?from=N, backing off while nothing new comes (bounded by
   * `maxIntervalMs`). A step rolled back and committed again is not yielded twice.
   */
  async *steps(o: StepsOptions = {}): AsyncGenerator<StepMetricsWire, void, undefined> {
    const fast = Math.max(10, o.intervalMs ?? 100);
    const slow = Math.max(fast, o.maxIntervalMs ?? 2000);
    let next = o.from ?? 0;
    let wait = fast;
    for (;;) {
      if (o.signal?.aborted) throw abortError(o.signal, `following job ${this.id}`);
      // the status comes with the metrics, read together: a final status means nothing more will come
      let { metrics, status } = await this.metrics(next, { signal: o.signal });
      status ??= (await this.view({ signal: o.signal })).status; // a server without the status field
      const fresh = metrics.filter((m) => m.step >= next).sort((a, b) => a.step - b.step);
      for (const m of fresh) {
        if (m.step < next) continue;
        next = m.step + 1;
        yield m;
      }
      if (isFinal(status)) return;
      wait = fresh.length ? fast : Math.min(slow, wait * 2);
      await sleep(wait, o.signal);
    }
  }

  /**
   * Polls the job until it is done (with its final weights, when `weights`), stopped or
   * failed, and returns that view. Throws ApiError TIMEOUT after `timeoutMs`, ABORTED on `signal`.
   */
  async waitUntilDone(o: WaitOptions = {}): Promise<View> {
    const timeoutMs = o.timeoutMs ?? 600_000;
    const wantWeights = o.weights ?? this.ownerToken !== undefined;
    const deadline = Date.now() + timeoutMs;
    const every = Math.max(10, o.intervalMs ?? 250);
    let last: View | undefined;
    for (;;) {
      if (o.signal?.aborted) throw abortError(o.signal, `waiting for job ${this.id}`);
      last = await this.view({ signal: o.signal });
      if (last.status === 'stopped' || last.status === 'failed') return last;
      if (last.status === 'done' && (!wantWeights || last.hasWeights || last.failure !== null)) return last;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ApiError('TIMEOUT', `waiting for job ${this.id} to finish timed out after ${timeoutMs} ms (at step ${last.step}/${last.steps}, status ${last.status}${last.status === 'done' ? ', final weights not in yet' : ''})`);
      }
      await sleep(Math.min(every, left), o.signal);
    }
  }

  /**
   * The final weights' test-set metrics, as the swarm evaluated them: every member that trained to
   * the end scored an equal part of the test set and the server summed the counts (exactly what
   * one process scoring those weights gets). Waits for the job to end (`waitUntilDone`'s options);
   * a job that stopped or failed has no final evaluation: ApiError WRONG_STATE.
   */
  async evaluate(o: WaitOptions = {}): Promise<{ task: View['task']; accuracy: number | null; mae: number | null; rmse: number | null }> {
    const v = await this.waitUntilDone(o);
    if (v.status !== 'done') throw new ApiError('WRONG_STATE', `job ${this.id} ended ${v.status}${v.failure ? ` (${v.failure})` : ''}: no final evaluation`);
    return { task: v.task, ...v.test };
  }

  private async control(action: 'pause' | 'resume' | 'stop'): Promise<{ status: JobStatus; step: number }> {
    return this.t.json('POST', this.path(`/${action}`), { token: this.owner(action) });
  }

  pause() {
    return this.control('pause');
  }

  resume() {
    return this.control('resume');
  }

  stop() {
    return this.control('stop');
  }

  /** The learning rate of the steps from the next one on. */
  setLearningRate(learningRate: number): Promise<{ learningRate: number; step: number }> {
    return this.t.json('POST', this.path('/learning-rate'), { token: this.owner('setLearningRate'), json: { learningRate } });
  }

  /**
   * The final trained weights (the flat trainable vector, replicas' order) of a done job.
   * While a done job's final weights are being agreed (WEIGHTS_PENDING) this retries for up to
   * `waitMs` (default 30 s); a job that is not done answers WEIGHTS_PENDING at once.
   */
  async weights(o: { waitMs?: number; signal?: AbortSignal } = {}): Promise<Float32Array> {
    const token = this.owner('weights');
    const deadline = Date.now() + (o.waitMs ?? 30_000);
    for (;;) {
      try {
        const r = await this.t.request('GET', this.path('/weights'), { token, signal: o.signal });
        return new Float32Array(await r.arrayBuffer());
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'WEIGHTS_PENDING') || Date.now() > deadline) throw e;
        if ((await this.view({ signal: o.signal })).status !== 'done') throw e;
        await sleep(200, o.signal);
      }
    }
  }

  /** model.json and weights.bin at the job's last commit (the final weights once it is done); hashes checked to match. */
  async artifacts(o: { signal?: AbortSignal } = {}): Promise<{ modelJson: ModelJson; weights: ArrayBuffer; step: number; paramHash: string }> {
    const token = this.owner('model');
    for (let attempt = 0; ; attempt++) {
      const mj = await this.t.request('GET', this.path('/model/model.json'), { token, signal: o.signal });
      const modelJson = (await mj.json()) as ModelJson;
      const wb = await this.t.request('GET', this.path('/model/weights.bin'), { token, signal: o.signal });
      const weights = await wb.arrayBuffer();
      const hash = mj.headers.get('x-tabswarm-hash') ?? '';
      // weights.bin serves the latest export: another model.json request in between may have moved it on
      if (hash === (wb.headers.get('x-tabswarm-hash') ?? '') || attempt >= 3) {
        if (hash !== (wb.headers.get('x-tabswarm-hash') ?? '')) throw new ApiError('HASH_MISMATCH', 'model.json and weights.bin kept describing different commits');
        return { modelJson, weights, step: Number(mj.headers.get('x-tabswarm-step') ?? -1), paramHash: hash };
      }
    }
  }

  /** The trained model as a tfjs LayersModel, loaded from the job's model.json + weights.bin. */
  async model(tf: TfLike, o: { signal?: AbortSignal } = {}): Promise<tfjs.LayersModel> {
    const { modelJson, weights } = await this.artifacts(o);
    const handler: tfjs.io.IOHandler = {
      load: async () => ({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
        weightData: weights,
        ...(modelJson.format !== undefined ? { format: modelJson.format } : {}),
        ...(modelJson.generatedBy !== undefined ? { generatedBy: modelJson.generatedBy } : {}),
        ...(modelJson.convertedBy != null ? { convertedBy: modelJson.convertedBy } : {}),
        ...(modelJson.userDefinedMetadata !== undefined ? { userDefinedMetadata: modelJson.userDefinedMetadata as Record<string, object> } : {}),
      }),
    };
    return tf.loadLayersModel(handler);
  }
}
