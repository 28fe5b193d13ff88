/**
 * The one protocol module shared by the server and every client. Both directions are
 * discriminated unions keyed on `type`, sent on one socket.io event (`msg`), validated by
 * zod at every boundary. Bump PROTOCOL_VERSION on any incompatible change.
 */
import { z } from 'zod';
import { jobSpecSchema } from './jobSpec.ts';
import { parseWith } from './parse.ts';

export const PROTOCOL_VERSION = 6; // 4: shards, unit-failed, predict-model, unit, units-done, serve; regression sums in reduced/eval; 5: evalPart ranges; 6: masked exact frames between tabs (frame encoding 3; an older tab would refuse them)
export const MAX_PARAM_BYTES = 64 * 1024 * 1024;
export const MAX_STATE_BYTES = 3 * MAX_PARAM_BYTES + 4096;
/**
 * The largest socket.io message the server reads, from anyone (engine.io's limit is per
 * server, not per socket, and a stranger need not join to send). Large transfers — a
 * checkpoint's state, the final weights — go over an authenticated HTTP upload instead
 * (server/uploads.ts): only the member asked for them holds the one-time upload id.
 */
export const MAX_SOCKET_MESSAGE_BYTES = 256 * 1024;
/** an evaluation part names at most this many ranges of test samples */
export const EVAL_RANGES_MAX = 512;
/** a `shards` report names at most this many shards, each by its index in the dataset's list */
export const MAX_HELD_SHARDS = 4096;
export const MAX_SHARD_INDEX = 0xfffff;
/** one-time upload ids: 24 random bytes, base64url */
const uploadId = z.string().regex(/^[A-Za-z0-9_-]{32}$/);
const id = z.string().min(1).max(64);
const step = z.number().int().min(0).max(0xffffffff);
const epoch = z.number().int().min(0).max(0xffffffff);
const hash = z.string().regex(/^[0-9a-f]{16}$/);
const finite = z.number().finite();
/** Binary fields: Node's socket.io hands out Buffers, the browser's ArrayBuffers. */
const bytes = (max: number, what: string) =>
  z
    .union([z.instanceof(Uint8Array), z.instanceof(ArrayBuffer).transform((b) => new Uint8Array(b))])
    .refine((b) => b.byteLength <= max, `${what} too large`);
const stateBytes = bytes(MAX_STATE_BYTES, 'state');
const signalData = z
  .record(z.string(), z.unknown())
  .refine((d) => JSON.stringify(d).length <= 32 * 1024, 'signal data too large');

/**
 * Test samples scored and how many were right: whole numbers, summed exactly by the
 * coordinator; a regression job's parts also carry ∑ per-sample mean absolute and squared error
 * (shared/losses.ts), summed in float64 (equal to one process's sums up to rounding).
 */
const evalCounts = z.object({
  correct: z.number().int().min(0).max(0xffffffff),
  count: z.number().int().min(0).max(0xffffffff),
  absErr: z.number().finite().min(0).optional(),
  sqErr: z.number().finite().min(0).optional(),
});
export type EvalCounts = z.output<typeof evalCounts>;
/**
 * Part `index` of `of` parts of the test set: without `ranges`, the index-th of `of` equal
 * parts in sample order (every member holds the same test set); with `ranges`, exactly those
 * [start, end) ranges of test samples — for a stored dataset the coordinator hands each member
 * the test samples of shards it already holds (server/coordinator/evalParts.ts). Either way
 * the parts of one evaluation cover the test set once.
 */
export const evalPartSchema = z.object({
  index: z.number().int().min(0),
  of: z.number().int().min(1).max(4096),
  ranges: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([a, b]) => a < b, 'a range must be non-empty')).max(EVAL_RANGES_MAX).optional(),
}).refine((p) => p.index < p.of, 'index must be below of');
export type EvalPart = z.output<typeof evalPartSchema>;

/** The samples [start, end) of part `p` of a test set of `size`, as equal parts (`ranges` aside). */
export function evalRange(size: number, p: EvalPart): { start: number; end: number } {
  return { start: Math.floor((p.index * size) / p.of), end: Math.floor(((p.index + 1) * size) / p.of) };
}

/** The ranges of test samples part `p` scores, within a test set of `size`. */
export function evalRanges(size: number, p: EvalPart): { start: number; end: number }[] {
  if (!p.ranges) return [evalRange(size, p)];
  return p.ranges.map(([a, b]) => ({ start: Math.min(a, size), end: Math.min(b, size) })).filter((r) => r.end > r.start);
}

export const workerInfoSchema = z.object({
  backend: z.enum(['webgpu', 'webgl', 'wasm', 'cpu']),
  adapter: z.string().max(200).default(''),
  reason: z.string().max(500).default(''),
  calibration: z.record(z.string(), z.number()).default({}),
  userAgent: z.string().max(300).default(''),
});
export type WorkerInfo = z.output<typeof workerInfoSchema>;

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('join'), protocol: z.number().int(), jobId: id }),
  z.object({ type: z.literal('ready'), info: workerInfoSchema, samplesPerSec: finite.positive() }),
  z.object({ type: z.literal('signal'), to: id, data: signalData }),
  z.object({
    type: z.literal('reduced'),
    step,
    epoch,
    hash,
    /** hash of the parameters before this step's update */
    paramHash: hash,
    computeMs: finite.min(0),
    /** all-reduce time after the own gradient was complete (with overlap, the ring's part that compute did not hide) */
    allreduceMs: finite.min(0),
    loss: finite,
    correct: finite.min(0),
    count: finite.min(0),
    /** regression: the reduced ∑absErr and ∑sqErr slots (shared/losses.ts TAIL) */
    absErr: finite.min(0).optional(),
    sqErr: finite.min(0).optional(),
  }),
  z.object({
    type: z.literal('final'),
    step,
    paramHash: hash,
    /** this member's part of the test set, scored with the final weights (see `done.evalPart`) */
    eval: evalCounts.nullable(),
  }),
  /** this member's part of the test set, scored after committing `step` */
  z.object({ type: z.literal('eval'), step, ...evalCounts.shape }),
  z.object({
    type: z.literal('step-failed'),
    step,
    epoch,
    code: z.string().max(40),
    message: z.string().max(500),
    /** the neighbour whose link failed or stalled, when that is the cause */
    suspect: id.optional(),
  }),
  z.object({ type: z.literal('computed'), step, epoch, computeMs: finite.min(0) }),
  z.object({ type: z.literal('sync-sent'), step, to: id, paramHash: hash }),
  z.object({ type: z.literal('synced'), step, paramHash: hash }),
  z.object({ type: z.literal('param-hash'), step, paramHash: hash }),
  z.object({
    type: z.literal('heartbeat'),
    /** the link to the next rank, for the owner's members table */
    link: z.object({ peer: id, rttMs: finite.min(0).nullable(), relayed: z.boolean().nullable() }).optional(),
  }),
  z.object({
    type: z.literal('shards'),
    /** the indices (in the dataset's shard list) of the shards this worker holds in its cache */
    held: z.array(z.number().int().min(0).max(MAX_SHARD_INDEX)).max(MAX_HELD_SHARDS),
  }),
  z.object({ type: z.literal('leave') }),
  /** prediction jobs: the sender cannot compute this unit it was given (it goes to another member) */
  z.object({ type: z.literal('unit-failed'), unit: z.number().int().min(0).max(0xffffffff), code: z.string().max(40), message: z.string().max(500) }),
]);
export type ClientMessage = z.output<typeof clientMessageSchema>;

export const sliceSchema = z.object({ peerId: id, start: z.number().int().min(0), count: z.number().int().min(0) });

export const serverMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    protocol: z.number().int(),
    peerId: id,
    jobId: id,
    spec: jobSpecSchema,
    iceServers: z.array(z.record(z.string(), z.unknown())),
    heartbeatMs: z.number().int().positive(),
  }),
  /** to a donor: send your state after committing step-1 to the joiner `to` */
  z.object({ type: z.literal('sync-send'), step, to: id }),
  /** to a joiner: receive the state of `step` from `from` */
  z.object({ type: z.literal('sync-receive'), step, from: id }),
  /** to a joiner when no member can donate: the server's checkpoint */
  z.object({ type: z.literal('sync-state'), step, state: stateBytes }),
  /**
   * upload: PUT the whole state to /api/uploads/:uploadId; otherwise just report the hash of
   * your weights at `step` (a vote)
   */
  z.object({ type: z.literal('checkpoint-request'), step, upload: z.boolean().default(true), uploadId: uploadId.optional() }),
  z.object({
    type: z.literal('step'),
    step,
    epoch,
    ring: z.array(id),
    slices: z.array(sliceSchema),
    /** the learning rate this step's update uses (the owner may change it between steps) */
    learningRate: z.number().positive().max(10),
  }),
  /** with `evalPart`: score that part of the test set with the weights after this commit */
  z.object({ type: z.literal('commit'), step, epoch, evalPart: evalPartSchema.nullable() }),
  z.object({ type: z.literal('abort'), step, epoch, reason: z.string() }),
  z.object({ type: z.literal('signal'), from: id, data: signalData }),
  /** the job is finished: report `final`; with `uploadId`, also PUT the flat parameters to /api/uploads/:uploadId */
  z.object({ type: z.literal('done'), step, upload: z.boolean(), uploadId: uploadId.optional(), evalPart: evalPartSchema.nullable() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** prediction jobs: the model's weights (trainable, then non-trainable, as the replicas' state vector) */
  z.object({ type: z.literal('predict-model'), weights: stateBytes }),
  /**
   * prediction jobs: predict inputs [start, start+count) and PUT the outputs (float32,
   * little-endian, count × outputSize, in input order) to /api/uploads/:uploadId
   */
  z.object({ type: z.literal('unit'), unit: z.number().int().min(0), start: z.number().int().min(0), count: z.number().int().min(1), uploadId }),
  /** prediction jobs: every unit is settled; nothing more will come */
  z.object({ type: z.literal('units-done') }),
  /**
   * to an idle member of a finished training job: serve prediction job `jobId` (join it as a
   * fresh session). Sent by the server only (server/prediction/serveIdle.ts).
   */
  z.object({ type: z.literal('serve'), jobId: id }),
]);
export type ServerMessage = z.output<typeof serverMessageSchema>;

/** socket.io typed event maps: one event each way, carrying the unions above. */
export interface ClientToServerEvents {
  msg: (m: ClientMessage) => void;
}
export interface ServerToClientEvents {
  msg: (m: ServerMessage) => void;
}

export type { Parsed } from './parse.ts';

export const parseClientMessage = (raw: unknown) => parseWith(clientMessageSchema, raw);
export const parseServerMessage = (raw: unknown) => parseWith(serverMessageSchema, raw);
