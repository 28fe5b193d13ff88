/**
 * Shard GETs over real HTTP: gzip-encoded when the client accepts it (the bytes it decodes
 * hash to the shard's name), raw otherwise; every GET counted per `?peer=` in
 * GET /api/datasets/:id/stats.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import type { StoredDatasetMeta } from '../../../shared/datasetShards.ts';
import { startServer } from '../server/serverHarness.ts';

let s: TabswarmServer | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

/** a raw GET (no automatic decoding), with the given accept-encoding */
function get(url: string, acceptEncoding: string): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

describe('shard routes', () => {
  it('gzip when accepted, raw when not, the same bytes by hash; counted per peer', async () => {
    s = await startServer({ datasets: { shardBytes: 2000 } });
    const csv = ['a,b,label', ...Array.from({ length: 300 }, (_, i) => `${i % 7},0,${i % 2}`)].join('\n');
    const meta = (await (await fetch(`${s.url}/api/datasets?format=csv&label=label`, { method: 'POST', body: csv })).json()) as StoredDatasetMeta;
    const [first, second] = meta.shards;
    const url = (h: string, peer: string) => `${s!.url}/api/datasets/${meta.id}/shards/${h}?peer=${peer}`;
    const zipped = await get(url(first!.hash, 'tabA'), 'gzip, deflate');
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const raw = gunzipSync(zipped.body);
    expect(createHash('sha256').update(raw).digest('hex')).toBe(first!.hash);
    expect(zipped.body.length).toBeLessThan(raw.length);
    const plain = await get(url(first!.hash, 'tabA'), 'identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(raw)).toBe(true);
    await get(url(second!.hash, 'tabB'), 'gzip;q=0');
    await get(url(second!.hash, 'not a peer!'), 'identity');
    const stats = (await (await fetch(`${s.url}/api/datasets/${meta.id}/stats`)).json()) as { shards: number; peers: Record<string, { fetches: number; bytes: number; shards: number; hashes: string[] }> };
    expect(stats.shards).toBe(meta.shards.length);
    expect(stats.peers.tabA).toMatchObject({ fetches: 2, shards: 1, bytes: zipped.body.length + plain.body.length, hashes: [first!.hash] });
    expect(stats.peers.tabB).toMatchObject({ fetches: 1, shards: 1, bytes: second!.bytes });
    expect(stats.peers['-']).toMatchObject({ fetches: 1 });
    expect((await fetch(`${s.url}/api/datasets/ds_000000000000000000000000/stats`)).status).toBe(404);
  });
});
