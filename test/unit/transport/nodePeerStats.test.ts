/**
 * node-datachannel's polyfill puts libdatachannel's rtt() — milliseconds — into the candidate
 * pair's `currentRoundTripTime`, which the standard and linkStats read in seconds: a 20 ms
 * link showed as 20 000 ms. nodeWrtc's peer connection converts. (No netem here to build a
 * delayed path, so the polyfill's own report is stubbed with what it returns for a 20 ms link.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { nodeWrtc } from '../../../server/transport/nodePeer.ts';
import { linkStats } from '../../../shared/transport/linkStats.ts';
import type { PeerInstance } from '../../../shared/transport/peerLink.ts';

function pairReport(rtt: number | undefined) {
  return new Map<string, Record<string, unknown>>([
    ['L', { id: 'L', type: 'local-candidate', candidateType: 'relay' }],
    ['R', { id: 'R', type: 'remote-candidate', candidateType: 'host' }],
    ['P', { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', state: 'succeeded', nominated: true, currentRoundTripTime: rtt, totalRoundTripTime: rtt }],
  ]);
}

describe('RTT from node-datachannel peers', () => {
  afterEach(() => vi.restoreAllMocks());

  for (const [rtt, want] of [[20, 20], [0, 0], [-1, null], [undefined, null]] as const) {
    it(`libdatachannel rtt() = ${rtt} → linkStats rttMs ${want}`, async () => {
      vi.spyOn(RTCPeerConnection.prototype, 'getStats').mockResolvedValue(pairReport(rtt) as unknown as RTCStatsReport);
      const Pc = nodeWrtc().RTCPeerConnection as new (c: Record<string, unknown>) => RTCPeerConnection;
      const pc = new Pc({ iceServers: [] });
      try {
        const st = await linkStats({ _pc: pc } as unknown as PeerInstance);
        expect(st).toMatchObject({ rttMs: want, relayed: true, localType: 'relay', remoteType: 'host' });
      } finally {
        pc.close();
      }
    });
  }
});
