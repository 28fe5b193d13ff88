/**
 * Simulated members for the control-plane bench, one process per core: each opens `count`
 * socket.io connections (every 50 from their own loopback address, as volunteers come from
 * many addresses), joins the job, heartbeats at the server's pace, and on request probes
 * the control round trip with a request the server answers (a signal it must refuse,
 * answered with a coded error after validation, rate limiting and a membership lookup).
 */
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

interface Member { socket: Socket; peerId: string; heartbeat: ReturnType<typeof setInterval> | null; pending: number | null }
const members: Member[] = [];
const rtts: number[] = [];
let probing = false;

function join(url: string, jobId: string, index: number): Promise<number> {
  const t0 = performance.now();
  const localAddress = `127.1.${Math.floor(index / 50) % 250}.${1 + (Math.floor(index / 12500) % 250)}`;
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, localAddress } as Parameters<typeof io>[1]);
  const m: Member = { socket, peerId: '', heartbeat: null, pending: null };
  members.push(m);
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (e) => reject(e));
    socket.on('msg', (msg: { type: string; peerId?: string; heartbeatMs?: number; code?: string }) => {
      if (msg.type === 'welcome') {
        m.peerId = msg.peerId!;
        m.heartbeat = setInterval(() => socket.emit('msg', { type: 'heartbeat' }), msg.heartbeatMs!);
        resolve(performance.now() - t0);
      } else if (msg.type === 'error' && m.pending !== null) {
        if (probing) rtts.push(performance.now() - m.pending);
        m.pending = null;
      }
    });
    socket.once('connect', () => socket.emit('msg', { type: 'join', protocol: PROTOCOL_VERSION, jobId }));
  });
}

async function start(url: string, jobId: string, count: number, offset: number): Promise<number[]> {
  const lat: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      lat.push(await join(url, jobId, offset + i));
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  return lat;
}

async function probe(durationMs: number, everyMs: number): Promise<number[]> {
  rtts.length = 0;
  probing = true;
  const timers = members.map((m) =>
    setTimeout(function tick() {
      if (!probing) return;
      if (m.pending === null) {
        m.pending = performance.now();
        m.socket.emit('msg', { type: 'signal', to: m.peerId, data: { probe: 1 } });
      }
      timers.push(setTimeout(tick, everyMs));
    }, Math.random() * everyMs),
  );
  await new Promise((r) => setTimeout(r, durationMs));
  probing = false;
  for (const t of timers) clearTimeout(t);
  await new Promise((r) => setTimeout(r, 200));
  return [...rtts];
}

process.on('message', (m: { op: string; url?: string; jobId?: string; count?: number; offset?: number; durationMs?: number; everyMs?: number }) => {
  const reply = (p: Promise<unknown>) => p.then((result) => process.send?.({ ok: true, result }), (e: Error) => process.send?.({ ok: false, error: e.message }));
  if (m.op === 'start') reply(start(m.url!, m.jobId!, m.count!, m.offset!));
  else if (m.op === 'probe') reply(probe(m.durationMs!, m.everyMs!));
  else if (m.op === 'stop') {
    for (const x of members) {
      if (x.heartbeat) clearInterval(x.heartbeat);
      x.socket.disconnect();
    }
    reply(Promise.resolve(members.length)).then(() => setTimeout(() => process.exit(0), 100));
  }
});
process.on('disconnect', () => process.exit(0));
