/**
 * `tabswarm predict --model DIR|JOB_ID --data DATASET|FILE --out preds.npy [--replicas 2] [--workers N]`
 *
 * With `--url` it uses that server; without, it starts one in this process (in memory). The
 * model is a directory with model.json and its weight files (what `model.save('file://…')`
 * writes) or a finished training job's id (with `--token`, that job's owner token). The data
 * is a file (uploaded to the dataset store first: .csv, .jsonl, .npy, .npz) or a dataset id.
 * `--workers N` opens N headless Chromium workers on the job link; otherwise it prints the
 * link and waits for volunteers. The outputs are streamed to `--out` in the format its
 * extension names (.npy, .csv, .jsonl).
 */
import { createWriteStream, readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { connect } from '../../client/api/index.ts';
import type { PredictModel, PredictOptions } from '../../client/api/predict.ts';
import { createTabswarmServer, type TabswarmServer } from '../app.ts';
import { createLogger } from '../log.ts';
import { startWorkers, type HeadlessSwarm } from '../workers.ts';
import { isBuiltinDatasetId } from '../../shared/jobSpec.ts';

const FORMATS: Record<string, 'npy' | 'csv' | 'jsonl'> = { '.npy': 'npy', '.csv': 'csv', '.jsonl': 'jsonl', '.ndjson': 'jsonl' };
const DATA_FORMATS: Record<string, 'csv' | 'jsonl' | 'npy' | 'npz'> = { '.csv': 'csv', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.npy': 'npy', '.npz': 'npz' };

export const PREDICT_USAGE = `tabswarm predict --model DIR|JOB_ID --data DATASET|FILE --out preds.npy|.csv|.jsonl
                 [--replicas 1|2] [--workers N] [--backend NAME] [--url URL] [--token JOB_OWNER_TOKEN]
                 [--split all|train|test] [--label COL] [--unit-size N] [--timeout 900]`;

/** model.json and its weight files from a directory, as the request body carries them. */
export function readModelDir(dir: string): { modelJson: Record<string, unknown>; weightsBin: Uint8Array } {
  const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest?: { paths: string[] }[] };
  const parts = (modelJson.weightsManifest ?? []).flatMap((g) => g.paths).map((p) => readFileSync(join(dir, p)));
  return { modelJson: modelJson as Record<string, unknown>, weightsBin: new Uint8Array(Buffer.concat(parts)) };
}

export async function predictCommand(argv: string[], print: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, replicas: { type: 'string', default: '1' }, workers: { type: 'string' },
      backend: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, split: { type: 'string' }, label: { type: 'string' },
      'unit-size': { type: 'string' }, timeout: { type: 'string', default: '900' },
    },
  });
  if (!values.model || !values.data || !values.out) throw new Error(`usage: ${PREDICT_USAGE}`);
  const format = FORMATS[extname(values.out).toLowerCase()];
  if (!format) throw new Error('--out must end in .npy, .csv or .jsonl');
  const replicas = Number(values.replicas);
  if (replicas !== 1 && replicas !== 2) throw new Error('--replicas must be 1 or 2');
  let server: TabswarmServer | null = null;
  let workers: HeadlessSwarm | null = null;
  try {
    if (!values.url) server = await createTabswarmServer({ port: 0, log: createLogger(process.env.TABSWARM_LOG === 'debug' ? 'debug' : 'warn') });
    const url = values.url ?? server!.url;
    const swarm = connect(url);
    let model: PredictModel;
    if (existsSync(values.model) && statSync(values.model).isDirectory()) model = readModelDir(values.model);
    else {
      if (!values.token) throw new Error('--model names a job: pass --token, that job\'s owner token');
      model = { job: values.model, ownerToken: values.token };
    }
    let dataset = values.data;
    let split = values.split as PredictOptions['split'];
    if (existsSync(values.data) && statSync(values.data).isFile()) {
      const f = DATA_FORMATS[extname(values.data).toLowerCase()];
      if (!f) throw new Error('--data: a file must end in .csv, .jsonl, .npy or .npz');
      const ds = await swarm.datasets.add(new Uint8Array(readFileSync(values.data)), { format: f, ...(values.label ? { label: values.label } : {}) });
      dataset = ds.id;
      print(`uploaded ${values.data}: dataset ${ds.id}, ${ds.size} samples`);
    }
    split ??= isBuiltinDatasetId(dataset) ? 'test' : 'all';
    const p = await swarm.predict(model, dataset, { replicas, split, ...(values['unit-size'] ? { unitSize: Number(values['unit-size']) } : {}), ...(values.backend ? { backend: values.backend as PredictOptions['backend'] } : {}) });
    print(`prediction job ${p.id}: volunteers join at ${p.joinUrl}`);
    if (values.workers) {
      const target = new URL(p.joinUrl);
      if (values.backend) target.searchParams.set('backend', values.backend);
      workers = await startWorkers({ url: target.toString(), count: Number(values.workers), loopbackOnly: process.env.TABSWARM_NETNS === '1' });
    }
    const v = await p.waitUntilDone({ timeoutMs: Number(values.timeout) * 1000 });
    const r = await p.download(format);
    await pipeline(Readable.fromWeb(r.body as import('node:stream/web').ReadableStream), createWriteStream(values.out));
    const s = v.prediction!;
    print(`${s.samples} samples in ${s.units} units on ${v.members.filter((m) => m.samplesDone > 0).length} members: ${s.samplesPerSec.toFixed(0)} samples/s` +
      `${s.accuracy !== null ? `, accuracy ${(s.accuracy * 100).toFixed(2)} %` : ''}${replicas === 2 ? `, ${s.disagreements} disagreements, ${s.flagged} flagged` : ''}`);
    print(`wrote ${values.out}`);
    return 0;
  } finally {
    await workers?.close().catch(() => {});
    await server?.close();
  }
}
