/**
 * `tabswarm bench summary`: the latest full results in bench/results/*.json (not the
 * *.quick.json of --quick runs) as one Markdown document (per bench: command, when, machine
 * load, wall time, its tables), for bench/PERFORMANCE.md and the README.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALL } from './index.ts';
import { formatTable, RESULTS_DIR, type Table } from './report.ts';

interface Saved {
  bench: string;
  command: string;
  startedAt: string;
  wallS: number;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; loadavg: number[]; loadavgAfter: number[] };
  tables: Table[];
}

export async function summary(): Promise<string> {
  const files = (await readdir(RESULTS_DIR).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && !f.endsWith('.quick.json'));
  const saved: Saved[] = [];
  for (const f of files) {
    const j = JSON.parse(await readFile(join(RESULTS_DIR, f), 'utf8')) as Partial<Saved>;
    if (j.bench && j.tables) saved.push(j as Saved);
  }
  saved.sort((a, b) => ALL.indexOf(a.bench) - ALL.indexOf(b.bench));
  const out: string[] = [];
  for (const s of saved) {
    const m = s.machine;
    out.push(`## ${s.bench}`, '', `\`${s.command}\` — ${s.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${s.wallS} s; ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Node ${m.node}; load average ${m.loadavg[0]} → ${m.loadavgAfter[0]}`, '');
    for (const t of s.tables) out.push(formatTable(t).replace(/^### /, '#### '), '');
  }
  return out.join('\n');
}
