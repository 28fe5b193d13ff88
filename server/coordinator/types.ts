/**
 * What a job's coordinator is made of and talks in: members, metrics, events, checkpoints,
 * options and the hooks it rings. Shared by the coordinator's parts, the store and the views.
 */
import type { ServerMessage, WorkerInfo } from '../../shared/protocol.ts';
import { DEFAULT_DEADLINE, type DeadlineOptions } from '../deadline.ts';
import type { PredictionSetup } from '../prediction/run.ts';
import type { DropReason, MemberState } from '../memberState.ts';

export type JobStatus = 'waiting' | 'running' | 'paused' | 'done' | 'stopped' | 'failed';

export interface MemberHandle {
  send(m: ServerMessage): void;
  /** `cause`: the drop reason, when the coordinator dropped the member (the socket layer may act on it) */
  disconnect(reason: string, cause?: DropReason): void;
}

export interface Member {
  id: string;
  state: MemberState;
  handle: MemberHandle;
  joinedAt: number;
  lastSeen: number;
  info: WorkerInfo | null;
  /** slice weight: the claim at ready (clamped), then what the server measured */
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
  /** a regression job's train MAE and RMSE over the step's batch (accuracy is 0 then) */
  mae?: number;
  rmse?: number;
  /** a regression job's test MAE and RMSE from a distributed evaluation */
  testMae?: number;
  testRmse?: number;
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
  /** events kept in memory (the store keeps more, compacted) */
  maxEvents: number;
  /** members that left or were dropped kept for the views; older ones are forgotten */
  maxGoneMembers: number;
}

export const DEFAULT_COORDINATOR_OPTIONS: CoordinatorOptions = {
  ringFormationMs: 20_000, heartbeatMs: 2_000, heartbeatTimeoutMs: 10_000, syncTimeoutMs: 30_000, deadline: DEFAULT_DEADLINE,
  maxEvents: 1_000, maxGoneMembers: 200,
};


/** `unit`: a prediction unit's outputs (its index as `step`) */
export type UploadKind = 'checkpoint' | 'final' | 'unit';

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
  /** an internal error quarantined the job */
  onFailure?: (reason: string, err: unknown) => void;
  /** a one-time id the member PUTs its upload to (server/uploads.ts); absent: a counter (unit tests) */
  offerUpload?: (o: { peerId: string; kind: UploadKind; step: number }) => string;
  /** a stored dataset's shard layout: slices then follow the shards members hold (coordinator/shardHoldings.ts) */
  shards?: import('./shardHoldings.ts').ShardLayout;
  /** a restarted server hands back the job's last checkpoint */
  restore?: { checkpoint: Checkpoint | null; metrics: StepMetrics[] };
  /** a prediction job's weights, inputs and output file (server/prediction/) */
  prediction?: PredictionSetup;
}
