/**
 * A local coturn `turnserver` with TURN REST credentials (use-auth-secret), for tests and
 * benches: on 127.0.0.1 in the current (loopback-only) namespace, or on any address inside
 * another network namespace (`spawn` runs it there, `probe` checks STUN from there).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TabswarmError } from '../../shared/errors.ts';

export interface Coturn {
  ip: string;
  port: number;
  secret: string;
  /** turn:ip:port?transport=udp */
  url: string;
  log(): string;
  stop(): Promise<void>;
}

export interface CoturnOptions {
  /** listening address (default 127.0.0.1) */
  ip?: string;
  /**
   * relayed addresses (default `ip`). coturn refuses permissions (400) for its own addresses
   * other than loopback ones, so two peers relayed by one server need a relay address apart
   * from the listening one on anything but 127.0.0.1.
   */
  relayIp?: string;
  port?: number;
  /** runs `turnserver` (default: here) */
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
  /** runs a command where the server is reachable (default: here); used to wait for STUN */
  exec?: (cmd: string, args: string[]) => ChildProcess;
  /** ms to wait for the first STUN answer (default 10 000) */
  readyMs?: number;
}

export function haveTurnserver(): boolean {
  return spawnSync('sh', ['-c', 'command -v turnserver']).status === 0;
}

/**
 * Sends STUN Binding requests to ip:port until one is answered or `deadlineMs` passes. Run as
 * a script (`node coturn-probe ip port ms`) so that it can run inside another namespace.
 */
export const STUN_PROBE_JS = `
const dgram = require('node:dgram'), crypto = require('node:crypto');
const [ip, port, ms] = process.argv.slice(1);
const tid = crypto.randomBytes(12);
const req = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), tid]);
const s = dgram.createSocket('udp4');
const t0 = Date.now();
s.on('error', () => {});
s.on('message', (m) => { if (m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(tid)) process.exit(0); });
const probe = () => { if (Date.now() - t0 > Number(ms)) process.exit(3); s.send(req, Number(port), ip); setTimeout(probe, 50); };
s.bind(0, probe);
`;

export async function startCoturn(o: CoturnOptions = {}): Promise<Coturn> {
  const ip = o.ip ?? '127.0.0.1';
  const port = o.port ?? 3478;
  const readyMs = o.readyMs ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'tabswarm-turn-'));
  const secret = randomBytes(24).toString('base64url');
  const relayLo = 40000 + Math.floor(Math.random() * 20000);
  const args = [
    '-n',
    `--listening-ip=${ip}`, `--relay-ip=${o.relayIp ?? ip}`, `--listening-port=${port}`,
    `--min-port=${relayLo}`, `--max-port=${relayLo + 400}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=tabswarm.test',
    '--no-tls', '--no-dtls', '--no-tcp-relay', '--allow-loopback-peers',
    '--no-cli', '--log-file=stdout', '--simple-log', ...(process.env.TABSWARM_TURN_VERBOSE ? ['-V'] : []),
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`,
  ];
  const proc = (o.spawn ?? spawn)('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exit: string | null = null;
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', (code, sig) => {
    exit = `exit code ${code} signal ${sig}`;
    r();
  }));
  proc.once('error', (e) => (exit = e.message));
  const stop = async () => {
    if (!exit) {
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (!exit) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const probe = (o.exec ?? ((cmd, a) => spawn(cmd, a, { stdio: 'ignore' })))(process.execPath, ['-e', STUN_PROBE_JS, ip, String(port), String(readyMs)]);
  const code = await new Promise<number | null>((r) => {
    probe.once('exit', (c) => r(c));
    probe.once('error', () => r(-1));
  });
  if (code !== 0) {
    await stop();
    throw new TabswarmError('TIMEOUT', `turnserver did not answer STUN on ${ip}:${port} within ${readyMs} ms (${exit ?? 'still running'})\n${out.slice(-2000)}`);
  }
  return { ip, port, secret, url: `turn:${ip}:${port}?transport=udp`, log: () => out, stop };
}
