/**
 * The job owner's live feed: the socket.io namespace `/dashboard`. One event (`msg`) each
 * way carrying a discriminated union, validated with zod on both ends.
 *
 * A client subscribes to one job, with the owner token or without. Everybody gets the public
 * summary (what a volunteer's join link reveals anyway); only the owner gets the private
 * view — per-step metrics, the event log, the member table, the ring — first as a snapshot
 * of the whole stored history, then as live increments.
 */
import { z } from 'zod';
import { parseWith } from './parse.ts';

export const DASHBOARD_NAMESPACE = '/dashboard';

const id = z.string().min(1).max(64);
const jobStatus = z.enum(['waiting', 'running', 'paused', 'done', 'stopped', 'failed']);

export const publicSummarySchema = z.object({
  id,
  name: z.string(),
  status: jobStatus,
  /** why a job failed (status 'failed') or why its weights are not the last step's */
  failure: z.string().nullable(),
  step: z.number().int().min(0),
  steps: z.number().int().min(0),
  dataset: z.string(),
  /** members currently in the ring or joining it */
  activeMembers: z.number().int().min(0),
  /** trainable parameters: the all-reduced vector is ringVectorBytes(paramCount) (shared/allreduce/bandwidth.ts) */
  paramCount: z.number().int().min(0),
  /** what the metrics measure: accuracy (classification, binary) or MAE/RMSE (regression) */
  task: z.enum(['classification', 'binary', 'regression']).default('classification'),
  /** e.g. "Sequential: Dense(16, relu) → Dense(3, softmax)" */
  model: z.string(),
});
export type PublicSummary = z.output<typeof publicSummarySchema>;

export const stepMetricsSchema = z.object({
  step: z.number().int().min(0),
  epoch: z.number().int().min(0),
  members: z.number().int().min(0),
  loss: z.number(),
  accuracy: z.number(),
  samples: z.number(),
  stepMs: z.number(),
  computeMs: z.number(),
  allreduceMs: z.number(),
  at: z.number(),
  testAccuracy: z.number().optional(),
  /** a regression job's metrics (shared/losses.ts): train MAE/RMSE of the step's batch, test MAE/RMSE of an evaluation */
  mae: z.number().optional(),
  rmse: z.number().optional(),
  testMae: z.number().optional(),
  testRmse: z.number().optional(),
});
export type StepMetricsWire = z.output<typeof stepMetricsSchema>;

export const jobEventSchema = z.object({
  at: z.number(),
  kind: z.string(),
  peerId: z.string().optional(),
  detail: z.string(),
});
export type JobEventWire = z.output<typeof jobEventSchema>;

export const memberRowSchema = z.object({
  id,
  state: z.enum(['joining', 'syncing', 'active', 'left', 'dropped']),
  backend: z.string().nullable(),
  adapter: z.string().nullable(),
  /** why the worker chose its backend (its calibration figures, a missing WebGPU adapter…) */
  reason: z.string().nullable(),
  /** why it left or was dropped */
  goneReason: z.string().nullable(),
  samplesPerSec: z.number(),
  /** fraction of the global batch its next slice holds (0 when not in the ring) */
  share: z.number(),
  samplesDone: z.number(),
  stepsDone: z.number(),
  /** link round-trip time and kind; null until workers report them */
  rttMs: z.number().nullable(),
  link: z.enum(['direct', 'relayed']).nullable(),
  joinedAt: z.number(),
});
export type MemberRow = z.output<typeof memberRowSchema>;

export const privateViewSchema = z.object({
  spec: z.record(z.string(), z.unknown()),
  learningRate: z.number(),
  epoch: z.number().int().min(0),
  ring: z.array(id),
  members: z.array(memberRowSchema),
  metrics: z.array(stepMetricsSchema),
  events: z.array(jobEventSchema),
  checkpointStep: z.number().int().nullable(),
  hasFinalWeights: z.boolean(),
});
export type PrivateView = z.output<typeof privateViewSchema>;

export const dashboardClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), jobId: id, token: z.string().min(1).max(200).optional() }),
  z.object({ type: z.literal('unsubscribe') }),
]);
export type DashboardClientMessage = z.output<typeof dashboardClientMessageSchema>;

export const dashboardServerMessageSchema = z.discriminatedUnion('type', [
  /** the whole state; `private` only for the owner */
  z.object({ type: z.literal('snapshot'), access: z.enum(['owner', 'public']), job: publicSummarySchema, private: privateViewSchema.optional() }),
  z.object({ type: z.literal('summary'), job: publicSummarySchema }),
  /** owner: new steps (in order) */
  z.object({ type: z.literal('metrics'), metrics: z.array(stepMetricsSchema) }),
  /** owner: a test evaluation arrived for an already-sent step */
  z.object({ type: z.literal('eval'), step: z.number().int().min(0), testAccuracy: z.number(), testMae: z.number().optional(), testRmse: z.number().optional() }),
  z.object({ type: z.literal('events'), events: z.array(jobEventSchema) }),
  z.object({
    type: z.literal('members'),
    members: z.array(memberRowSchema),
    ring: z.array(id),
    epoch: z.number().int().min(0),
    learningRate: z.number(),
    checkpointStep: z.number().int().nullable(),
    hasFinalWeights: z.boolean(),
  }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type DashboardServerMessage = z.output<typeof dashboardServerMessageSchema>;

export interface DashboardClientEvents {
  msg: (m: DashboardClientMessage) => void;
}
export interface DashboardServerEvents {
  msg: (m: DashboardServerMessage) => void;
}

export const parseDashboardClientMessage = (raw: unknown) => parseWith(dashboardClientMessageSchema, raw);
export const parseDashboardServerMessage = (raw: unknown) => parseWith(dashboardServerMessageSchema, raw);
