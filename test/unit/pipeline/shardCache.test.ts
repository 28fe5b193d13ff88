import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryShardStore, ShardCache } from '../../../shared/shardCache.ts';
import { dirShardStore } from '../../../server/shardStoreDir.ts';

const key = (i: number) => i.toString(16).padStart(64, '0');
const bytes = (n: number, v = 1) => new Uint8Array(n).fill(v);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('ShardCache', () => {
  it('keeps the most recently used shards under the byte budget', async () => {
    const store = memoryShardStore();
    const c = await ShardCache.open(store, 100);
    await c.put(key(1), bytes(40));
    await c.put(key(2), bytes(40));
    expect(await c.get(key(1))).not.toBeNull(); // 1 is now the most recent
    await c.put(key(3), bytes(40)); // evicts 2, the least recently used
    expect(c.keys().sort()).toEqual([key(1), key(3)]);
    expect([...store.map.keys()].sort()).toEqual([key(1), key(3)]);
    expect(c.stats()).toMatchObject({ bytes: 80, entries: 2, evictions: 1, hits: 1 });
    expect(await c.get(key(2))).toBeNull();
    expect(c.stats().misses).toBe(1);
    // a shard larger than the whole budget is not kept, and evicts nothing
    expect(await c.put(key(4), bytes(101))).toBe(false);
    expect(c.keys()).toHaveLength(2);
  });

  it('concurrent puts never overshoot the budget', async () => {
    const c = await ShardCache.open(memoryShardStore(), 100);
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.put(key(i), bytes(30))));
    expect(c.stats().bytes).toBeLessThanOrEqual(100);
    expect(c.stats().entries).toBe(3);
  });

  it('a directory store survives a restart, oldest-used evicted first, trimmed to a smaller budget', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardcache-'));
    dirs.push(dir);
    const a = await ShardCache.open(dirShardStore(dir), 1000);
    for (let i = 0; i < 4; i++) await a.put(key(i), bytes(100, i));
    // all written long ago; the read below makes key 0 the most recently used
    for (let i = 0; i < 4; i++) utimesSync(join(dir, key(i)), new Date(2000, 0, 1 + i), new Date(2000, 0, 1 + i));
    expect((await a.get(key(0)))![0]).toBe(0);
    writeFileSync(join(dir, 'not-a-shard'), 'x');
    const b = await ShardCache.open(dirShardStore(dir), 250); // a new session with a smaller budget
    expect(b.keys().sort()).toEqual([key(0), key(3)].sort());
    expect((await b.get(key(3)))![50]).toBe(3);
    expect(readdirSync(dir).filter((f) => f.length === 64).sort()).toEqual([key(0), key(3)].sort());
    await expect(dirShardStore(dir).put('../escape', bytes(1))).rejects.toThrow(RangeError);
  });
});
