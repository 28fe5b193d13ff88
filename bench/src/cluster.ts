/**
 * The orchestrator's view of N peer agents (and optionally the parameter server) placed on
 * a topology: starts them, relays their WebRTC signaling over IPC, and runs commands on
 * all of them at once (each agent times its own part; the slowest one is the figure).
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TabswarmError } from '../../shared/errors.ts';
import { HostsBase, type AgentCmd, type FromAgent, type ToAgent, type Usage } from './hostProtocol.ts';
import type { Topology } from './topology.ts';

const AGENT = fileURLToPath(new URL('./agent.ts', import.meta.url));
const PS_SERVER = fileURLToPath(new URL('./psServer.ts', import.meta.url));
const NODE_ARGS = ['--import', 'tsx'];

interface Agent {
  id: string;
  proc: ChildProcess;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

export class Cluster extends HostsBase {
  private nextReq = 1;
  private constructor(
    readonly topo: Topology,
    private readonly agents: Agent[],
    private readonly ps: { proc: ChildProcess; url: string } | null,
  ) {
    super();
  }

  get ids(): string[] {
    return this.agents.map((a) => a.id);
  }
  get psUrl(): string | null {
    return this.ps?.url ?? null;
  }

  /** N agents on hosts 0..N-1; with `parameterServer`, the server on host N. */
  static async start(topo: Topology, n: number, o: { parameterServer?: boolean } = {}): Promise<Cluster> {
    const agents: Agent[] = [];
    const byId = new Map<string, Agent>();
    for (let i = 0; i < n; i++) {
      const id = `p${i}`;
      const proc = topo.spawn(i, process.execPath, [...NODE_ARGS, AGENT], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, BENCH_ID: id, BENCH_BIND: topo.addr(i) },
      });
      const a: Agent = { id, proc, pending: new Map() };
      agents.push(a);
      byId.set(id, a);
      proc.on('message', (m: FromAgent) => {
        if ('signal' in m) {
          byId.get(m.signal.to)?.proc.send({ signal: { from: id, data: m.signal.data } } satisfies ToAgent);
          return;
        }
        const p = a.pending.get(m.id);
        if (!p) return;
        a.pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(new TabswarmError('INTERNAL', `agent ${id}: ${m.error}`));
      });
      proc.on('exit', (code) => {
        for (const p of a.pending.values()) p.reject(new TabswarmError('LINK_CLOSED', `agent ${id} exited (${code})`));
        a.pending.clear();
      });
    }
    let ps: { proc: ChildProcess; url: string } | null = null;
    if (o.parameterServer) {
      const proc = topo.spawn(n, process.execPath, [...NODE_ARGS, PS_SERVER], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, PS_HOST: topo.addr(n), PS_PEERS: String(n) },
      });
      const url = await new Promise<string>((resolve, reject) => {
        proc.on('message', (m: { ready?: string }) => m.ready && resolve(m.ready));
        proc.once('exit', (c) => reject(new TabswarmError('INTERNAL', `parameter server exited (${c})`)));
      });
      ps = { proc, url };
    }
    return new Cluster(topo, agents, ps);
  }

  call<T>(i: number, cmd: AgentCmd, timeoutMs = 90_000): Promise<T> {
    const a = this.agents[i]!;
    const id = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        a.pending.delete(id);
        reject(new TabswarmError('TIMEOUT', `agent ${a.id}: ${cmd.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      a.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      a.proc.send({ id, cmd } satisfies ToAgent);
    });
  }

  async psUsage(): Promise<Usage | null> {
    const proc = this.ps?.proc;
    if (!proc) return null;
    return new Promise<Usage>((resolve) => {
      const on = (m: { usage?: Usage }) => {
        if (!m.usage) return;
        proc.off('message', on);
        resolve(m.usage);
      };
      proc.on('message', on);
      proc.send({ op: 'usage' });
    });
  }

  async close(): Promise<void> {
    const exits = this.agents.map((a) => new Promise<void>((r) => (a.proc.exitCode !== null ? r() : a.proc.once('exit', () => r()))));
    for (const a of this.agents) if (a.proc.connected) a.proc.send({ id: 0, cmd: { op: 'exit' } } satisfies ToAgent);
    if (this.ps?.proc.connected) this.ps.proc.send({ op: 'exit' });
    const timer = setTimeout(() => this.agents.forEach((a) => a.proc.kill('SIGKILL')), 5000);
    await Promise.all(exits);
    clearTimeout(timer);
    this.ps?.proc.kill();
    await this.topo.close();
  }
}
