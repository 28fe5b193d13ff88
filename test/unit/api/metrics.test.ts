/** GET /metrics: Prometheus text format 0.0.4 from a real in-process server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Swarm } from '../../../client/api/index.ts';
import type { TabswarmServer } from '../../../server/app.ts';
import { escapeLabel, family } from '../../../server/metrics.ts';
import { ProtocolClient, runWorker } from '../../integration/server/protocolClient.ts';
import { startServer } from '../../integration/server/serverHarness.ts';

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
      'tabswarm_allreduce_wire_bytes_estimated_total', 'tabswarm_errors_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes',
    ]));
    expect(text).not.toContain(job.id);
    expect(text).not.toContain(job.ownerToken!);

    const v = samples(text);
    expect(v.get('tabswarm_jobs{status="done"}')).toBe(1);
    expect(v.get('tabswarm_jobs{status="running"}')).toBe(0);
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

  it('escapes label values and help text', () => {
    expect(escapeLabel('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const lines = family('x_total', 'counter', 'line\nbreak', [[{ code: 'we"ird\n' }, 2]]);
    expect(lines).toEqual(['# HELP x_total line\\nbreak', '# TYPE x_total counter', 'x_total{code="we\\"ird\\n"} 2']);
    for (const l of lines) expect(GRAMMAR.some((g) => g.test(l)), l).toBe(true);
  });
});
