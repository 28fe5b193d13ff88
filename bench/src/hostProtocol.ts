/**
 * What the bench orchestrator and its peer agents (one Node process per simulated host) say
 * to each other over the child-process IPC channel. Control and signaling never use the
 * benchmarked network; only the measured traffic does.
 */
import type { CodecName } from '../../shared/codec.ts';

export type RingImpl = 'tuned' | 'baseline';

/** How a measured ring runs (the knobs `bench tune` moves). */
export interface RingConfig {
  impl: RingImpl;
  chunkBytes: number;
  highWater: number;
  lowWater?: number;
  encoding: CodecName;
  schedule?: 'fifo' | 'forward-first';
  /** pace each rank's sends to its next rank (bytes/s; tuned ring only), see PacedLink */
  pace?: number;
  /** pace under a delay-based estimate of the uplink instead (PacedLink `auto`; `pace` overrides) */
  autoPace?: boolean;
}

export interface RingSetup extends RingConfig {
  op: 'ringSetup';
  rank: number;
  size: number;
  prev: string;
  next: string;
  elems: number;
  epoch: number;
}

export type AgentCmd =
  | { op: 'connect'; peers: string[] }
  | RingSetup
  | { op: 'ringStep'; step: number }
  | { op: 'ringTeardown' }
  | { op: 'p2pSend'; to: string; bytes: number; chunkBytes: number; highWater: number }
  | { op: 'a2a'; peers: string[]; rank: number; elems: number; chunkBytes: number; highWater: number; step: number }
  | { op: 'psConnect'; url: string; rank: number }
  | { op: 'psStep'; step: number; elems: number }
  | { op: 'usage' }
  | { op: 'exit' };

export interface StepResult {
  ms: number;
  bytesSent: number;
  hash: string;
  stallMs?: number;
}

export interface Usage {
  cpuUserMs: number;
  cpuSystemMs: number;
  rssBytes: number;
}

export type ToAgent = { id: number; cmd: AgentCmd } | { signal: { from: string; data: unknown } };
export type FromAgent = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string } | { signal: { to: string; data: unknown } };

/** A set of benchmark hosts (Node agents or Chromium tabs) the measurements drive. */
export interface Hosts {
  readonly ids: string[];
  readonly size: number;
  call<T>(i: number, cmd: AgentCmd, timeoutMs?: number): Promise<T>;
  /** the same kind of command on hosts `ranks` (default all) at once */
  all<T>(cmd: (rank: number) => AgentCmd, ranks?: number[], timeoutMs?: number): Promise<T[]>;
  /** opens the links of a ring (each rank to both neighbours) or of a full mesh among the first n */
  connect(shape: 'ring' | 'mesh', n?: number): Promise<void>;
  close(): Promise<void>;
}

/** What every Hosts does the same way on top of `call`: commands to many hosts, and links. */
export abstract class HostsBase implements Hosts {
  abstract readonly ids: string[];
  abstract call<T>(i: number, cmd: AgentCmd, timeoutMs?: number): Promise<T>;
  abstract close(): Promise<void>;

  get size(): number {
    return this.ids.length;
  }

  all<T>(cmd: (rank: number) => AgentCmd, ranks: number[] = this.ids.map((_, i) => i), timeoutMs?: number): Promise<T[]> {
    return Promise.all(ranks.map((r) => this.call<T>(r, cmd(r), timeoutMs)));
  }

  async connect(shape: 'ring' | 'mesh', n = this.size): Promise<void> {
    const ids = this.ids.slice(0, n);
    await this.all((r) => ({ op: 'connect', peers: linkPeers(shape, ids, r) }), ids.map((_, i) => i));
  }
}

/** Bench traffic that is not a ring frame starts with this byte (ring frames start 'TW'). */
export const BENCH_TAG = 0xb0;
export const Kind = { P2pData: 1, P2pEnd: 2, P2pAck: 3, A2a: 4 } as const;

/** The peers rank `r` links to: both ring neighbours (one when n = 2), or everyone for a full mesh. */
export function linkPeers(shape: 'ring' | 'mesh', ids: string[], r: number): string[] {
  const n = ids.length;
  return shape === 'mesh' ? ids.filter((_, j) => j !== r) : [...new Set([ids[(r + n - 1) % n]!, ids[(r + 1) % n]!])];
}
