/**
 * Who may send WebRTC signaling to whom. A member needs links only to its neighbours in the
 * current ring and, while it syncs, to its donor; so a signal is relayed only
 *   - between two members of the current ring epoch, or
 *   - between a syncing joiner and an active member (the coordinator keeps the donor of each
 *     sync to itself, so any active member counts as a possible donor).
 * Everything else — a member still joining, one that left or was dropped, a peer of another
 * job, itself — is refused exactly like an unknown peer, so membership does not leak.
 */
import type { Coordinator, Member } from '../coordinator.ts';
import { isGone } from '../memberState.ts';

export function signalAllowed(c: Pick<Coordinator, 'ring'>, from: Pick<Member, 'id' | 'state'>, to: Pick<Member, 'id' | 'state'>): boolean {
  if (from.id === to.id || isGone(from.state) || isGone(to.state)) return false;
  if (c.ring.includes(from.id) && c.ring.includes(to.id)) return true;
  const syncPair = (a: Pick<Member, 'state'>, b: Pick<Member, 'state'>) => a.state === 'syncing' && b.state === 'active';
  return syncPair(from, to) || syncPair(to, from);
}
