/**
 * One Node peer in its own network namespace, driven by the test over stdin/stdout: one JSON
 * object per line each way. Requests carry `rid`; every request gets exactly one reply with
 * the same `rid` (`ok: true` and results, or `error: { code, message }`). Unsolicited lines
 * carry `ev` (signals to route to another peer). Run as
 *   nsenter -t PID -n -- node --import tsx bench/src/peerAgent.ts
 *
 * Requests:
 *   { op: 'mesh', id, bind, iceServers, policy?, timeoutMs, healMs? }      make the PeerMesh
 *   { op: 'signal', from, data }                                  (no reply) a signal for us
 *   { op: 'connect', peers, timeoutMs }       open links; replies with each selected pair
 *   { op: 'ring', rank, size, prev, next, len, timeoutMs }         a ring all-reduce; the hash
 *   { op: 'bench', kind, rank, ids, len, iters, warmup }  all-reduces of `len` floats with
 *        schedule `kind` ('ring' or a LatencyAlgorithm); ms of each timed one
 *   { op: 'stream', to, bytes, msg }          send `bytes` to `to` in `msg`-byte messages
 *   { op: 'expect', from, bytes }             resolves once `bytes` have arrived from `from`
 *   { op: 'watchClose', peer }                resolves when the link to `peer` closes (its error)
 *   { op: 'stats', peer }
 *   { op: 'exit' }
 */
import { createInterface } from 'node:readline';
import { initLogger } from 'node-datachannel';
import { nodePeerFactory, shutdownNodeWebRTC } from '../../server/transport/nodePeer.ts';
import { PeerMesh, type MeshSignal } from '../../shared/transport/peerMesh.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { errorCode } from '../../shared/errors.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { LatencyAllReduce } from '../../shared/allreduce/latencyAllReduce.ts';
import { peersNeeded, type ScheduleKind } from '../../shared/allreduce/schedule.ts';

type Req = Record<string, unknown> & { rid?: number; op: string };

// TABSWARM_NDC_LOG=Debug: libdatachannel's log on stderr (the test prints it when a peer fails)
if (process.env.TABSWARM_NDC_LOG) initLogger(process.env.TABSWARM_NDC_LOG as 'Debug', (level, msg) => process.stderr.write(`[${level}] ${msg}\n`));
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
let mesh: PeerMesh | null = null;
const received = new Map<string, number>();

function vector(rank: number, len: number): Float32Array {
  return Float32Array.from({ length: len }, (_, i) => ((i * 31 + rank * 17) % 2001) - 1000);
}

async function handle(r: Req): Promise<Record<string, unknown> | undefined> {
  switch (r.op) {
    case 'mesh': {
      mesh = new PeerMesh({
        localId: String(r.id),
        createPeer: nodePeerFactory({ bindAddress: String(r.bind), iceServers: r.iceServers as RTCIceServer[], ...(r.policy ? { iceTransportPolicy: r.policy as 'relay' } : {}) }),
        timeoutMs: Number(r.timeoutMs ?? 20_000),
        linkOptions: {
          ...(r.healMs !== undefined ? { healMs: Number(r.healMs) } : {}),
          onHeal: (e) => out({ ev: 'heal', ...e }),
        },
        sendSignal: (to: string, data: MeshSignal) => out({ ev: 'signal', to, data }),
      });
      return {};
    }
    case 'signal':
      mesh!.handleSignal(String(r.from), r.data);
      return undefined;
    case 'connect': {
      const peers = r.peers as string[];
      const links = await Promise.all(peers.map((p) => mesh!.connect(p, { timeoutMs: Number(r.timeoutMs) })));
      for (const [i, l] of links.entries()) {
        l.onMessage((d) => received.set(peers[i]!, (received.get(peers[i]!) ?? 0) + d.byteLength));
      }
      const pairs: Record<string, unknown> = {};
      for (const p of peers) pairs[p] = await mesh!.stats(p);
      return { pairs };
    }
    case 'stats':
      return { stats: await mesh!.stats(String(r.peer)) };
    case 'ring': {
      const size = Number(r.size);
      const rank = Number(r.rank);
      const len = Number(r.len);
      const [prev, next] = await Promise.all([mesh!.connect(String(r.prev)), mesh!.connect(String(r.next))]);
      const v = vector(rank, len);
      const ring = new RingAllReduce({ jobTag: 5, epoch: 1, rank, size, prev, next, chunkElems: 16_384 });
      try {
        const st = await ring.allReduce(0, v, { timeoutMs: Number(r.timeoutMs ?? 30_000) });
        return { hash: hashFloat32(v), ms: st.ms };
      } finally {
        ring.destroy();
      }
    }
    case 'bench': {
      const ids = r.ids as string[];
      const size = ids.length;
      const rank = Number(r.rank);
      const kind = String(r.kind) as ScheduleKind;
      const len = Number(r.len);
      const v = vector(rank, len);
      const ms: number[] = [];
      const total = Number(r.warmup ?? 1) + Number(r.iters ?? 3);
      if (kind === 'ring') {
        const [prev, next] = await Promise.all([mesh!.connect(ids[(rank + size - 1) % size]!), mesh!.connect(ids[(rank + 1) % size]!)]);
        const ring = new RingAllReduce({ jobTag: 6, epoch: 1, rank, size, prev, next, chunkElems: 16_384 });
        try {
          for (let i = 0; i < total; i++) {
            const st = await ring.allReduce(i, v, { timeoutMs: 60_000 });
            if (i >= total - Number(r.iters ?? 3)) ms.push(st.ms);
          }
        } finally {
          ring.destroy();
        }
      } else {
        const need = peersNeeded(kind, rank, size);
        const links: (Link | null)[] = ids.map(() => null);
        await Promise.all(need.map(async (p) => (links[p] = await mesh!.connect(ids[p]!))));
        // frames and lanes of 64 KiB, as workers run it with the default chunkBytes (client/worker/ringLinks.ts)
        const ar = new LatencyAllReduce({ jobTag: 7, epoch: 1, rank, size, algorithm: kind, links, chunkElems: 16_384, pipelineElems: 16_384 });
        try {
          for (let i = 0; i < total; i++) {
            const st = await ar.allReduce(i, v, { timeoutMs: 60_000 });
            if (i >= total - Number(r.iters ?? 3)) ms.push(st.ms);
          }
        } finally {
          ar.destroy();
        }
      }
      return { ms, hash: hashFloat32(v) };
    }
    case 'stream': {
      const link = mesh!.get(String(r.to)) as Link;
      const total = Number(r.bytes);
      const msg = new Uint8Array(Number(r.msg)).fill(7);
      for (let sent = 0; sent < total; sent += msg.byteLength) {
        await link.drained(1 << 20);
        link.send(msg);
      }
      return {};
    }
    case 'expect': {
      const from = String(r.from);
      const want = Number(r.bytes);
      const link = mesh!.get(from);
      if (!link) throw new Error(`no open link from ${from}`);
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if ((received.get(from) ?? 0) >= want) {
            offM();
            offC();
            resolve();
          }
        };
        const offM = link.onMessage(() => queueMicrotask(check));
        const offC = link.onClose((e) => reject(e ?? new Error(`link from ${from} closed`)));
        check();
      });
      return { bytes: received.get(from) };
    }
    case 'watchClose': {
      const link = mesh!.get(String(r.peer));
      if (!link) throw new Error(`no open link to ${String(r.peer)}`);
      const t0 = performance.now();
      const err = await new Promise<Error | undefined>((res) => link.onClose(res));
      return { closedAfterMs: performance.now() - t0, code: errorCode(err) ?? null, message: err?.message ?? null };
    }
    case 'exit':
      mesh?.destroy();
      shutdownNodeWebRTC();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${r.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let r: Req;
  try {
    r = JSON.parse(line) as Req;
  } catch {
    return out({ ev: 'log', message: `bad request line ${line.slice(0, 200)}` });
  }
  handle(r).then(
    (res) => res !== undefined && out({ rid: r.rid, ok: true, ...res }),
    (e: unknown) => out({ rid: r.rid, error: { code: errorCode(e) ?? null, message: (e as Error)?.message ?? String(e) } }),
  );
});
process.stdin.on('end', () => {
  mesh?.destroy();
  shutdownNodeWebRTC();
  process.exit(0);
});
out({ ev: 'ready' });
