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
 * - the offerer must not reveal its ICE candidates before it has the answer (see
 *   `nodeWrtc`), else setups take 1 s or fail under load.
 */
import SimplePeer from 'simple-peer';
import { cleanup } from 'node-datachannel';
import { RTCIceCandidate, RTCPeerConnection, RTCSessionDescription } from 'node-datachannel/polyfill';
import { iceServersForNodeDatachannel, type IceServer } from '../ice.ts';
import { simplePeerFactory, type PeerFactory, type SimplePeerConstructor, type SimplePeerOptions, type WrtcImpl } from '../../shared/transport/peerLink.ts';

/**
 * The `wrtc` implementation simple-peer needs in Node: the polyfill, with offers and answers
 * as plain objects, and (with `holdOfferCandidates`, the default) an offerer that keeps its
 * ICE candidates to itself until the answer is in.
 *
 * Why hold them: the answerer starts ICE checks as soon as it has the offer, so the
 * offerer's ICE can connect (through a peer-reflexive candidate) before the answer reaches
 * it. libdatachannel then runs DTLS without the remote fingerprint: the handshake fails
 * ("certificate verify failed"), the connection closes, and applying the answer throws "Got
 * a remote candidate without ICE transport"; or the answerer's first DTLS packet is dropped
 * and retransmitted only after 1 s. Measured here on loopback, 4 pairs connecting at once:
 * without holding, 1 s setups in up to half the rounds and failed setups in a few per cent of
 * them; with it, neither (p50 ≈ 60 ms for 8 connections at once). Making the offerer the DTLS
 * client instead (`a=setup:active` in the offer) removes the 1 s delays but makes the failed
 * setups more frequent, and combined with holding it brings the 1 s delays back.
 */
export function nodeWrtc(opts: { holdOfferCandidates?: boolean } = {}): WrtcImpl {
  const hold = opts.holdOfferCandidates ?? true;
  class NodePeerConnection extends RTCPeerConnection {
    private held: Event[] | null = null;

    override createDataChannel(label: string, init?: RTCDataChannelInit) {
      // simple-peer's initiator creates the channel (and so the offer); the answerer never does
      if (hold && this.held === null && this.signalingState === 'stable') this.held = [];
      return super.createDataChannel(label, init);
    }

    override dispatchEvent(event: Event): boolean {
      if (event.type === 'icecandidate' && this.held) {
        this.held.push(event);
        return true;
      }
      return super.dispatchEvent(event);
    }

    override async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
      await super.setRemoteDescription(d);
      const held = this.held;
      if (d.type !== 'answer' || !held) return;
      this.held = null;
      for (const e of held) super.dispatchEvent(e);
    }

    // libdatachannel's rtt() is in milliseconds, and the polyfill hands it on as is as
    // `currentRoundTripTime`, which the standard (and linkStats) reads in seconds: a 20 ms
    // link showed as 20 s. Converted here; an unknown RTT (negative, or none) is left out.
    override async getStats(): Promise<RTCStatsReport> {
      const report = (await super.getStats()) as unknown as Map<string, Record<string, unknown>>;
      for (const r of report.values()) {
        if (r.type !== 'candidate-pair') continue;
        for (const k of ['currentRoundTripTime', 'totalRoundTripTime']) {
          const ms = r[k];
          if (typeof ms === 'number' && ms >= 0) r[k] = ms / 1000;
          else delete r[k];
        }
      }
      return report as unknown as RTCStatsReport;
    }

    override async createOffer(): Promise<RTCSessionDescriptionInit> {
      const d = (await super.createOffer()) as RTCSessionDescriptionInit;
      return { type: d.type, sdp: d.sdp };
    }

    override async createAnswer(): Promise<RTCSessionDescriptionInit> {
      const d = (await super.createAnswer()) as RTCSessionDescriptionInit;
      return { type: d.type, sdp: d.sdp };
    }

    // simple-peer signals `pc.localDescription`, which libdatachannel fills with the
    // candidates gathered so far: an offer must not carry them while they are held
    override get localDescription(): globalThis.RTCSessionDescription {
      const d = super.localDescription;
      if (d.type !== 'offer' || !this.held) return d;
      return new RTCSessionDescription({ type: 'offer', sdp: d.sdp.replace(/^a=(candidate:|end-of-candidates).*\r?\n/gm, '') });
    }
  }
  return { RTCPeerConnection: NodePeerConnection, RTCSessionDescription, RTCIceCandidate };
}

export interface NodePeerConfig {
  /** bind ICE to 127.0.0.1 only (tests and benchmarks in a loopback-only namespace) */
  loopback?: boolean;
  /** explicit libdatachannel bind address; wins over `loopback` */
  bindAddress?: string;
  iceServers?: RTCIceServer[];
  /** 'relay': only TURN-relayed candidate pairs (a relayed path, forced) */
  iceTransportPolicy?: 'all' | 'relay';
  portRange?: [number, number];
  /** the offerer holds its candidates until the answer is in (default true; see nodeWrtc) */
  holdOfferCandidates?: boolean;
}

/** SimplePeer options (without `initiator`) for Node peers on node-datachannel. */
export function nodePeerOptions(c: NodePeerConfig = {}): Omit<SimplePeerOptions, 'initiator'> {
  // TURN REST usernames hold ':' and base64 credentials '/+=': node-datachannel needs them escaped
  const config: RTCConfiguration & Record<string, unknown> = { iceServers: iceServersForNodeDatachannel((c.iceServers ?? []) as IceServer[]) as RTCIceServer[] };
  if (c.iceTransportPolicy) config.iceTransportPolicy = c.iceTransportPolicy;
  const bind = c.bindAddress ?? (c.loopback ? '127.0.0.1' : undefined);
  if (bind !== undefined) config.bindAddress = bind;
  if (c.portRange) [config.portRangeBegin, config.portRangeEnd] = c.portRange;
  return { wrtc: nodeWrtc({ holdOfferCandidates: c.holdOfferCandidates }), config };
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
