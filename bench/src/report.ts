/**
 * How a benchmark reports: tables printed as Markdown (so they paste into
 * bench/PERFORMANCE.md), one JSON result file per bench under bench/results/, and simple
 * SVG bar charts beside it. Figures only: nothing here passes or fails on timing.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  note?: string;
}

export interface Figure {
  /** file name under bench/results/ */
  file: string;
  title: string;
  unit: string;
  bars: { label: string; value: number; group?: string }[];
}

export interface BenchOutput {
  tables: Table[];
  /** the bench's result object (its JSON line with --json) */
  result: Record<string, unknown>;
  figures?: Figure[];
}

export interface BenchContext {
  quick: boolean;
  print(line: string): void;
}

export type Bench = (ctx: BenchContext) => Promise<BenchOutput>;

function fmt(c: Cell): string {
  if (c === null) return '—';
  if (typeof c === 'string') return c;
  if (!Number.isFinite(c) || Number.isInteger(c)) return String(c);
  const a = Math.abs(c);
  return a >= 1000 ? c.toFixed(0) : a >= 100 ? c.toFixed(1) : a >= 1 ? c.toFixed(2) : a === 0 ? '0' : c.toPrecision(3);
}

export function formatTable(t: Table): string {
  const cells = t.rows.map((r) => r.map(fmt));
  const w = t.columns.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  // text columns align left, numeric ones right
  const left = t.columns.map((_, i) => t.rows.some((r) => typeof r[i] === 'string'));
  const line = (r: string[]) => `| ${r.map((c, i) => (left[i] ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  const out = [`### ${t.title}`, '', line(t.columns), `|${w.map((n, i) => (left[i] ? ':' : '-') + '-'.repeat(n) + (left[i] ? '-' : ':')).join('|')}|`, ...cells.map(line)];
  if (t.note) out.push('', t.note);
  return out.join('\n');
}

export function machineInfo() {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

export function barChartSvg(f: Figure): string {
  const W = 760;
  const rowH = 22;
  const left = 260;
  const max = Math.max(1e-9, ...f.bars.map((b) => b.value));
  const groups = [...new Set(f.bars.map((b) => b.group ?? ''))];
  const colors = ['#3b6ea8', '#d9822b', '#4b9e5f', '#a8453b', '#7a5ea8', '#6b6b6b'];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = f.bars.map((b, i) => {
    const y = 40 + i * rowH;
    const w = ((W - left - 80) * b.value) / max;
    const color = colors[groups.indexOf(b.group ?? '') % colors.length];
    return `<text x="${left - 6}" y="${y + 15}" text-anchor="end" font-size="12">${esc(b.label)}</text>` +
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>` +
      `<text x="${(left + w + 4).toFixed(1)}" y="${y + 15}" font-size="11">${fmt(b.value)}</text>`;
  });
  const h = 60 + f.bars.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">${esc(f.title)} (${esc(f.unit)})</text>${rows.join('')}</svg>\n`;
}

export const RESULTS_DIR = join(process.cwd(), 'bench', 'results');

/**
 * Writes bench/results/<name>.json (+ figures) and returns the paths written. A quick run
 * writes <name>.quick.json and <figure>.quick.svg beside them, never over the full results.
 */
export async function saveOutput(name: string, out: BenchOutput, meta: Record<string, unknown>, quick = false): Promise<string[]> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const suffix = quick ? '.quick' : '';
  const file = join(RESULTS_DIR, `${name}${suffix}.json`);
  await writeFile(file, JSON.stringify({ bench: name, ...meta, ...out.result, tables: out.tables }, null, 2) + '\n');
  const written = [file];
  for (const f of out.figures ?? []) {
    const p = join(RESULTS_DIR, f.file.replace(/\.svg$/, `${suffix}.svg`));
    await writeFile(p, barChartSvg(f));
    written.push(p);
  }
  return written;
}
