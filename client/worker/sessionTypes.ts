/**
 * What a worker session is given (SessionDeps: socket, mesh, backend choice, hooks), what it
 * shows (SessionView), and what its parts share: the loaded job and one way to speak and show.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Dataset, DatasetSource } from '../../shared/datasets.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import type { Optimizer } from '../../shared/optimizer.ts';
import type { ClientMessage, WorkerInfo } from '../../shared/protocol.ts';
import type { Replica } from '../../shared/replica.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import type { SamplePlan } from '../../shared/shardPlan.ts';
import type { DataFeed, FeedStats } from './dataFeed.ts';
import type { FeedOptions } from './openFeed.ts';

export type WorkerState = 'connecting' | 'loading' | 'calibrating' | 'waiting' | 'syncing' | 'training' | 'done' | 'left' | 'dropped' | 'error';

/** Points a test (or a curious volunteer's devtools) can observe; awaited, so it can hold a phase. */
export type HookPoint = 'compute' | 'allreduce' | 'reduced';

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
  /** what reading the dataset cost so far (bytes fetched, cache hits, memory) */
  feed: FeedStats | null;
  /** what this tab's all-reduces sent so far, and what dense frames would have been (exact chunks' +0.0 values are left out) */
  wire: { sentBytes: number; denseBytes: number } | null;
  /** the schedule of the last step's all-reduce ('ring', 'halving-doubling'; scheduleChoice.ts) */
  allReduce?: string;
}

export interface SessionDeps {
  tf: typeof tfjs;
  socket: SocketLike;
  datasets: DatasetSource;
  /** how a stored dataset's shards are fetched and cached (client/worker/openFeed.ts) */
  feed?: FeedOptions;
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
  onPhase?(phase: HookPoint, step: number, vec: Float32Array): Promise<void> | void;
  /** start the all-reduce while the gradient is still computed and read back (default true) */
  overlap?: boolean;
  /** this host's uplink rate, Mbit/s: the ring paces what it sends under it (see PacedLink) */
  uplinkMbit?: number;
  /** without `uplinkMbit`: pace automatically, once the next rank reports a standing queue (page `?uplink=auto`) */
  autoPace?: boolean;
  /** vectors up to this many bytes run arc-tree (default LATENCY_SCHEDULE_MAX_BYTES; `?latency=ring`: 0, the ring always) */
  latencyMaxBytes?: number;
  /** false: this tab sends every exact frame dense (`?zeros=dense`, benchmarks; tabs may differ) */
  maskZeros?: boolean;
  /** the session ended; `state` says whether trying again makes sense (done: no) */
  onEnd?(state: WorkerState, reason: string): void;
  /** the server asks this idle (finished) training session to serve prediction job `jobId`: the page joins it as a fresh session */
  onServe?(jobId: string): void;
  /** PUTs a checkpoint or the final weights to the server's /api/uploads/:uploadId */
  upload(uploadId: string, bytes: Uint8Array): Promise<void>;
}

/** How a session's parts show progress and speak to the server (nothing is sent once it is destroyed). */
export interface SessionIO {
  readonly d: SessionDeps;
  readonly view: Readonly<SessionView>;
  set(patch: Partial<SessionView>): void;
  send(m: ClientMessage): void;
}

/** The job a session trains once started; loading a donor's state replaces the optimizer. */
export interface LoadedJob {
  readonly spec: JobSpec;
  readonly replica: Replica;
  optimizer: Optimizer;
  /** the samples: the train and test splits, read as needed */
  readonly feed: DataFeed;
  readonly plan: SamplePlan;
  readonly mesh: Mesh;
}
