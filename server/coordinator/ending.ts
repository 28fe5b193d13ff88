/**
 * The end of a job: every member that trained to the last step reports the hash of its
 * weights (server/coordinator/votes.ts FinalRound), one of them uploads the weights
 * (PUT /api/uploads/:id), and they are served once a strict majority of the live finishers
 * agrees. Nothing is lost when members go at the end: an uploader that leaves is replaced by
 * the next finisher (one agreeing with the majority first); an upload the majority
 * contradicts evicts its sender; with no finisher left, the last agreed checkpoint is served
 * and the job says why.
 */
import { hashFloat32 } from '../../shared/hash.ts';
import type { EvalCounts, ServerMessage } from '../../shared/protocol.ts';
import { decodeState, stateVector } from '../../shared/stateCodec.ts';
import type { Checkpoint, JobEvent, Member, UploadKind } from './types.ts';
import { Evaluation } from './evaluation.ts';
import { FinalRound, type FinalWeights } from './votes.ts';

/** What the ending needs of its coordinator. */
export interface EndingHost {
  readonly members: ReadonlyMap<string, Member>;
  readonly checkpoint: Checkpoint | null;
  finalParams: FinalWeights | null;
  alive(id: string): boolean;
  send(id: string, m: ServerMessage): void;
  event(kind: JobEvent['kind'], detail: string, peerId?: string): void;
  evict(id: string, why: string): void;
  uploadId(peerId: string, kind: UploadKind, step: number): string;
  /** why the weights are not the final ones */
  failure: string | null;
  /** each finisher's ranges of test samples (a stored dataset: those in shards it holds); null: equal parts */
  evalParts(ids: readonly string[]): ReadonlyMap<string, [number, number][]> | null;
}

export class JobEnding {
  readonly round: FinalRound;
  /** the final weights scored across the finishers, one part of the test set each */
  readonly evaluation: Evaluation;
  constructor(
    private readonly host: EndingHost,
    readonly step: number,
    finishers: Member[],
    private readonly onParams: (step: number, paramHash: string, params: Float32Array) => void = () => {},
  ) {
    this.round = new FinalRound(step, new Set(finishers.map((m) => m.id)));
    const ids = finishers.map((m) => m.id);
    this.evaluation = new Evaluation(ids, host.evalParts(ids));
    const first = finishers[0];
    for (const m of finishers) if (m !== first) host.send(m.id, { type: 'done', step, upload: false, evalPart: this.evaluation.partOf(m.id) });
    if (first) this.ask(first.id);
    else this.fromCheckpoint('no member was active at the end');
  }

  private ask(id: string) {
    this.round.asked.push(id);
    this.host.send(id, { type: 'done', step: this.step, upload: true, uploadId: this.host.uploadId(id, 'final', this.step), evalPart: this.evaluation.partOf(id) });
  }

  /** A finisher's report: the hash of its weights after the last step (a vote) and its part of the evaluation. */
  report(id: string, step: number, paramHash: string, ev: EvalCounts | null) {
    const r = this.round;
    const m = this.host.members.get(id);
    if (!m || !r.finishers.has(id) || step !== r.step || r.reports.has(id)) return;
    // a regression part (it carries error sums) has no accuracy
    const testAccuracy = ev && ev.count > 0 && ev.absErr === undefined ? ev.correct / ev.count : null;
    if (ev) this.evaluation.report(id, ev);
    m.final = { paramHash, testAccuracy };
    r.report(id, paramHash, testAccuracy);
    this.settle();
  }

  /** The weights arrived from the member asked for them; false when they are no longer wanted from it. */
  uploaded(id: string, step: number, bytes: Uint8Array): boolean {
    const r = this.round;
    if (r.step !== step || r.uploader !== id || r.candidate || this.host.finalParams || !this.host.alive(id)) return false;
    if (bytes.byteLength % 4 !== 0) {
      this.host.evict(id, 'its final weights are not whole float32 values');
      return false;
    }
    const params = new Float32Array(Uint8Array.from(bytes).buffer);
    r.candidate = { paramHash: hashFloat32(params), params, from: id };
    this.settle();
    return true;
  }

  private settle() {
    const r = this.round;
    const h = this.host;
    if (h.finalParams) return;
    if (r.agreed(h.alive)) {
      const c = r.candidate!;
      h.finalParams = { step: r.step, paramHash: c.paramHash, params: c.params, source: 'final' };
      this.onParams(r.step, c.paramHash, c.params);
      h.event('done', `final weights of step ${r.step} (hash ${c.paramHash}) from ${c.from}`);
      return;
    }
    // an upload a strict majority contradicts is a lie: its sender goes, the next one is asked
    const maj = r.majority(h.alive);
    const live = [...r.finishers].filter(h.alive).length;
    if (r.candidate && maj && maj.count * 2 > live && maj.paramHash !== r.candidate.paramHash) {
      const liar = r.candidate.from;
      r.candidate = null;
      h.evict(liar, `its final weights differ from the majority's (${maj.paramHash})`);
    }
  }

  /** A member went: the vote may now be settled, or the upload must be asked of someone else. */
  memberGone() {
    const r = this.round;
    const h = this.host;
    if (h.finalParams) return;
    this.settle();
    if (h.finalParams) return;
    const up = r.uploader;
    if (up && h.alive(up) && (!r.candidate || r.candidate.from === up)) return;
    const next = r.nextUploader(h.alive);
    if (next) {
      h.event('done', `${up ?? 'the uploader'} left before its final weights were agreed: asking ${next}`);
      return this.ask(next);
    }
    this.fromCheckpoint('every member that trained to the end left before its weights were agreed');
  }

  private fromCheckpoint(why: string) {
    const h = this.host;
    if (h.finalParams) return;
    const cp = h.checkpoint;
    if (!cp) {
      const text = `no final weights: ${why}, and there is no checkpoint`;
      h.failure = text;
      h.event('done', text);
      return;
    }
    const st = decodeState(cp.state);
    const params = stateVector(st.params, st.buffers);
    const text = `final weights are the checkpoint of step ${cp.step}, not of step ${this.step}: ${why}`;
    h.failure = text;
    h.finalParams = { step: cp.step, paramHash: cp.paramHash, params, source: 'checkpoint' };
    h.event('done', text);
    this.onParams(cp.step, cp.paramHash, params);
  }
}
