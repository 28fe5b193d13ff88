/**
 * A prediction job's part of the coordinator: members take work units, PUT their outputs to
 * a one-time upload id, and each settled unit is written once at its offset in input order.
 *
 * Why HTTP uploads and not a binary socket frame: a unit's outputs (unitSize × outputs × 4
 * bytes) can exceed the 256 KiB every socket message is capped at (one limit for every
 * socket, joined or not), and the one-time id already says who may send what: it is handed
 * only to the member the unit is assigned to, names that unit, works once, and its byte limit
 * is the unit's exact size, so a larger body is refused before it is read.
 *
 * Flow: ready → active (no state sync: the weights come in `predict-model`) → up to
 * `PREFETCH` units at a time → upload → quorum (quorum.ts) → settled copy written. A member
 * that goes away gives its units back (units.ts); an outvoted member is flagged and dropped.
 */
import type { Member } from '../coordinator/types.ts';
import { isGone } from '../memberState.ts';
import type { JobEvent, JobStatus } from '../coordinator/types.ts';
import type { JobSpec } from '../../shared/jobSpec.ts';
import type { ServerMessage } from '../../shared/protocol.ts';
import { DEFAULT_PREDICT } from './defaults.ts';
import type { OutputFile } from './outputFile.ts';
import { settle, type Copy } from './quorum.ts';
import { cutUnits, UnitBook } from './units.ts';

/** units a member holds at once: the next is computing while the last one uploads */
const PREFETCH = 2;
/** copies of one unit without a majority before the job gives up */
const MAX_COPIES = 5;

export interface PredictionSetup {
  /** the state vector every member loads: trainable weights, then non-trainable */
  weights: Float32Array;
  /** inputs (samples) */
  size: number;
  /** floats per output row (the model's output size) */
  outputSize: number;
  /** samples per stored shard, to align units with (0: none) */
  align: number;
  /** class ids of the inputs, when they are labelled (the accuracy of the gathered predictions) */
  labels: ArrayLike<number> | null;
  /** regression targets of the inputs (size × outputSize), when labelled so: the MAE and RMSE of the gathered predictions */
  targets?: Float32Array | null;
  output: OutputFile;
}

/** What the run needs of its coordinator. */
export interface PredictionHost {
  readonly spec: JobSpec;
  readonly members: Map<string, Member>;
  status: JobStatus;
  active(): Member[];
  send(id: string, msg: ServerMessage): void;
  activate(m: Member, how: string): void;
  event(kind: JobEvent['kind'], detail: string, peerId?: string): void;
  evict(ids: string | string[], why: string): void;
  fail(reason: string): void;
  uploadId(peerId: string, kind: 'unit', step: number): string;
  now(): number;
}

export interface PredictionProgress {
  samples: number;
  units: number;
  unitsDone: number;
  unitsPending: number;
  unitsAssigned: number;
  samplesDone: number;
  samplesPerSec: number;
  replicas: number;
  /** units whose copies disagreed */
  disagreements: number;
  /** members outvoted and dropped */
  flagged: number;
  /** units given back by members that went away or could not compute them, and reissued */
  reissued: number;
  correct: number | null;
  accuracy: number | null;
  /** regression targets: mean over samples of each sample's mean |error| over its outputs, and the root of the same for squared errors (shared/losses.ts) */
  mae: number | null;
  rmse: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export class PredictionRun {
  readonly book: UnitBook;
  private readonly copies = new Map<number, Copy[]>();
  private readonly assignedAt = new Map<string, number>();
  private readonly weightsBytes: Uint8Array<ArrayBuffer>;
  readonly options;
  private samplesDone = 0;
  private correct = 0;
  private absErr = 0;
  private sqErr = 0;
  private disagreements = 0;
  private flagged = 0;
  private reissued = 0;
  private startedAt: number | null = null;
  private finishedAt: number | null = null;

  constructor(private readonly host: PredictionHost, readonly setup: PredictionSetup) {
    this.options = host.spec.predict ?? DEFAULT_PREDICT;
    this.book = new UnitBook(cutUnits(setup.size, this.options.unitSize, setup.align), this.options.replicas);
    const w = setup.weights;
    this.weightsBytes = new Uint8Array(w.buffer as ArrayBuffer, w.byteOffset, w.byteLength);
  }

  /** The coordinator's step boundary: admit who is ready, hand out units, finish when all are settled. */
  advance() {
    const h = this.host;
    // a member that joined before the end and got ready after it is told too (it would wait forever)
    if (h.status === 'done') return this.tellDone();
    if (h.status === 'stopped' || h.status === 'failed' || h.status === 'paused') return;
    for (const m of h.members.values()) {
      if (m.state !== 'syncing') continue;
      h.activate(m, 'prediction: no state to sync');
      h.send(m.id, { type: 'predict-model', weights: this.weightsBytes });
    }
    if (this.book.finished) return this.finish();
    const act = h.active();
    if (act.length === 0) {
      if (h.status === 'running') {
        h.status = 'waiting';
        h.event('status', 'waiting: no active members');
      }
      return;
    }
    if (h.status === 'waiting') {
      if (act.length < h.spec.minWorkers && this.startedAt === null) return;
      h.status = 'running';
      h.event('status', `running: ${this.book.units.length} units of up to ${this.options.unitSize} samples, replicas ${this.options.replicas}`);
      this.startedAt ??= h.now();
    }
    for (const m of act) {
      let held = this.book.units.filter((u) => u.holders.has(m.id)).length;
      while (held < PREFETCH) {
        const u = this.book.next(m.id);
        if (!u) break;
        held++;
        this.assignedAt.set(`${m.id}/${u.index}`, h.now());
        h.send(m.id, { type: 'unit', unit: u.index, start: u.start, count: u.count, uploadId: h.uploadId(m.id, 'unit', u.index) });
      }
    }
  }

  /** The bytes a unit's upload must have, exactly. */
  unitBytes(index: number): number {
    const u = this.book.units[index];
    return u ? u.count * this.setup.outputSize * 4 : 0;
  }

  /**
   * A member's outputs for a unit (PUT /api/uploads/:id). false: not wanted from it (not
   * assigned to it now, already sent, the job over). A wrong size drops the member: an
   * honest worker cannot send it.
   */
  uploaded(peer: string, index: number, bytes: Uint8Array): boolean {
    const h = this.host;
    const m = h.members.get(peer);
    if (!m || m.state !== 'active' || !this.book.holds(peer, index)) return false;
    if (bytes.byteLength !== this.unitBytes(index)) {
      h.event('drop', `unit ${index}: sent ${bytes.byteLength} bytes, expected ${this.unitBytes(index)}`, peer);
      h.evict(peer, `outputs of the wrong size for unit ${index}`);
      return false;
    }
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    const u = this.book.units[index]!;
    const since = this.assignedAt.get(`${peer}/${index}`);
    this.assignedAt.delete(`${peer}/${index}`);
    if (since !== undefined && h.now() > since) {
      const sps = (u.count / (h.now() - since)) * 1000;
      m.samplesPerSec = m.samplesPerSec > 0 ? 0.7 * m.samplesPerSec + 0.3 * sps : sps;
    }
    m.samplesDone += u.count;
    m.stepsDone++;
    const copies = [...(this.copies.get(index) ?? []), { peer, backend: m.info?.backend ?? '?', out }];
    const v = settle(copies, this.options.replicas, this.options.tolerance);
    if (v.kind === 'open') {
      if (v.disputed && u.need <= copies.length) {
        if (copies.length >= MAX_COPIES) {
          h.fail(`unit ${index}: ${copies.length} copies and no majority agrees`);
          return true;
        }
        if (u.need === this.options.replicas) this.disagreements++;
        this.book.disputed(index);
        h.event('abort', `unit ${index}: copies of ${copies.map((c) => c.peer).join(', ')} disagree; asking another member`);
      }
      this.copies.set(index, copies);
      this.book.returned(peer, index, false);
    } else {
      this.copies.delete(index);
      this.book.returned(peer, index, true);
      this.store(index, v.winner.out);
      if (v.losers.length > 0) this.outvoted(v.losers, index);
    }
    queueMicrotask(() => this.advance());
    return true;
  }

  /** Its upload was refused before it was read (larger than the unit): dropped, like a wrong size. */
  refused(peer: string, index: number, why: string) {
    if (!this.book.holds(peer, index)) return;
    this.host.event('drop', `unit ${index}: upload refused (${why})`, peer);
    this.host.evict(peer, `outputs of the wrong size for unit ${index}`);
  }

  private store(index: number, out: Float32Array) {
    const u = this.book.units[index]!;
    this.setup.output.write(u.start, out);
    this.samplesDone += u.count;
    const k = this.setup.outputSize;
    const t = this.setup.targets;
    if (t) {
      for (let i = 0; i < u.count; i++) {
        let a = 0;
        let q = 0;
        for (let j = 0; j < k; j++) {
          const e = out[i * k + j]! - t[(u.start + i) * k + j]!;
          a += Math.abs(e);
          q += e * e;
        }
        this.absErr += a / k;
        this.sqErr += q / k;
      }
    }
    const y = this.setup.labels;
    if (!y) return;
    for (let i = 0; i < u.count; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (out[i * k + j]! > out[i * k + best]!) best = j;
      if (best === y[u.start + i]) this.correct++;
    }
  }

  /** Outvoted: flagged in the event log and the view, dropped, its copies of other unsettled units thrown out. */
  private outvoted(peers: string[], index: number) {
    for (const p of peers) {
      this.flagged++;
      this.host.event('drop', `flagged: its outputs for unit ${index} were outvoted`, p);
      this.dropCopies(p);
    }
    this.host.evict(peers, `outputs outvoted on unit ${index}`);
  }

  private dropCopies(peer: string) {
    for (const [i, cs] of this.copies) {
      const keep = cs.filter((c) => c.peer !== peer);
      if (keep.length !== cs.length) {
        if (keep.length === 0) this.copies.delete(i);
        else this.copies.set(i, keep);
      }
    }
    this.reissued += this.book.release(peer, { discard: true }).length;
  }

  /** Members that left or were dropped give their units back. */
  membersGone(ids: string[]) {
    for (const id of ids) {
      const back = this.book.release(id);
      this.reissued += back.length;
      if (back.length > 0) this.host.event('abort', `units ${back.join(', ')} of ${id} go to other members`);
    }
  }

  /** A member cannot compute a unit: it goes to someone else (the member stays). */
  unitFailed(peer: string, index: number, code: string, message: string) {
    const back = this.book.release(peer, { only: index });
    this.reissued += back.length;
    this.host.event('abort', `unit ${index} failed on ${peer} (${code}: ${message}); reissued`, peer);
    this.advance();
  }

  private readonly toldDone = new Set<string>();

  private finish() {
    const h = this.host;
    if (h.status === 'done') return;
    this.finishedAt = h.now();
    h.status = 'done';
    h.event('done', `predicted ${this.setup.size} samples in ${this.book.units.length} units`);
    this.tellDone();
  }

  /** 'units-done' once to every member still here, active or not yet (joining, loading the model). */
  private tellDone() {
    for (const m of this.host.members.values()) {
      if (isGone(m.state) || this.toldDone.has(m.id)) continue;
      this.toldDone.add(m.id);
      this.host.send(m.id, { type: 'units-done' });
    }
  }

  /** The server closes: the output file goes with it. Idempotent. */
  close() {
    this.setup.output.close(true);
  }

  progress(): PredictionProgress {
    const c = this.book.counts();
    const end = this.finishedAt ?? this.host.now();
    const secs = this.startedAt === null ? 0 : (end - this.startedAt) / 1000;
    const labelled = this.setup.labels !== null;
    const targets = !!this.setup.targets && this.samplesDone > 0;
    return {
      samples: this.setup.size, units: this.book.units.length, unitsDone: c.done, unitsPending: c.pending, unitsAssigned: c.assigned,
      samplesDone: this.samplesDone, samplesPerSec: secs > 0 ? this.samplesDone / secs : 0, replicas: this.options.replicas,
      disagreements: this.disagreements, flagged: this.flagged, reissued: this.reissued,
      correct: labelled ? this.correct : null, accuracy: labelled && this.samplesDone > 0 ? this.correct / this.samplesDone : null,
      mae: targets ? this.absErr / this.samplesDone : null, rmse: targets ? Math.sqrt(this.sqErr / this.samplesDone) : null,
      startedAt: this.startedAt, finishedAt: this.finishedAt,
    };
  }
}
