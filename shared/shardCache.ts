/**
 * A bounded, persistent cache of shard bytes, keyed by the shard's SHA-256: least recently
 * used out first, by bytes, under a budget. The storage is injected — Cache Storage in a tab
 * (client/worker/shardStoreBrowser.ts), a directory for a Node peer (server/shardStoreDir.ts),
 * a Map in tests — so what survives a session is the backend's business, the policy is here.
 * Entries found at open have no known order and count as the oldest, in the order listed.
 */
export interface ShardStoreBackend {
  list(): Promise<{ key: string; bytes: number }[]>;
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface ShardCacheStats {
  bytes: number;
  entries: number;
  budget: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class ShardCache {
  /** key → bytes, in use order (Map iteration order: oldest first) */
  private readonly index = new Map<string, number>();
  private used = 0;
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };
  /** writes and evictions one at a time (a put's eviction must not race another's) */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly backend: ShardStoreBackend, readonly budget: number) {}

  /** Opens over what the backend already holds, trimmed to the budget. */
  static async open(backend: ShardStoreBackend, budgetBytes: number): Promise<ShardCache> {
    const c = new ShardCache(backend, Math.max(0, budgetBytes));
    for (const e of await backend.list().catch(() => [])) {
      c.index.set(e.key, e.bytes);
      c.used += e.bytes;
    }
    await c.evictTo(c.budget);
    return c;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  keys(): string[] {
    return [...this.index.keys()];
  }

  stats(): ShardCacheStats {
    return { bytes: this.used, entries: this.index.size, budget: this.budget, ...this.counts };
  }

  /** The bytes, or null (a miss, or an entry the backend lost: then forgotten). */
  async get(key: string): Promise<Uint8Array | null> {
    const size = this.index.get(key);
    if (size === undefined) {
      this.counts.misses++;
      return null;
    }
    const bytes = await this.backend.get(key).catch(() => null);
    if (!bytes) {
      this.forget(key);
      this.counts.misses++;
      return null;
    }
    this.index.delete(key);
    this.index.set(key, size); // most recently used
    this.counts.hits++;
    return bytes;
  }

  /** Drops an entry (e.g. bytes that failed their hash check). */
  async remove(key: string): Promise<void> {
    this.forget(key);
    await this.backend.delete(key).catch(() => {});
  }

  /** Keeps `bytes` under `key`, evicting the least recently used; false if it alone is over the budget. */
  put(key: string, bytes: Uint8Array): Promise<boolean> {
    const run = this.chain.then(async () => {
      if (bytes.length > this.budget) return false;
      if (this.index.has(key)) {
        this.index.delete(key);
        this.index.set(key, bytes.length);
        return true;
      }
      await this.evictTo(this.budget - bytes.length);
      await this.backend.put(key, bytes);
      this.index.set(key, bytes.length);
      this.used += bytes.length;
      return true;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  private forget(key: string) {
    const size = this.index.get(key);
    if (size === undefined) return;
    this.index.delete(key);
    this.used -= size;
  }

  private async evictTo(limit: number) {
    for (const [key] of this.index) {
      if (this.used <= limit) break;
      this.forget(key);
      this.counts.evictions++;
      await this.backend.delete(key).catch(() => {});
    }
  }
}

/** A backend in memory (tests; a tab without Cache Storage). */
export function memoryShardStore(): ShardStoreBackend & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return {
    map,
    list: async () => [...map].map(([key, b]) => ({ key, bytes: b.length })),
    get: async (key) => map.get(key) ?? null,
    put: async (key, bytes) => void map.set(key, bytes),
    delete: async (key) => void map.delete(key),
  };
}
