/**
 * Checkpoints: at a step boundary one active member (rotating) uploads its whole state
 * (PUT /api/uploads/:id) and every other one reports the hash of its weights there. The
 * server decodes the upload and hashes it itself; it keeps it only when a strict majority of
 * the members still alive holds that hash (server/coordinator/votes.ts). A checkpoint is what
 * rejoiners and a restarted server resume from, so one member cannot plant it.
 */
import type { ServerMessage } from '../../shared/protocol.ts';
import { decodeState, stateHash } from '../../shared/stateCodec.ts';
import type { Checkpoint, JobEvent, Member, UploadKind } from './types.ts';
import { CheckpointRound } from './votes.ts';

export interface CheckpointHost {
  checkpoint: Checkpoint | null;
  active(): Member[];
  alive(id: string): boolean;
  send(id: string, m: ServerMessage): void;
  event(kind: JobEvent['kind'], detail: string, peerId?: string): void;
  evict(id: string, why: string): void;
  uploadId(peerId: string, kind: UploadKind, step: number): string;
}

export class CheckpointRounds {
  private round: CheckpointRound | null = null;
  private cursor = 0;
  constructor(
    private readonly host: CheckpointHost,
    private readonly onCheckpoint: (c: Checkpoint) => void = () => {},
  ) {}

  /** the open round, as the role table sees it */
  view() {
    const r = this.round;
    return r ? { step: r.step, voters: r.voters, voted: new Set(r.votes.keys()), uploader: r.uploader } : null;
  }

  get openStep(): number | null {
    return this.round?.step ?? null;
  }

  /** Opens a round at boundary `step`; false when nobody is active to ask. */
  ask(step: number): boolean {
    const h = this.host;
    const act = h.active();
    if (act.length === 0) return false;
    const uploader = act[this.cursor++ % act.length]!;
    this.round = new CheckpointRound(step, new Set(act.map((m) => m.id)), uploader.id);
    for (const m of act) {
      const up = m.id === uploader.id;
      h.send(m.id, { type: 'checkpoint-request', step, upload: up, ...(up ? { uploadId: h.uploadId(m.id, 'checkpoint', step) } : {}) });
    }
    return true;
  }

  vote(id: string, step: number, paramHash: string) {
    const r = this.round;
    if (!r || r.step !== step) return;
    r.vote(id, paramHash);
    this.settle();
  }

  /** The uploader's state arrived: it must decode, be of the round's step, and win the vote. */
  uploaded(id: string, step: number, state: Uint8Array): boolean {
    const r = this.round;
    if (!r || r.step !== step || r.uploader !== id || r.upload || !this.host.alive(id)) return false;
    let paramHash: string | null = null;
    try {
      const st = decodeState(state);
      // the hash every replica reports covers its non-trainable weights as well
      if (st.step === step) paramHash = stateHash(st);
    } catch {
      paramHash = null;
    }
    if (!paramHash) {
      this.round = null;
      this.host.evict(id, `its checkpoint of step ${step} does not decode as a state of that step`);
      return false;
    }
    r.uploaded({ step, paramHash, state: Uint8Array.from(state) });
    this.settle();
    return true;
  }

  /** Settles the open round if it can be (called again whenever a member goes). */
  settle() {
    const r = this.round;
    const h = this.host;
    if (!r) return;
    const out = r.settle(h.alive);
    if (!out) return;
    this.round = null;
    if (out.kind === 'keep') {
      if (h.checkpoint && h.checkpoint.step >= r.step) return;
      h.checkpoint = out.checkpoint;
      h.event('checkpoint', `checkpoint of step ${r.step} (hash ${out.checkpoint.paramHash}, ${out.checkpoint.state.byteLength} bytes, ${out.agree}/${out.live} agree)`, r.uploader);
      this.onCheckpoint(out.checkpoint);
      return;
    }
    h.event('checkpoint', `checkpoint of step ${r.step} discarded: no majority for the uploaded weights`);
    if (out.evictUploader) h.evict(r.uploader, `its checkpoint of step ${r.step} differs from the majority`);
  }
}
