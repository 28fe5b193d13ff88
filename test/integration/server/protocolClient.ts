/**
 * A real socket.io client speaking the worker protocol by hand, for server tests: it can send
 * anything (well-formed or not) and waits for the server's answers as they arrive — no
 * sleeps. `worker()` plays an honest member that commits steps without training (the
 * coordinator only sees hashes and metrics, so the control plane runs in milliseconds).
 */
import { hashFloat32 } from '../../../shared/hash.ts';
import { encodeState } from '../../../shared/stateCodec.ts';
import { io, type Socket } from 'socket.io-client';
import { TimeoutError } from '../../../shared/errors.ts';
import { PROTOCOL_VERSION, type ServerMessage } from '../../../shared/protocol.ts';

type Msg<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export class ProtocolClient {
  readonly inbox: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  disconnected = false;

  private constructor(
    readonly socket: Socket,
    /** the server's base URL (uploads go over HTTP) */
    readonly url: string,
  ) {
    socket.on('msg', (m: ServerMessage) => {
      this.inbox.push(m);
      this.wake();
    });
    socket.on('disconnect', () => {
      this.disconnected = true;
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once connected; rejects with the server's refusal (e.g. a bad origin). */
  static connect(url: string, o: { origin?: string } = {}): Promise<ProtocolClient> {
    const socket = io(url, {
      transports: ['websocket'], reconnection: false, forceNew: true, timeout: 10_000,
      ...(o.origin ? { extraHeaders: { origin: o.origin } } : {}),
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new ProtocolClient(socket, url)));
      socket.once('connect_error', (e) => {
        socket.close();
        reject(e);
      });
    });
  }

  send(m: unknown) {
    this.socket.emit('msg', m);
  }

  /** Waits until `pred` finds something; wakes on every message and on disconnect. */
  async until<T>(what: string, pred: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`waiting for ${what}`, timeoutMs);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Takes the first message of `type` (matching `pred`) out of the inbox, waiting for it if need be. */
  next<T extends ServerMessage['type']>(type: T, pred: (m: Msg<T>) => boolean = () => true, timeoutMs = 10_000): Promise<Msg<T>> {
    return this.until(`a '${type}' message`, () => {
      const i = this.inbox.findIndex((m) => m.type === type && pred(m as Msg<T>));
      return i < 0 ? undefined : (this.inbox.splice(i, 1)[0] as Msg<T>);
    }, timeoutMs);
  }

  /** The next `n` error replies, in order. */
  async errors(n: number, timeoutMs = 10_000): Promise<Msg<'error'>[]> {
    const out: Msg<'error'>[] = [];
    while (out.length < n) out.push(await this.next('error', () => true, timeoutMs));
    return out;
  }

  async join(jobId: string): Promise<Msg<'welcome'>> {
    this.send({ type: 'join', protocol: PROTOCOL_VERSION, jobId });
    return this.next('welcome');
  }

  ready(samplesPerSec = 100) {
    this.send({ type: 'ready', info: { backend: 'cpu', adapter: 'test adapter', userAgent: 'protocol-client' }, samplesPerSec });
  }

  /** PUT bytes to /api/uploads/:id, as a worker does with a checkpoint or its final weights */
  async upload(uploadId: string, bytes: Uint8Array): Promise<{ status: number; body: { ok?: boolean; error?: { code: string; message: string } } }> {
    const r = await fetch(`${this.url}/api/uploads/${uploadId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes as Uint8Array<ArrayBuffer> });
    return { status: r.status, body: (await r.json()) as { ok?: boolean; error?: { code: string; message: string } } };
  }

  close() {
    this.socket.close();
  }
}

const HASH = '0123456789abcdef';

/**
 * An honest member: answers every step with the same hashes as its ring mates, every
 * checkpoint request with `state`, a server checkpoint with `synced`, and `done` with its
 * final parameters. Runs until the job is done or `stopAfterStep` is committed.
 */
export async function runWorker(c: ProtocolClient, o: { stopAfterStep?: number; params?: Float32Array } = {}): Promise<{ committed: number[] }> {
  const committed: number[] = [];
  // every honest member holds the same weights; uploads must hash to what is claimed
  const params = o.params ?? Float32Array.from([1, 2, 3]);
  const PH = hashFloat32(params);
  for (;;) {
    const m = await c.until('a step, commit, checkpoint request, sync or done', () => {
      const i = c.inbox.findIndex((x) => ['step', 'commit', 'checkpoint-request', 'sync-state', 'done'].includes(x.type));
      return i < 0 ? undefined : c.inbox.splice(i, 1)[0]!;
    }, 20_000);
    if (m.type === 'step') {
      c.send({ type: 'computed', step: m.step, epoch: m.epoch, computeMs: 1 });
      c.send({ type: 'reduced', step: m.step, epoch: m.epoch, hash: HASH, paramHash: PH, computeMs: 1, allreduceMs: 1, loss: 30 / (m.step + 1), correct: 15, count: 30 });
    } else if (m.type === 'commit') {
      committed.push(m.step);
      if (m.evalPart) c.send({ type: 'eval', step: m.step, correct: 1, count: 4 });
      if (o.stopAfterStep !== undefined && m.step >= o.stopAfterStep) return { committed };
    } else if (m.type === 'checkpoint-request') {
      if (m.upload && m.uploadId) await c.upload(m.uploadId, encodeState({ step: m.step, params, optimizer: { name: 'sgd', iterations: m.step } }));
      else c.send({ type: 'param-hash', step: m.step, paramHash: PH });
    } else if (m.type === 'sync-state') {
      c.send({ type: 'synced', step: m.step, paramHash: PH });
    } else if (m.type === 'done') {
      c.send({ type: 'final', step: m.step, paramHash: PH, eval: m.evalPart ? { correct: 1, count: 2 } : null });
      if (m.upload && m.uploadId) await c.upload(m.uploadId, new Uint8Array(params.buffer.slice(0)));
      return { committed };
    }
  }
}
