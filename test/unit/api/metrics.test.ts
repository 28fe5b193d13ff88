/** GET /metrics: Prometheus text format 0.0.4 (prom-client, a registry per server) from a real in-process server. */
import { register as globalRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Swarm } from '../../../client/api/index.ts';
import type { TabswarmServer } from '../../../server/app.ts';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import type { JobRegistry } from '../../../server/jobs.ts';
import { createServerMetrics } from '../../../server/metrics.ts';
import { modelBody, predictAll, savedMlp } from '../../integration/prediction/predictFixtures.ts';
import { ProtocolClient, runWorker } from '../../integration/server/protocolClient.ts';
import { call, startServer } from '../../integration/server/serverHarness.ts';

let s: TabswarmServer;
let swarm: Swarm;
beforeAll(async () => {
  s = await startServer();
  swarm = connect(s.url);
});
afterAll(() => s.close());

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:\\\\[\\\\"n]|[^"\\\\\\n])*"';
const VALUE = '(?:NaN|[+-]Inf|[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?)';
const GRAMMAR = [
  /^$/, // the format ignores empty lines; prom-client puts one between families
  new RegExp(`^# HELP ${NAME} .*$`),
  new RegExp(`^# TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped)$`),
  new RegExp(`^${NAME}(?:\\{${LABEL}(?:,${LABEL})*\\})? ${VALUE}(?: -?\\d+)?$`),
];

/** sample lines as name{labels} → value */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) out.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
  return out;
}

describe('GET /metrics', () => {
  it('every line follows the exposition grammar; the expected families are there; no ids or tokens', async () => {
    const job = await swarm.createJob({ preset: 'iris-mlp', steps: 4, minWorkers: 1 });
    const w = await ProtocolClient.connect(s.url);
    await w.join(job.id);
    w.ready();
    await runWorker(w);
    await job.waitUntilDone({ timeoutMs: 10_000, intervalMs: 20 });
    await swarm.job('no-such-job').view().catch(() => {});

    const r = await fetch(`${s.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await r.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    for (const line of lines) expect(GRAMMAR.some((g) => g.test(line)), line).toBe(true);
    // each family: HELP then TYPE, once
    const types = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toEqual(expect.arrayContaining([
      'tabswarm_jobs', 'tabswarm_members', 'tabswarm_steps_committed_total', 'tabswarm_samples_committed_total', 'tabswarm_allreduce_ms',
      'tabswarm_allreduce_wire_bytes_estimated_total', 'tabswarm_errors_total', 'tabswarm_prediction_units_total', 'tabswarm_prediction_samples_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes',
    ]));
    expect(text).not.toContain(job.id);
    expect(text).not.toContain(job.ownerToken!);

    const v = samples(text);
    expect(v.get('tabswarm_jobs{kind="train",status="done"}')).toBe(1);
    expect(v.get('tabswarm_jobs{kind="train",status="running"}')).toBe(0);
    expect(v.get('tabswarm_jobs{kind="predict",status="done"}')).toBe(0);
    expect(v.get('tabswarm_members{state="active"}')).toBe(1);
    expect(v.get('tabswarm_steps_committed_total')).toBe(4);
    expect(v.get('tabswarm_allreduce_ms_count')).toBe(4);
    expect(v.get('tabswarm_allreduce_ms_bucket{le="+Inf"}')).toBe(4);
    expect(v.get('tabswarm_allreduce_ms_bucket{le="1"}')).toBe(4); // runWorker reports 1 ms
    expect(v.get('tabswarm_allreduce_wire_bytes_estimated_total')).toBe(0); // a ring of one sends nothing
    expect(v.get('tabswarm_errors_total{code="UNKNOWN_JOB"}')).toBeGreaterThanOrEqual(1);

    // a second scrape counts nothing twice
    const again = samples(await (await fetch(`${s.url}/metrics`)).text());
    expect(again.get('tabswarm_steps_committed_total')).toBe(4);
    expect(again.get('tabswarm_allreduce_ms_count')).toBe(4);
    expect(await swarm.serverMetrics()).toContain('# TYPE tabswarm_jobs gauge');
    w.close();
  });

  it('a prediction job: settled units and their samples are counted once, its status under kind predict', async () => {
    const K = 3;
    const { model, saved } = await savedMlp([4], 8, K);
    const ref = await predictAll(model, createDatasetFiles().source, 'iris', 'test');
    const before = samples(await (await fetch(`${s.url}/metrics`)).text());
    const r = await call(s.url, 'POST', '/api/jobs', { json: { kind: 'predict', model: modelBody(saved), dataset: 'iris', split: 'test', unitSize: 7 } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id = (r.body as { id: string }).id;
    const c = await ProtocolClient.connect(s.url);
    await c.join(id);
    c.ready();
    await c.next('predict-model');
    // answer every unit with the single-process outputs until the server says all are settled
    for (;;) {
      const m = await c.until('a unit or units-done', () => {
        const i = c.inbox.findIndex((x) => x.type === 'unit' || x.type === 'units-done');
        return i < 0 ? undefined : c.inbox.splice(i, 1)[0]!;
      }, 20_000);
      if (m.type !== 'unit') break;
      expect((await c.upload(m.uploadId, new Uint8Array(ref.out.slice(m.start * K, (m.start + m.count) * K).buffer))).status).toBe(200);
    }
    const text = await (await fetch(`${s.url}/metrics`)).text();
    for (const line of text.slice(0, -1).split('\n')) expect(GRAMMAR.some((g) => g.test(line)), line).toBe(true);
    expect(text).not.toContain(id);
    const v = samples(text);
    const grew = (name: string) => v.get(name)! - (before.get(name) ?? 0);
    expect(grew('tabswarm_jobs{kind="predict",status="done"}')).toBe(1);
    expect(grew('tabswarm_prediction_units_total')).toBe(5); // 30 test samples in units of 7: 7,7,7,7,2
    expect(grew('tabswarm_prediction_samples_total')).toBe(ref.size);
    const again = samples(await (await fetch(`${s.url}/metrics`)).text());
    expect(again.get('tabswarm_prediction_units_total')).toBe(v.get('tabswarm_prediction_units_total'));
    c.close();
  });

  it('each metrics object owns its registry: nothing shared, nothing in the global default; label values escaped', async () => {
    const none = { jobs: new Map() } as unknown as JobRegistry;
    const [a, b] = [createServerMetrics({ jobs: none }), createServerMetrics({ jobs: none })];
    a.countError('we"ird\\\n');
    const ta = await a.render();
    const line = ta.split('\n').find((l) => l.startsWith('tabswarm_errors_total{'));
    expect(line).toBe('tabswarm_errors_total{code="we\\"ird\\\\\\n"} 1');
    expect(GRAMMAR.some((g) => g.test(line!))).toBe(true);
    expect(await b.render()).not.toContain('tabswarm_errors_total{');
    expect(await globalRegistry.metrics()).not.toContain('tabswarm_');
  });
});
