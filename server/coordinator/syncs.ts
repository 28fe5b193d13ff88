/**
 * Joins: a member that reported ready is admitted at a step boundary once it holds exactly
 * the state the ring holds there. At step 0 that is the seeded initial weights (no sync); later
 * a rotating donor sends its state over a data channel, or, with nobody active, the server's
 * last checkpoint (training rolls back to it). The joiner is active once donor and joiner
 * report the same weights hash; a differing hash, a donor that goes or `syncTimeoutMs` ends
 * the attempt. While any sync runs, the coordinator holds the step boundary.
 */
import type { ServerMessage } from '../../shared/protocol.ts';
import type { DropReason } from '../memberState.ts';
import type { Checkpoint, JobEvent, Member } from './types.ts';

interface Sync {
  joiner: string;
  donor: string | 'server';
  step: number;
  startedAt: number;
  donorHash: string | null;
  joinerHash: string | null;
}

/** What the syncs need of their coordinator. */
export interface SyncHost {
  now(): number;
  readonly step: number;
  readonly checkpoint: Checkpoint | null;
  readonly members: ReadonlyMap<string, Member>;
  active(): Member[];
  send(id: string, m: ServerMessage): void;
  event(kind: JobEvent['kind'], detail: string, peerId?: string): void;
  activate(m: Member, how: string): void;
  remove(id: string, reason: DropReason): void;
  advance(): void;
  /** nobody holds the current step: go back to the last checkpoint */
  rollbackToCheckpoint(): void;
}

export class JoinSyncs {
  private readonly syncs = new Map<string, Sync>();
  private donorCursor = 0;
  constructor(private readonly host: SyncHost) {}

  get size() {
    return this.syncs.size;
  }

  /** Starts a sync for every syncing member that has none. */
  start() {
    const h = this.host;
    const joiners = [...h.members.values()].filter((m) => m.state === 'syncing' && !this.syncs.has(m.id));
    if (joiners.length === 0) return;
    const act = h.active();
    for (const j of joiners) {
      if (h.step === 0) {
        h.activate(j, 'seeded initial weights, no sync needed');
      } else if (act.length > 0) {
        const donor = act[this.donorCursor++ % act.length]!;
        this.syncs.set(j.id, { joiner: j.id, donor: donor.id, step: h.step, startedAt: h.now(), donorHash: null, joinerHash: null });
        h.event('sync', `state of step ${h.step} from ${donor.id}`, j.id);
        h.send(donor.id, { type: 'sync-send', step: h.step, to: j.id });
        h.send(j.id, { type: 'sync-receive', step: h.step, from: donor.id });
      } else {
        h.rollbackToCheckpoint();
        const cp = h.checkpoint;
        if (!cp) {
          h.activate(j, 'no checkpoint: restarting from the seeded initial weights');
        } else {
          this.syncs.set(j.id, { joiner: j.id, donor: 'server', step: cp.step, startedAt: h.now(), donorHash: cp.paramHash, joinerHash: null });
          h.event('sync', `state of step ${cp.step} from the server's checkpoint`, j.id);
          h.send(j.id, { type: 'sync-state', step: cp.step, state: cp.state });
        }
        act.push(...h.active());
      }
    }
  }

  /** The running sync of joiner `id`, as the role table sees it. */
  of(id: string) {
    const s = this.syncs.get(id);
    if (!s) return undefined;
    return { donor: s.donor === 'server' ? '' : s.donor, step: s.step, joinerReported: s.joinerHash !== null, donorReported: s.donor === 'server' || s.donorHash !== null };
  }

  /** The other end of a running state sync (donor of a joiner, or a joiner of a donor). */
  partners(id: string): string[] {
    const out: string[] = [];
    for (const s of this.syncs.values()) {
      if (s.joiner === id && s.donor !== 'server') out.push(s.donor);
      if (s.donor === id) out.push(s.joiner);
    }
    return out;
  }

  sent(id: string, step: number, to: string, paramHash: string) {
    const s = this.syncs.get(to);
    if (!s || s.donor !== id || s.step !== step) return;
    s.donorHash = paramHash;
    this.check(s);
  }

  synced(id: string, step: number, paramHash: string) {
    const s = this.syncs.get(id);
    if (!s || s.step !== step) return;
    s.joinerHash = paramHash;
    this.check(s);
  }

  private check(s: Sync) {
    if (!s.donorHash || !s.joinerHash) return;
    this.syncs.delete(s.joiner);
    const j = this.host.members.get(s.joiner)!;
    if (s.donorHash !== s.joinerHash) return this.host.remove(j.id, 'sync-failed');
    this.host.activate(j, `synced from ${s.donor === 'server' ? 'checkpoint' : s.donor} (hash ${s.joinerHash})`);
    this.host.advance();
  }

  /** `id` is gone: its own sync ends, and syncs it donated to restart with another donor. */
  forget(id: string) {
    this.syncs.delete(id);
    for (const [j, s] of this.syncs) if (s.donor === id) this.syncs.delete(j);
  }

  /** Joiners whose sync has run longer than `timeoutMs`. */
  overdue(now: number, timeoutMs: number): string[] {
    return [...this.syncs.values()].filter((s) => now - s.startedAt > timeoutMs).map((s) => s.joiner);
  }

  /** The server stood still for `ms`: no sync is judged on that time. */
  postpone(ms: number) {
    for (const s of this.syncs.values()) s.startedAt += ms;
  }
}
