/**
 * The dataset store under SIGKILL: a real `tabswarm serve` process holds an uploaded dataset
 * and is receiving a second upload when it is killed. Restarted on the same data directory,
 * the first dataset is there with every shard hashing to its name, and the upload cut short
 * left no temp file, shard or row.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredDatasetMeta } from '../../../shared/datasetShards.ts';
import { waitFor } from '../../e2e/helpers.ts';
import { spawnServer, type ServerProcess } from './serverProcess.ts';

let server: ServerProcess | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'tabswarm-dskill-'));
afterAll(async () => {
  await server?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const shardFiles = () => readdirSync(join(dataDir, 'datasets', 'shards'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();

/** rows × cols of float32-exact values (k/8), a label column `y` of 4 classes */
function csv(rows: number, cols: number): string {
  const head = [...Array.from({ length: cols }, (_, c) => `f${c}`), 'y'].join(',');
  const lines = Array.from({ length: rows }, (_, r) => [...Array.from({ length: cols }, (_, c) => ((r * 31 + c * 7) % 97) / 8), r % 4].join(','));
  return `${head}\n${lines.join('\n')}\n`;
}

describe('the dataset store under SIGKILL', () => {
  it('an uploaded dataset survives with every shard hash intact; the upload the kill cut short leaves nothing behind', async () => {
    server = await spawnServer({ port: 0, dataDir });
    // 24,000 × 50 float32 features: 4.8 MB of shards, more than one 4 MiB shard
    const up = await fetch(`${server.url}/api/datasets?format=csv&label=y&name=kept`, { method: 'POST', body: csv(24_000, 50) });
    expect(up.status).toBe(201);
    const meta = (await up.json()) as StoredDatasetMeta;
    expect(meta.shards.length).toBeGreaterThan(1);
    const before = shardFiles();

    // a second upload, half sent: the server is writing it to its temp directory when it dies
    const sock = connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => {});
    sock.write(`POST /api/datasets?format=csv&label=y&name=cut HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n${csv(2_000, 50)}`);
    const tmp = join(dataDir, 'datasets', 'tmp');
    await waitFor('the second upload to reach the temp directory', async () => (readdirSync(tmp).length > 0 ? true : null), 30_000, 20);
    await server.kill('SIGKILL');
    sock.destroy();
    expect(readdirSync(tmp).length).toBeGreaterThan(0); // what the kill left

    server = await spawnServer({ port: 0, dataDir });
    expect(readdirSync(tmp)).toEqual([]);
    expect(shardFiles()).toEqual(before);
    const list = (await (await fetch(`${server.url}/api/datasets`)).json()) as { datasets: StoredDatasetMeta[] };
    expect(list.datasets.filter((d) => !d.shipped).map((d) => d.name)).toEqual(['kept']);
    const again = (await (await fetch(`${server.url}/api/datasets/${meta.id}`)).json()) as StoredDatasetMeta;
    expect(again.shards).toEqual(meta.shards);
    for (const ref of again.shards) {
      const bytes = new Uint8Array(await (await fetch(`${server.url}/api/datasets/${meta.id}/shards/${ref.hash}`)).arrayBuffer());
      expect(bytes.length).toBe(ref.bytes);
      expect(sha(bytes)).toBe(ref.hash);
    }
  }, 120_000);
});
