/**
 * The all-reduce this worker takes part in: links to the ring members it exchanges data
 * with, kept (with the all-reduce on them) while the coordinator's ring and epoch stay the
 * same, rebuilt when they change. Which schedule runs — the ring, or arc-tree for small
 * vectors — is workerSchedule's deterministic choice (shared/allreduce/scheduleChoice.ts):
 * every member makes the same one. Frames a partner sends for a later epoch before this
 * worker has moved on are carried from the old all-reduce into the new one.
 */
import { TabswarmError } from '../../shared/errors.ts';
import { hashString32 } from '../../shared/hash.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { EXTRA_SLOTS } from '../../shared/replica.ts';
import type { ErrorFeedback } from '../../shared/codec.ts';
import type { InputGate } from '../../shared/allreduce/inputGate.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { LatencyAllReduce } from '../../shared/allreduce/latencyAllReduce.ts';
import { paceForUplink } from '../../shared/allreduce/pacedLink.ts';
import { RingAllReduce, type RingStats } from '../../shared/allreduce/ring.ts';
import { workerSchedule, type WorkerSchedule } from '../../shared/allreduce/scheduleChoice.ts';
import type { Mesh } from './sessionTypes.ts';

/** later-epoch frames kept for the next all-reduce at most */
const MAX_CARRIED_BYTES = 64 * 1024 * 1024;

export interface RingLinksOptions {
  mesh: Mesh;
  jobId: string;
  spec: JobSpec;
  /** values in the vector every step reduces (picks the schedule) */
  vectorLength: number;
  uplinkMbit?: number;
  /** no stated rate: estimate the uplink from the ring's own traffic and pace under it */
  autoPace?: boolean;
  /** vectors up to this many bytes run arc-tree (default LATENCY_SCHEDULE_MAX_BYTES) */
  latencyMaxBytes?: number;
  /** false: frames always dense (page `?zeros=dense`) */
  maskZeros?: boolean;
  /** residuals of a lossy gradient encoding, kept across ring epochs */
  feedback: ErrorFeedback;
  /** checks a neighbour's partial sum in the running step (see RingOptions.checkPartialSum) */
  checkPartialSum(round: number, offset: number, values: Float32Array): string | null;
  /** checks a partial sum holding the contributions of these ring positions (latency schedules) */
  checkSum(positions: readonly number[], offset: number, values: Float32Array): string | null;
}

/** What a step runs its all-reduce on: the ring, or a latency schedule. */
export interface AllReducer {
  readonly schedule: WorkerSchedule['kind'];
  allReduce(step: number, vec: Float32Array, opts: { signal?: AbortSignal; timeoutMs?: number; input?: InputGate }): Promise<RingStats>;
  destroy(err?: Error): void;
}

type Carried = { from: string; bytes: Uint8Array };

export class RingLinks {
  private current: { epoch: number; key: string; reducer: AllReducer } | null = null;
  private carried: Carried[] = [];
  private carriedBytes = 0;
  /** the neighbour this worker sends to (whose link the heartbeat reports on); null alone */
  nextPeer: string | null = null;

  constructor(private readonly o: RingLinksOptions) {}

  /** The all-reduce for `epoch` over `ring` (this worker at `rank`), connecting to new partners when it changed. */
  async ringFor(epoch: number, step: number, ring: string[], rank: number, signal: AbortSignal): Promise<AllReducer> {
    const key = ring.join(',');
    if (this.current && this.current.key === key && this.current.epoch === epoch) return this.current.reducer;
    this.current?.reducer.destroy(new TabswarmError('ABORTED', `ring epoch ${this.current.epoch} replaced`));
    this.current = null;
    const n = ring.length;
    const { spec, mesh } = this.o;
    const sched = workerSchedule(this.o.vectorLength * 4, n, spec.encoding, this.o.latencyMaxBytes);
    const prevId = ring[(rank - 1 + n) % n]!;
    const nextId = ring[(rank + 1) % n]!;
    // Both ring neighbours, whatever the schedule: arc-tree leaves one hop of the ring unused
    // (positions ⌈(N−1)/2⌉ and the next), but the heartbeat measures every member's link to its
    // next neighbour (ring order, the dashboard's direct/relayed column), and a link kept up
    // does not have to be made when the next epoch's schedule needs it.
    const partners = n > 1 ? [prevId, nextId] : [];
    mesh.retain(partners);
    this.nextPeer = n > 1 ? nextId : null;
    const connect = (id: string) =>
      mesh.connect(id, { signal, timeoutMs: 20_000 }).catch((e: unknown) => {
        throw new TabswarmError(e instanceof TabswarmError ? e.code : 'LINK_FAILED', `connecting to ${id}: ${(e as Error).message}`, { peer: id });
      });
    const links = new Map<string, Link>();
    await Promise.all([...new Set(partners)].map(async (id) => links.set(id, await connect(id))));
    // A partner may already run this epoch and send frames the previous all-reduce received:
    // they were set aside and are replayed into the new one.
    const carried = this.carried;
    this.carried = [];
    this.carriedBytes = 0;
    const jobTag = hashString32(this.o.jobId);
    let reducer: AllReducer;
    if (sched.kind === 'ring') {
      const r = new RingAllReduce({
        jobTag, epoch, rank, size: n, prev: links.get(prevId) ?? null, next: links.get(nextId) ?? null, chunkElems: spec.chunkBytes / 4,
        encoding: spec.encoding, exactTail: EXTRA_SLOTS, errorFeedback: this.o.feedback, maskZeros: this.o.maskZeros,
        ...(this.o.uplinkMbit ? { paceBytesPerSec: paceForUplink(this.o.uplinkMbit) } : this.o.autoPace ? { autoPace: true } : {}),
        firstStep: step,
        // a ring hears only its predecessor
        carriedFrames: carried.filter((c) => c.from === prevId).map((c) => c.bytes),
        checkPartialSum: (round, offset, values) => this.o.checkPartialSum(round, offset, values),
        onFutureEpochFrame: (bytes) => this.carry(prevId, bytes),
      });
      reducer = Object.assign(r, { schedule: 'ring' as const });
    } else {
      const posOf = new Map(sched.rankAt.map((r, i) => [r, i]));
      const idAtRank = (r: number) => ring[posOf.get(r)!]!;
      const rankOf = new Map(ring.map((id, i) => [id, sched.rankAt[i]!]));
      const l = new LatencyAllReduce({
        jobTag, epoch, rank: sched.rankAt[rank]!, size: n, algorithm: sched.kind,
        links: Array.from({ length: n }, (_, r) => links.get(idAtRank(r)) ?? null),
        // lanes of one frame: a chain schedule pipelines, and each lane starts once its part of the gradient is in
        chunkElems: spec.chunkBytes / 4,
        pipelineElems: spec.chunkBytes / 4,
        maskZeros: this.o.maskZeros,
        firstStep: step,
        carriedFrames: carried.filter((c) => rankOf.has(c.from)).map((c) => ({ from: rankOf.get(c.from)!, bytes: c.bytes })),
        checkSum: (ranks, offset, values) => this.o.checkSum(ranks.map((r) => posOf.get(r)!), offset, values),
        onFutureEpochFrame: (from, bytes) => this.carry(idAtRank(from), bytes),
      });
      reducer = Object.assign(l, { schedule: sched.kind });
    }
    this.current = { epoch, key, reducer };
    return reducer;
  }

  /** Sets a later epoch's frame aside for the next all-reduce (within MAX_CARRIED_BYTES). */
  private carry(from: string, bytes: Uint8Array) {
    if (this.carriedBytes + bytes.byteLength > MAX_CARRIED_BYTES) return;
    this.carried.push({ from, bytes });
    this.carriedBytes += bytes.byteLength;
  }

  /** Fails the running step with `err` and stops the all-reduce listening. */
  destroy(err?: Error) {
    this.current?.reducer.destroy(err);
  }
}
