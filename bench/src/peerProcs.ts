/**
 * The driving side of peerAgent.ts: child Node peers (in whatever namespace `spawnPeer` puts
 * them), their signals routed between them, requests with deadlines that say what timed out.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PEER_AGENT = fileURLToPath(new URL('./peerAgent.ts', import.meta.url));

export interface PeerError {
  code: string | null;
  message: string;
}

export class PeerProc {
  private rid = 0;
  private pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private exited: string | null = null;
  stderr = '';
  readonly ready: Promise<void>;

  constructor(
    readonly id: string,
    readonly proc: ChildProcess,
    onSignal: (to: string, data: unknown) => void,
  ) {
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => ([readyResolve, readyReject] = [res, rej]));
    this.ready.catch(() => {});
    proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-(Number(process.env.TABSWARM_PEER_STDERR) || 16_000))));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // a stray log line
      }
      if (m.ev === 'ready') return readyResolve();
      if (m.ev === 'signal') return onSignal(String(m.to), m.data);
      if (typeof m.rid === 'number') {
        const p = this.pending.get(m.rid);
        this.pending.delete(m.rid);
        if (!p) return;
        if (m.error) {
          const e = m.error as PeerError;
          p.reject(Object.assign(new Error(`${id}: ${e.code ?? 'ERROR'}: ${e.message}`), { code: e.code, peerMessage: e.message }));
        } else p.resolve(m);
      }
    });
    proc.once('exit', (code, sig) => {
      this.exited = `peer ${id} exited (code ${code}, signal ${sig}); stderr: ${this.stderr.slice(-2000)}`;
      readyReject(new Error(this.exited));
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  /** Sends a request; rejects when the peer answers with an error, exits, or `ms` pass. */
  request(op: string, args: Record<string, unknown> = {}, ms = 30_000): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`peer ${this.id}: no answer to ${op} within ${ms} ms`));
      }, ms);
      this.pending.set(rid, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.proc.stdin!.write(JSON.stringify({ rid, op, ...args }) + '\n');
    });
  }

  signal(from: string, data: unknown) {
    if (!this.exited) this.proc.stdin!.write(JSON.stringify({ op: 'signal', from, data }) + '\n');
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

/** Starts peers, one per entry of `spawns`, with signals routed between them. */
export async function startPeers(ids: string[], spawnPeer: (i: number, cmd: string, args: string[], opts: SpawnOptions) => ChildProcess): Promise<PeerProc[]> {
  const byId = new Map<string, PeerProc>();
  const procs = ids.map((id, i) => {
    const p = new PeerProc(
      id,
      spawnPeer(i, process.execPath, ['--import', 'tsx', PEER_AGENT], { stdio: ['pipe', 'pipe', 'pipe'] }),
      (to, data) => setImmediate(() => byId.get(to)?.signal(id, data)),
    );
    byId.set(id, p);
    return p;
  });
  const deadline = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`peers ${ids.join(', ')} not ready within 20000 ms`)), 20_000).unref());
  try {
    await Promise.race([Promise.all(procs.map((p) => p.ready)), deadline]);
  } catch (e) {
    await Promise.all(procs.map((p) => p.stop()));
    throw e;
  }
  return procs;
}
