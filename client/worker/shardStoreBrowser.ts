/**
 * A tab's shard cache in Cache Storage (it outlives the session and the tab; the browser may
 * still clear it under storage pressure, which the cache survives as misses). Falls back to
 * memory where Cache Storage is missing (an insecure origin).
 */
import { memoryShardStore, type ShardStoreBackend } from '../../shared/shardCache.ts';

const CACHE = 'tabswarm-shards-v1';
const url = (key: string) => `${location.origin}/__tabswarm-shard/${key}`;

export async function browserShardStore(): Promise<ShardStoreBackend> {
  if (typeof caches === 'undefined') return memoryShardStore();
  const c = await caches.open(CACHE).catch(() => null);
  if (!c) return memoryShardStore();
  return {
    async list() {
      const out: { key: string; bytes: number }[] = [];
      for (const req of await c.keys()) {
        const key = new URL(req.url).pathname.split('/').pop() ?? '';
        const r = await c.match(req);
        const bytes = Number(r?.headers.get('content-length') ?? NaN);
        if (/^[0-9a-f]{64}$/.test(key) && Number.isFinite(bytes)) out.push({ key, bytes });
        else await c.delete(req);
      }
      return out;
    },
    async get(key) {
      const r = await c.match(url(key));
      return r ? new Uint8Array(await r.arrayBuffer()) : null;
    },
    async put(key, bytes) {
      await c.put(url(key), new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } }));
    },
    async delete(key) {
      await c.delete(url(key));
    },
  };
}
