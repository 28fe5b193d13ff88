/**
 * A Chromium tab as a benchmark host: the same BenchHost as the Node agents, over the
 * browser's own RTCDataChannel through simple-peer. Signaling goes through a Playwright
 * binding (`__benchSignal`), so nothing but the measured data channels touch the network.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { simplePeerFactory, type SimplePeerConstructor } from '../../../shared/transport/peerLink.ts';
import { PeerMesh, type MeshSignal } from '../../../shared/transport/peerMesh.ts';
import { BenchHost } from '../host.ts';
import type { AgentCmd } from '../hostProtocol.ts';

interface BenchWindow {
  __benchSignal(to: string, data: MeshSignal): void;
  __bench: { init(id: string): void; signal(from: string, data: unknown): void; handle(cmd: AgentCmd): Promise<unknown> };
}
const w = window as unknown as BenchWindow;
let mesh: PeerMesh | null = null;
let host: BenchHost | null = null;

w.__bench = {
  init(id) {
    mesh = new PeerMesh({
      localId: id,
      sendSignal: (to, data) => w.__benchSignal(to, data),
      createPeer: simplePeerFactory(SimplePeer as unknown as SimplePeerConstructor, {}),
      timeoutMs: 30_000,
    });
    host = new BenchHost(id, mesh);
  },
  signal: (from, data) => mesh?.handleSignal(from, data),
  handle: (cmd) => host!.handle(cmd),
};
