/**
 * The two votes a job holds on whole weights, as plain state with no clock and no I/O:
 *
 * - a checkpoint round: one active member (rotating) uploads its state at a step boundary,
 *   every other one reports the hash of its weights there; the upload is kept only when a
 *   strict majority of the members still alive holds its hash;
 * - the final round: at the end every member that trained to the last step reports the hash
 *   of its weights, one uploads them; they are served once a strict majority of the live
 *   finishers agrees. If the uploader goes before its upload lands, the next live finisher
 *   that agrees with the majority is asked.
 *
 * One dishonest member cannot plant the weights that rejoiners, a restarted server or the
 * job owner get.
 */
import type { Checkpoint } from './types.ts';

export type CheckpointOutcome = { kind: 'keep'; checkpoint: Checkpoint; agree: number; live: number } | { kind: 'discard'; evictUploader: boolean } | null;

export class CheckpointRound {
  readonly votes = new Map<string, string>();
  upload: Checkpoint | null = null;
  constructor(
    readonly step: number,
    readonly voters: ReadonlySet<string>,
    readonly uploader: string,
  ) {}

  vote(id: string, paramHash: string) {
    if (this.voters.has(id) && id !== this.uploader) this.votes.set(id, paramHash);
  }

  uploaded(cp: Checkpoint) {
    this.upload = cp;
    this.votes.set(this.uploader, cp.paramHash);
  }

  /** `alive`: voters still active. */
  settle(alive: (id: string) => boolean): CheckpointOutcome {
    const live = [...this.voters].filter(alive);
    if (this.upload) {
      const agree = [...this.votes].filter(([id, h]) => alive(id) && h === this.upload!.paramHash).length;
      if (agree * 2 > live.length) return { kind: 'keep', checkpoint: this.upload, agree, live: live.length };
    }
    if (live.every((v) => this.votes.has(v))) return { kind: 'discard', evictUploader: this.upload !== null };
    return null;
  }
}

export interface FinalWeights {
  step: number;
  paramHash: string;
  params: Float32Array;
  /** 'final': uploaded at the end and agreed; 'checkpoint': nobody who trained to the end was left to upload */
  source: 'final' | 'checkpoint';
}

export class FinalRound {
  readonly reports = new Map<string, { paramHash: string; testAccuracy: number | null }>();
  /** members asked to upload, in order; the last one is the current uploader */
  readonly asked: string[] = [];
  candidate: { paramHash: string; params: Float32Array; from: string } | null = null;
  constructor(
    readonly step: number,
    readonly finishers: ReadonlySet<string>,
  ) {}

  get uploader(): string | null {
    return this.asked.at(-1) ?? null;
  }

  report(id: string, paramHash: string, testAccuracy: number | null) {
    this.reports.set(id, { paramHash, testAccuracy });
  }

  /** The most reported hash among live finishers, with its count. */
  majority(alive: (id: string) => boolean): { paramHash: string; count: number } | null {
    const counts = new Map<string, number>();
    for (const [id, r] of this.reports) if (alive(id)) counts.set(r.paramHash, (counts.get(r.paramHash) ?? 0) + 1);
    let best: { paramHash: string; count: number } | null = null;
    for (const [paramHash, count] of counts) if (!best || count > best.count) best = { paramHash, count };
    return best;
  }

  /** The upload is served once a strict majority of live finishers reported its hash. */
  agreed(alive: (id: string) => boolean): boolean {
    const c = this.candidate;
    if (!c) return false;
    const live = [...this.finishers].filter(alive).length;
    const agree = [...this.reports].filter(([id, r]) => alive(id) && r.paramHash === c.paramHash).length;
    return agree * 2 > live;
  }

  /** Whom to ask next when the uploader went: a live finisher not asked yet, one agreeing with the majority first. */
  nextUploader(alive: (id: string) => boolean): string | null {
    const maj = this.majority(alive)?.paramHash;
    const open = [...this.finishers].filter((id) => alive(id) && !this.asked.includes(id));
    return open.find((id) => maj !== undefined && this.reports.get(id)?.paramHash === maj) ?? open.find((id) => !this.reports.has(id)) ?? open[0] ?? null;
  }
}
