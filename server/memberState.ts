/**
 * A member's life in a job, as one explicit state machine:
 *   joining → syncing → active → left | dropped   (and joining/syncing → left | dropped)
 * `transition` is the only place a state changes; an illegal move is an error, not a no-op.
 */
export type MemberState = 'joining' | 'syncing' | 'active' | 'left' | 'dropped';

export type MemberEvent =
  | { type: 'ready' }
  | { type: 'synced' }
  | { type: 'leave' }
  | { type: 'drop'; reason: DropReason };

export type DropReason =
  | 'disconnect'
  | 'heartbeat-timeout'
  | 'link-failed'
  | 'step-deadline'
  | 'sync-failed'
  | 'evicted'
  /** it reported that it could not do its part of a step (no neighbour to blame) */
  | 'step-failed'
  /** it accused a ring neighbour: an accusation costs the accuser its place (it may rejoin) */
  | 'accuser'
  /** the job failed or was quarantined */
  | 'job-failed'
  /** too many messages outside its role */
  | 'violations';

export function transition(state: MemberState, ev: MemberEvent): MemberState {
  switch (state) {
    case 'joining':
      if (ev.type === 'ready') return 'syncing';
      break;
    case 'syncing':
      if (ev.type === 'synced') return 'active';
      break;
    case 'active':
      break;
    case 'left':
    case 'dropped':
      throw new Error(`member already ${state}; cannot ${ev.type}`);
  }
  if (ev.type === 'leave') return 'left';
  if (ev.type === 'drop') return 'dropped';
  throw new Error(`illegal member transition: ${ev.type} while ${state}`);
}

export const isGone = (s: MemberState) => s === 'left' || s === 'dropped';
