/**
 * Browsers on separate networks, for tests that break one browser's data path and not its
 * signaling (inside the test's loopback-only namespace):
 *
 *   test ns  the server; veth `s<i>` 10.9.<i>.1/24 ↔ `c<i>` 10.9.<i>.2/24 in host i: host i's
 *            signaling path, always up. The test namespace does not forward, so these
 *            addresses never carry traffic between hosts.
 *   pub      bridge br0; host i's `d<i>` 10.1.0.<10+i>/24 is plugged in as port `b<i>`: the
 *            only path between hosts, so every WebRTC link between browsers runs over it.
 *   h<i>     host i: one Chromium process runs in its namespace (`launch`).
 *
 * `setDataLink(i, up)` takes port b<i> down or up on the bridge side, as a cable pulled out
 * of host i: its interface loses carrier, its WebRTC links lose their path, its socket.io
 * connection to the server does not. `blockPair(i, j)` drops what hosts i and j send each
 * other over the bridge (nftables in both hosts), so that pair connects only through a relay;
 * `addPubAddr` and `spawnInPub` put a server (a TURN server) on the bridge itself, where every
 * host reaches it. Namespaces are anonymous (held by `unshare -n cat`).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { chromium, type Browser } from 'playwright';
import { findChromium } from '../../server/browser.ts';
import { holder, inNs, sh } from '../../bench/src/topology.ts';

/**
 * The two guards of a lab test file: a skipped test saying what is missing (root on Linux and
 * `tools`), and a failing one if WebRTC would run outside a loopback-only network namespace.
 * True when the lab tests may run.
 */
export function labGuards(file: string, tools: string[], missing: string): boolean {
  const loopbackOnly = Object.keys(networkInterfaces()).every((name) => name === 'lo');
  const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  const ready = process.platform === 'linux' && process.getuid?.() === 0 && tools.every(has);
  it.skipIf(ready)(`needs root on Linux, ${tools.join(', ')}`, () => {
    console.warn(`SKIPPED ${file}: it needs root, ${tools.join(', ')} (${missing})`);
  });
  it.skipIf(loopbackOnly)('refuses to run WebRTC outside a loopback-only network namespace', () => {
    throw new Error(`run under: bash test/run.sh test/e2e/${file}`);
  });
  return loopbackOnly && ready;
}

export interface BrowserNetLab {
  /** where host i reaches the server (listening on 0.0.0.0) */
  serverAddr(i: number): string;
  /** Chromium running in host i's namespace */
  launch(i: number): Promise<Browser>;
  setDataLink(i: number, up: boolean): Promise<void>;
  /** host i's address on the bridge (its WebRTC host candidate) */
  dataAddr(i: number): string;
  /** drops hosts i's and j's packets to each other over the bridge, both ways */
  blockPair(i: number, j: number): Promise<void>;
  /** adds an address (CIDR, in 10.1.0.0/24 below .10) to the bridge itself, for a server there */
  addPubAddr(cidr: string): Promise<void>;
  /** runs a command in the bridge's namespace */
  spawnInPub(cmd: string, args: string[], opts: SpawnOptions): ChildProcess;
  close(): Promise<void>;
}

export async function browserNetLab(hosts: number): Promise<BrowserNetLab> {
  const held: ChildProcess[] = [];
  const browsers: Browser[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tabswarm-netlab-'));
  const close = async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => {})));
    const gone = held.map((h) => new Promise<void>((r) => (h.exitCode !== null || h.signalCode !== null ? r() : h.once('exit', () => r()))));
    for (const h of held) h.stdin?.end();
    await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 2000))]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pub = await holder();
    held.push(pub);
    const P = pub.pid!;
    await inNs(P, ['ip', 'link', 'set', 'lo', 'up']);
    await inNs(P, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(P, ['ip', 'link', 'set', 'br0', 'up']);
    const hostPids: number[] = [];
    for (let i = 0; i < hosts; i++) {
      const h = await holder();
      held.push(h);
      const H = h.pid!;
      hostPids.push(H);
      await sh(['ip', 'link', 'add', `s${i}`, 'type', 'veth', 'peer', 'name', `c${i}`, 'netns', String(H)]);
      await sh(['ip', 'addr', 'add', `10.9.${i}.1/24`, 'dev', `s${i}`]);
      await sh(['ip', 'link', 'set', `s${i}`, 'up']);
      await sh(['ip', 'link', 'add', `b${i}`, 'netns', String(P), 'type', 'veth', 'peer', 'name', `d${i}`, 'netns', String(H)]);
      await inNs(P, ['ip', 'link', 'set', `b${i}`, 'master', 'br0']);
      await inNs(P, ['ip', 'link', 'set', `b${i}`, 'up']);
      await inNs(H, ['ip', 'link', 'set', 'lo', 'up']);
      await inNs(H, ['ip', 'addr', 'add', `10.9.${i}.2/24`, 'dev', `c${i}`]);
      await inNs(H, ['ip', 'link', 'set', `c${i}`, 'up']);
      await inNs(H, ['ip', 'addr', 'add', `10.1.0.${10 + i}/24`, 'dev', `d${i}`]);
      await inNs(H, ['ip', 'link', 'set', `d${i}`, 'up']);
    }
    return {
      serverAddr: (i) => `10.9.${i}.1`,
      launch: async (i) => {
        // Playwright drives Chromium over a pipe, so the browser may live in another namespace
        const wrapper = join(dir, `chromium-h${i}.sh`);
        writeFileSync(wrapper, `#!/bin/sh\nexec nsenter -t ${hostPids[i]} -n -- ${findChromium() ?? chromium.executablePath()} "$@"\n`);
        chmodSync(wrapper, 0o755);
        const b = await chromium.launch({
          executablePath: wrapper,
          headless: true,
          args: [
            '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
            '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
            // plain IPs in candidates (mDNS names need multicast DNS)
            '--disable-features=WebRtcHideLocalIpsWithMdns',
            ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
          ],
        });
        browsers.push(b);
        return b;
      },
      setDataLink: async (i, up) => {
        await inNs(P, ['ip', 'link', 'set', `b${i}`, up ? 'up' : 'down']);
      },
      dataAddr: (i) => `10.1.0.${10 + i}`,
      blockPair: async (i, j) => {
        for (const [from, to] of [[i, j], [j, i]] as const) {
          const rules = join(dir, `block-${from}-${to}.nft`);
          writeFileSync(rules, `table ip block${to} {\n  chain out { type filter hook output priority 0; ip daddr 10.1.0.${10 + to} drop; }\n}\n`);
          await inNs(hostPids[from]!, ['nft', '-f', rules]);
        }
      },
      addPubAddr: async (cidr) => {
        await inNs(P, ['ip', 'addr', 'add', cidr, 'dev', 'br0']);
      },
      spawnInPub: (cmd, args, opts) => spawn('nsenter', ['-t', String(P), '-n', '--', cmd, ...args], opts),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
