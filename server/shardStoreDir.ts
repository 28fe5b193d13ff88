/**
 * A Node peer's shard cache on disk: one file per shard, named by its SHA-256, in `dir`.
 * Listed oldest-used first (by mtime, which a read refreshes), so the LRU order survives a
 * restart of the peer.
 */
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ShardStoreBackend } from '../shared/shardCache.ts';

const KEY = /^[0-9a-f]{64}$/;

export function dirShardStore(dir: string): ShardStoreBackend {
  const path = (key: string) => {
    if (!KEY.test(key)) throw new RangeError(`not a shard hash: ${key.slice(0, 80)}`);
    return join(dir, key);
  };
  return {
    async list() {
      await mkdir(dir, { recursive: true });
      const out: { key: string; bytes: number; at: number }[] = [];
      for (const f of await readdir(dir)) {
        if (!KEY.test(f)) continue;
        const s = await stat(join(dir, f)).catch(() => null);
        if (s?.isFile()) out.push({ key: f, bytes: s.size, at: s.mtimeMs });
      }
      return out.sort((a, b) => a.at - b.at).map(({ key, bytes }) => ({ key, bytes }));
    },
    async get(key) {
      const p = path(key);
      const b = await readFile(p).catch(() => null);
      if (b) await utimes(p, new Date(), new Date()).catch(() => {});
      return b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : null;
    },
    async put(key, bytes) {
      await mkdir(dir, { recursive: true });
      // written aside, then renamed: a crash never leaves a half shard under its hash
      const tmp = `${path(key)}.${process.pid}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, path(key));
    },
    async delete(key) {
      await rm(path(key), { force: true });
    },
  };
}
