/**
 * Multi-peer runs on a developer machine stay on loopback: as root, re-run this command in
 * a fresh network namespace that has only `lo` (unshare -n). TABSWARM_NETNS marks the child.
 */
import { spawnSync } from 'node:child_process';

export function reexecInLoopbackNamespace(): number | null {
  if (process.env.TABSWARM_NETNS || process.getuid?.() !== 0 || process.platform !== 'linux') return null;
  const r = spawnSync('unshare', ['-n', 'bash', '-c', 'ip link set lo up && exec "$@"', '_', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, TABSWARM_NETNS: '1' },
  });
  if (r.error) return null; // no unshare here: run in place
  return r.status ?? 1;
}
