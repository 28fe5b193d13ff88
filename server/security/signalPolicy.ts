/**
 * Who may send WebRTC signaling to whom. A member needs links only to its neighbours in the
 * current ring and, while it syncs, to its donor; so a signal is relayed only
 *   - between two members next to each other in the current ring epoch, or
 *   - between a syncing joiner and its donor.
 * Everything else — a member still joining, one that left or was dropped, a peer of another
 * job, itself — is refused exactly like an unknown peer, so membership does not leak.
 */
import type { Coordinator, Member } from '../coordinator.ts';
import { isGone } from '../memberState.ts';

export function signalAllowed(c: Pick<Coordinator, 'ring' | 'syncPartners'>, from: Pick<Member, 'id' | 'state'>, to: Pick<Member, 'id' | 'state'>): boolean {
  if (from.id === to.id || isGone(from.state) || isGone(to.state)) return false;
  const ring = c.ring;
  const i = ring.indexOf(from.id);
  const n = ring.length;
  if (i >= 0 && n > 1 && (ring[(i + 1) % n] === to.id || ring[(i - 1 + n) % n] === to.id)) return true;
  return c.syncPartners(from.id).includes(to.id);
}
