/**
 * The ring this worker takes part in: links to its two neighbours, kept (with the ring on
 * them) while the coordinator's ring and epoch stay the same, rebuilt when they change.
 * Frames a neighbour sends for a later epoch before this worker has moved on are carried
 * from the old ring into the new one.
 */
import { TabswarmError } from '../../shared/errors.ts';
import { hashString32 } from '../../shared/hash.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import { EXTRA_SLOTS } from '../../shared/replica.ts';
import type { ErrorFeedback } from '../../shared/codec.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { paceForUplink } from '../../shared/allreduce/pacedLink.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import type { Mesh } from './sessionTypes.ts';

/** later-epoch frames kept for the next ring at most */
const MAX_CARRIED_BYTES = 64 * 1024 * 1024;

export interface RingLinksOptions {
  mesh: Mesh;
  jobId: string;
  spec: JobSpec;
  uplinkMbit?: number;
  /** no stated rate: estimate the uplink from the ring's own traffic and pace under it */
  autoPace?: boolean;
  /** residuals of a lossy gradient encoding, kept across ring epochs */
  feedback: ErrorFeedback;
  /** checks a neighbour's partial sum in the running step (see RingOptions.checkPartialSum) */
  checkPartialSum(round: number, offset: number, values: Float32Array): string | null;
}

export class RingLinks {
  private current: { epoch: number; key: string; ring: RingAllReduce } | null = null;
  private carried: Uint8Array[] = [];
  private carriedBytes = 0;
  /** the neighbour this worker sends to (whose link the heartbeat reports on); null alone */
  nextPeer: string | null = null;

  constructor(private readonly o: RingLinksOptions) {}

  /** The ring for `epoch` over `ring` (this worker at `rank`), connecting to new neighbours when it changed. */
  async ringFor(epoch: number, step: number, ring: string[], rank: number, signal: AbortSignal): Promise<RingAllReduce> {
    const key = ring.join(',');
    if (this.current && this.current.key === key && this.current.epoch === epoch) return this.current.ring;
    this.current?.ring.destroy(new TabswarmError('ABORTED', `ring epoch ${this.current.epoch} replaced`));
    this.current = null;
    const n = ring.length;
    const mesh = this.o.mesh;
    const prevId = ring[(rank - 1 + n) % n]!;
    const nextId = ring[(rank + 1) % n]!;
    mesh.retain(n > 1 ? [prevId, nextId] : []);
    this.nextPeer = n > 1 ? nextId : null;
    let prev: Link | null = null;
    let next: Link | null = null;
    if (n > 1) {
      const connect = (id: string) =>
        mesh.connect(id, { signal, timeoutMs: 20_000 }).catch((e: unknown) => {
          throw new TabswarmError(e instanceof TabswarmError ? e.code : 'LINK_FAILED', `connecting to ${id}: ${(e as Error).message}`, { peer: id });
        });
      [prev, next] = await Promise.all([connect(prevId), connect(nextId)]);
    }
    // A neighbour may already run this epoch and send frames the previous ring received:
    // they were set aside and are replayed into the new ring.
    const carried = this.carried;
    this.carried = [];
    this.carriedBytes = 0;
    const { spec } = this.o;
    const r = new RingAllReduce({
      jobTag: hashString32(this.o.jobId), epoch, rank, size: n, prev, next, chunkElems: spec.chunkBytes / 4,
      encoding: spec.encoding, exactTail: EXTRA_SLOTS, errorFeedback: this.o.feedback,
      ...(this.o.uplinkMbit ? { paceBytesPerSec: paceForUplink(this.o.uplinkMbit) } : this.o.autoPace ? { autoPace: true } : {}),
      firstStep: step,
      carriedFrames: carried,
      checkPartialSum: (round, offset, values) => this.o.checkPartialSum(round, offset, values),
      onFutureEpochFrame: (bytes) => this.carry(bytes),
    });
    this.current = { epoch, key, ring: r };
    return r;
  }

  /** Sets a later epoch's frame aside for the next ring (within MAX_CARRIED_BYTES). */
  private carry(bytes: Uint8Array) {
    if (this.carriedBytes + bytes.byteLength > MAX_CARRIED_BYTES) return;
    this.carried.push(bytes);
    this.carriedBytes += bytes.byteLength;
  }

  /** Fails the ring's running step with `err` and stops it listening. */
  destroy(err?: Error) {
    this.current?.ring.destroy(err);
  }
}
