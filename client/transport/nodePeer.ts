/**
 * Node only: simple-peer over node-datachannel's WebRTC polyfill (Node peers, tests, CLI).
 *
 * What the polyfill needs (node-datachannel 0.33.4 with simple-peer 9.11.1):
 * - its createOffer()/createAnswer() resolve to an RTCSessionDescription whose `sdp` is a
 *   read-only getter; simple-peer assigns `offer.sdp = …` (a TypeError in its strict class
 *   body), so both are wrapped to resolve to plain `{ type, sdp }` objects;
 * - the RTCConfiguration object is handed to libdatachannel as is, so libdatachannel's own
 *   options (`bindAddress`, `portRangeBegin/End`, `enableIceUdpMux`, `maxMessageSize`) go in
 *   `config`; in a loopback-only network namespace bind to 127.0.0.1;
 * - `iceServers: []` unless servers are configured: simple-peer's default is public STUN;
 * - offers claim the DTLS client role (see `nodeWrtc`), else ~half the connections open
 *   after a 1 s DTLS retransmission instead of in a few ms.
 */
import SimplePeer from 'simple-peer';
import { cleanup } from 'node-datachannel';
import { RTCIceCandidate, RTCPeerConnection, RTCSessionDescription } from 'node-datachannel/polyfill';
import { simplePeerFactory, type PeerFactory, type SimplePeerConstructor, type SimplePeerOptions, type WrtcImpl } from './peerLink.ts';

/**
 * The `wrtc` implementation simple-peer needs in Node: the polyfill, with offers and answers
 * as plain objects. With `offerDtlsActive`, offers say `a=setup:active` instead of
 * `actpass`, so the offerer becomes the DTLS client. Otherwise the answerer is the client and
 * often sends its first DTLS handshake packet before the offerer has the answer; that packet
 * is lost and libdatachannel retransmits it only after 1 s (measured here: half of the
 * loopback connections took ~1005 ms instead of ~5 ms, under load).
 */
export function nodeWrtc(opts: { offerDtlsActive?: boolean } = {}): WrtcImpl {
  const activeOffer = opts.offerDtlsActive ?? true;
  class PlainSdpPeerConnection extends RTCPeerConnection {
    override async createOffer(): Promise<RTCSessionDescriptionInit> {
      const d = (await super.createOffer()) as RTCSessionDescriptionInit;
      return { type: d.type, sdp: d.sdp };
    }

    override async createAnswer(): Promise<RTCSessionDescriptionInit> {
      const d = (await super.createAnswer()) as RTCSessionDescriptionInit;
      return { type: d.type, sdp: d.sdp };
    }

    // simple-peer signals `pc.localDescription`, not the offer object it transformed
    override get localDescription(): globalThis.RTCSessionDescription {
      const d = super.localDescription;
      if (!activeOffer || d.type !== 'offer') return d;
      return new RTCSessionDescription({ type: 'offer', sdp: d.sdp.replace(/a=setup:actpass/g, 'a=setup:active') });
    }
  }
  return { RTCPeerConnection: PlainSdpPeerConnection, RTCSessionDescription, RTCIceCandidate };
}

export interface NodePeerConfig {
  /** bind ICE to 127.0.0.1 only (tests and benchmarks in a loopback-only namespace) */
  loopback?: boolean;
  /** explicit libdatachannel bind address; wins over `loopback` */
  bindAddress?: string;
  iceServers?: RTCIceServer[];
  portRange?: [number, number];
  /** the offerer is the DTLS client (default true; see nodeWrtc) */
  offerDtlsActive?: boolean;
}

/** SimplePeer options (without `initiator`) for Node peers on node-datachannel. */
export function nodePeerOptions(c: NodePeerConfig = {}): Omit<SimplePeerOptions, 'initiator'> {
  const config: RTCConfiguration & Record<string, unknown> = { iceServers: c.iceServers ?? [] };
  const bind = c.bindAddress ?? (c.loopback ? '127.0.0.1' : undefined);
  if (bind !== undefined) config.bindAddress = bind;
  if (c.portRange) [config.portRangeBegin, config.portRangeEnd] = c.portRange;
  return { wrtc: nodeWrtc({ offerDtlsActive: c.offerDtlsActive }), config };
}

/** A PeerFactory for Node peers: simple-peer on node-datachannel. */
export function nodePeerFactory(c: NodePeerConfig = {}): PeerFactory {
  // simple-peer's typings want the DOM's WebRTC classes for `wrtc`; the polyfill implements
  // them structurally, and PeerInstance is the subset of its Instance that we call
  const Ctor = SimplePeer as unknown as SimplePeerConstructor;
  return simplePeerFactory(Ctor, nodePeerOptions(c));
}

/** Stops node-datachannel's native threads (call once, when no connection is left). */
export function shutdownNodeWebRTC(): void {
  cleanup();
}
