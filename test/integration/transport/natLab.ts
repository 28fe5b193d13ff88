/**
 * A NAT'd network built from network namespaces, inside the test's loopback-only namespace
 * (which itself gets no interface but `lo`):
 *
 *   pub   one namespace, bridge br0 100.64.0.1/24 (and .2): the "internet" (coturn listens on
 *         .1, relays on .2); 100.64.0.0/10 is the carrier-grade NAT range, unrouted here
 *   r<i>  router i: `w<i>` 100.64.0.(10+i)/24 on br0, `l<i>` 10.0.(i+1).1/24 toward its host;
 *         forwards, masquerades everything leaving w<i> with random source ports (a symmetric
 *         NAT: a mapping learnt through the TURN server says nothing about the one toward a
 *         peer), and lets in from the wan side only what conntrack knows (replies)
 *   h<i>  host i: `e<i>` 10.0.(i+1).2/24, default route via its router; Node peers run here
 *
 * `pub` has no route to any 10.0.x.0/24, so host candidates (10.0.x.2) cannot reach each
 * other, and without TURN no candidate pair works. Addresses exist only inside these
 * namespaces. Namespaces are anonymous (held by `unshare -n cat`, gone when we close).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holder, inNs, sh } from '../../../bench/src/topology.ts';

export interface NatLab {
  pubPid: number;
  hostPid(i: number): number;
  routerPid(i: number): number;
  hostAddr(i: number): string;
  /** the router's public (wan) address: where host i's traffic appears to come from */
  publicAddr(i: number): string;
  /** the public address servers listen on */
  readonly serverAddr: string;
  /** a second public address of the server's, for TURN relay allocations */
  readonly relayAddr: string;
  /** runs a command in host i's namespace */
  spawnInHost(i: number, cmd: string, args: string[], opts: SpawnOptions): ChildProcess;
  spawnInPub(cmd: string, args: string[], opts: SpawnOptions): ChildProcess;
  /** takes host i's link to its router down or up (from the router's side) */
  setHostLink(i: number, up: boolean): Promise<void>;
  close(): Promise<void>;
}

const NFT_RULES = (wan: string) => `
table ip nat {
  chain postrouting { type nat hook postrouting priority 100; oifname "${wan}" masquerade random; }
}
table ip filter {
  chain forwarding {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    oifname "${wan}" accept
  }
}
`;

export async function natLab(hosts: number): Promise<NatLab> {
  const held: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tabswarm-nat-'));
  const close = async () => {
    rmSync(dir, { recursive: true, force: true });
    const gone = held.map((h) => new Promise<void>((r) => (h.exitCode !== null || h.signalCode !== null ? r() : h.once('exit', () => r()))));
    for (const h of held) h.stdin?.end();
    await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 2000))]);
  };
  try {
    const pub = await holder();
    held.push(pub);
    const P = pub.pid!;
    await inNs(P, ['ip', 'link', 'set', 'lo', 'up']);
    await inNs(P, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(P, ['ip', 'addr', 'add', '100.64.0.1/24', 'dev', 'br0']);
    await inNs(P, ['ip', 'addr', 'add', '100.64.0.2/24', 'dev', 'br0']);
    await inNs(P, ['ip', 'link', 'set', 'br0', 'up']);
    const routers: number[] = [];
    const hostsPids: number[] = [];
    for (let i = 0; i < hosts; i++) {
      const r = await holder();
      held.push(r);
      const h = await holder();
      held.push(h);
      const R = r.pid!;
      const H = h.pid!;
      routers.push(R);
      hostsPids.push(H);
      // wan: w<i> (router) – b<i> (bridge port in pub); lan: l<i> (router) – e<i> (host)
      await sh(['ip', 'link', 'add', `w${i}`, 'netns', String(R), 'type', 'veth', 'peer', 'name', `b${i}`, 'netns', String(P)]);
      await sh(['ip', 'link', 'add', `l${i}`, 'netns', String(R), 'type', 'veth', 'peer', 'name', `e${i}`, 'netns', String(H)]);
      await inNs(P, ['ip', 'link', 'set', `b${i}`, 'master', 'br0']);
      await inNs(P, ['ip', 'link', 'set', `b${i}`, 'up']);
      await inNs(R, ['ip', 'link', 'set', 'lo', 'up']);
      await inNs(R, ['ip', 'addr', 'add', `100.64.0.${10 + i}/24`, 'dev', `w${i}`]);
      await inNs(R, ['ip', 'addr', 'add', `10.0.${i + 1}.1/24`, 'dev', `l${i}`]);
      await inNs(R, ['ip', 'link', 'set', `w${i}`, 'up']);
      await inNs(R, ['ip', 'link', 'set', `l${i}`, 'up']);
      await inNs(R, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const rules = join(dir, `r${i}.nft`);
      writeFileSync(rules, NFT_RULES(`w${i}`));
      await inNs(R, ['nft', '-f', rules]);
      await inNs(H, ['ip', 'link', 'set', 'lo', 'up']);
      await inNs(H, ['ip', 'addr', 'add', `10.0.${i + 1}.2/24`, 'dev', `e${i}`]);
      await inNs(H, ['ip', 'link', 'set', `e${i}`, 'up']);
      await inNs(H, ['ip', 'route', 'add', 'default', 'via', `10.0.${i + 1}.1`]);
    }
    const nsSpawn = (pid: number, cmd: string, args: string[], opts: SpawnOptions) => spawn('nsenter', ['-t', String(pid), '-n', '--', cmd, ...args], opts);
    return {
      pubPid: P,
      hostPid: (i) => hostsPids[i]!,
      routerPid: (i) => routers[i]!,
      hostAddr: (i) => `10.0.${i + 1}.2`,
      publicAddr: (i) => `100.64.0.${10 + i}`,
      serverAddr: '100.64.0.1',
      relayAddr: '100.64.0.2',
      spawnInHost: (i, cmd, args, opts) => nsSpawn(hostsPids[i]!, cmd, args, opts),
      spawnInPub: (cmd, args, opts) => nsSpawn(P, cmd, args, opts),
      setHostLink: async (i, up) => {
        await inNs(routers[i]!, ['ip', 'link', 'set', `l${i}`, up ? 'up' : 'down']);
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
