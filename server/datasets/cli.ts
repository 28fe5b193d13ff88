/**
 * `tabswarm dataset add FILE …` and `tabswarm dataset ls`: the dataset store's routes from a
 * shell. The file is streamed (never read whole); the format comes from --format or the
 * file's extension (.csv, .jsonl/.ndjson, .npy, .npz; a zip of IDX files needs --format idx).
 */
import { createReadStream, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

const BY_EXTENSION: Record<string, string> = { '.csv': 'csv', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.npy': 'npy', '.npz': 'npz' };

interface Summary {
  id: string; name: string; task: string; featureShape: number[]; numClasses: number | null; targetShape: number[] | null; size: number; bytes: number; shardCount?: number; shards?: unknown[];
}

async function reply(r: Response): Promise<Record<string, unknown>> {
  const text = await r.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${r.status}: ${text.slice(0, 200)}`);
  }
  const err = body.error as { code: string; message: string } | undefined;
  if (err) throw new Error(err.message);
  return body;
}

const describe = (d: Summary) =>
  `${d.id}  ${d.name}  ${d.task} ${JSON.stringify(d.featureShape)} → ${d.task === 'classification' ? `${d.numClasses} classes` : JSON.stringify(d.targetShape)}  ${d.size} samples  ${d.shardCount ?? d.shards?.length ?? 0} shards  ${d.bytes} bytes uploaded`;

export async function datasetCommand(argv: string[], print: (line: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, label: { type: 'string' }, format: { type: 'string' }, name: { type: 'string' }, task: { type: 'string' } },
  });
  const url = values.url.replace(/\/+$/, '');
  if (sub === 'ls') {
    const body = await reply(await fetch(`${url}/api/datasets`));
    const list = body.datasets as Summary[];
    if (list.length === 0) print('no datasets');
    for (const d of list) print(describe(d));
    return 0;
  }
  if (sub === 'add') {
    const file = positionals[0];
    if (!file) throw new Error('usage: tabswarm dataset add FILE [--label COL] [--format F] [--name NAME] [--task regression|classification] [--url URL]');
    const format = values.format ?? BY_EXTENSION[extname(file).toLowerCase()];
    if (!format) throw new Error(`cannot tell the format of ${file} from its extension: pass --format csv|jsonl|npy|npz|idx`);
    const q = new URLSearchParams({ format, name: values.name ?? basename(file) });
    if (values.label !== undefined) q.set('label', values.label);
    if (values.task !== undefined) q.set('task', values.task);
    const size = statSync(file).size;
    const r = await fetch(`${url}/api/datasets?${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const d = (await reply(r)) as unknown as Summary & { ownerToken?: string; deduplicated: boolean };
    print(describe(d));
    if (d.ownerToken) print(`owner token (keep it: it deletes the dataset; shown once): ${d.ownerToken}`);
    else print('an identical upload was already stored: this is its dataset (no new owner token)');
    print(`use it in a job spec as "dataset": { "id": "${d.id}" }`);
    return 0;
  }
  print('usage: tabswarm dataset add FILE [--label COL] [--format F] [--name NAME] [--task regression|classification] [--url URL] | tabswarm dataset ls [--url URL]');
  return sub === undefined ? 0 : 2;
}
