/**
 * What a volunteer's dashboard row shows about a link: round-trip time of the selected ICE
 * candidate pair and whether it goes through a TURN relay, read from RTCPeerConnection.getStats().
 */
import type { PeerInstance } from './peerLink.ts';

export interface LinkStats {
  rttMs: number | null;
  relayed: boolean | null;
  /** candidate types of the selected pair ('host', 'srflx', 'prflx', 'relay'), when known */
  localType?: string | null;
  remoteType?: string | null;
}

interface StatsLike {
  forEach(cb: (r: Record<string, unknown>) => void): void;
}

export async function linkStats(peer: PeerInstance): Promise<LinkStats | null> {
  // simple-peer keeps its RTCPeerConnection in the undocumented `_pc` field
  const pc = (peer as unknown as { _pc?: { getStats?: () => Promise<StatsLike> } })._pc;
  if (!pc?.getStats) return null;
  let stats: StatsLike;
  try {
    stats = await pc.getStats();
  } catch {
    return null;
  }
  const reports = new Map<string, Record<string, unknown>>();
  stats.forEach((r) => reports.set(String(r.id), r));
  let pair: Record<string, unknown> | undefined;
  for (const r of reports.values()) {
    if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') pair = reports.get(r.selectedCandidatePairId);
  }
  pair ??= [...reports.values()].find((r) => r.type === 'candidate-pair' && (r.selected === true || (r.nominated === true && r.state === 'succeeded')));
  if (!pair) return null;
  const rtt = typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
  const local = reports.get(String(pair.localCandidateId));
  const remote = reports.get(String(pair.remoteCandidateId));
  const types = [local?.candidateType, remote?.candidateType].filter((t) => typeof t === 'string');
  const type = (c: Record<string, unknown> | undefined) => (typeof c?.candidateType === 'string' ? c.candidateType : null);
  return { rttMs: rtt, relayed: types.length ? types.includes('relay') : null, localType: type(local), remoteType: type(remote) };
}
