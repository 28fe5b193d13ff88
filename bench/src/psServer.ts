/**
 * Bench-only parameter server over socket.io, run as its own process (its own host in the
 * capped topology): every peer uploads its full vector, the server sums them in rank order
 * and broadcasts the sum. The product never does this — gradients never pass through the
 * tabswarm server — it is the baseline the ring is compared with.
 *
 * Env: PS_HOST, PS_PEERS. Tells its parent `{ ready: url }` over IPC, answers `usage`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const host = process.env.PS_HOST ?? '127.0.0.1';
const peers = Number(process.env.PS_PEERS ?? '2');

interface Round {
  parts: (Float32Array | null)[];
  got: number;
}

const http = createServer();
const io = new Server(http, { maxHttpBufferSize: 256 * 1024 * 1024, serveClient: false, perMessageDeflate: false });
const rounds = new Map<number, Round>();

io.on('connection', (socket) => {
  socket.on('push', (m: { rank: number; step: number; data: Uint8Array }) => {
    let r = rounds.get(m.step);
    if (!r) {
      r = { parts: Array.from({ length: peers }, () => null), got: 0 };
      rounds.set(m.step, r);
    }
    const b = m.data;
    r.parts[m.rank] = (b.byteOffset & 3) === 0 ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : new Float32Array(new Uint8Array(b).slice().buffer);
    r.got++;
    if (r.got < peers) return;
    rounds.delete(m.step);
    const sum = new Float32Array(r.parts[0]!.length);
    for (const p of r.parts) for (let i = 0; i < sum.length; i++) sum[i]! += p![i]!;
    io.emit('result', { step: m.step, data: new Uint8Array(sum.buffer) });
  });
});

http.listen(0, host, () => {
  const { port } = http.address() as AddressInfo;
  process.send?.({ ready: `http://${host}:${port}` });
});

process.on('message', (m: { op?: string }) => {
  if (m.op === 'usage') {
    const u = process.cpuUsage();
    process.send?.({ usage: { cpuUserMs: u.user / 1000, cpuSystemMs: u.system / 1000, rssBytes: process.memoryUsage().rss } });
  } else if (m.op === 'exit') {
    io.close();
    http.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
