/**
 * One simulated host of the benchmarks as a Node process: a BenchHost on real WebRTC
 * (simple-peer on node-datachannel), driven by the orchestrator over IPC.
 *
 * Env: BENCH_ID (peer id), BENCH_BIND (address to bind WebRTC to), BENCH_TRANSPORT (JSON,
 * optional: `{ sctp?: SctpSettings, mtu?: number }`, node-datachannel transport settings).
 */
import SimplePeer from 'simple-peer';
import { setSctpSettings } from 'node-datachannel';
import { nodePeerOptions, shutdownNodeWebRTC } from '../../server/transport/nodePeer.ts';
import { simplePeerFactory, type SimplePeerConstructor } from '../../shared/transport/peerLink.ts';
import { PeerMesh, type MeshSignal } from '../../shared/transport/peerMesh.ts';
import { BenchHost } from './host.ts';
import type { FromAgent, ToAgent } from './hostProtocol.ts';

const id = process.env.BENCH_ID ?? 'p0';
const bind = process.env.BENCH_BIND ?? '127.0.0.1';
const send = (m: FromAgent) => process.send?.(m);

const transport = JSON.parse(process.env.BENCH_TRANSPORT ?? '{}') as { sctp?: Parameters<typeof setSctpSettings>[0]; mtu?: number };
if (transport.sctp) setSctpSettings(transport.sctp);
const peerOptions = nodePeerOptions({ bindAddress: bind });
if (transport.mtu) peerOptions.config = { ...peerOptions.config, mtu: transport.mtu };

const mesh = new PeerMesh({
  localId: id,
  sendSignal: (to: string, data: MeshSignal) => send({ signal: { to, data } }),
  createPeer: simplePeerFactory(SimplePeer as unknown as SimplePeerConstructor, peerOptions),
  timeoutMs: 30_000,
});
const host = new BenchHost(id, mesh);

function shutdown() {
  host.close();
  setTimeout(() => {
    shutdownNodeWebRTC();
    process.exit(0);
  }, 50);
}

process.on('message', (m: ToAgent) => {
  if ('signal' in m) return mesh.handleSignal(m.signal.from, m.signal.data);
  const { cmd } = m;
  let work: Promise<unknown>;
  if (cmd.op === 'usage') {
    const u = process.cpuUsage();
    work = Promise.resolve({ cpuUserMs: u.user / 1000, cpuSystemMs: u.system / 1000, rssBytes: process.memoryUsage().rss });
  } else if (cmd.op === 'exit') {
    work = Promise.resolve(null);
    shutdown();
  } else work = host.handle(cmd);
  work.then(
    (result) => send({ id: m.id, ok: true, result: result ?? null }),
    (e: unknown) => send({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on('disconnect', shutdown);
