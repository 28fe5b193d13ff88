/**
 * `tabswarm bench [name|all] [--quick] [--json]`: runs benchmarks, prints their tables,
 * writes bench/results/<name>.json (and SVG figures; <name>.quick.json with --quick). With --json each bench's last printed
 * line is its result as one JSON object. Benches are loaded on demand.
 */
import { TabswarmError } from '../../shared/errors.ts';
import { formatTable, machineInfo, saveOutput, type Bench, type BenchContext } from './report.ts';

export const BENCHES: Record<string, { about: string; load: () => Promise<Bench> }> = {
  allreduce: { about: 'ring all-reduce: Node peers (loopback and capped links) and Chromium tabs, busbw vs point-to-point', load: async () => (await import('./allreduce.ts')).allreduceBench },
  tune: { about: 'the ring before and after tuning, side by side, and the knobs one at a time', load: async () => (await import('./tune.ts')).tuneBench },
  collectives: { about: 'ring vs all-to-all vs parameter server: time, bytes per host, server CPU', load: async () => (await import('./collectives.ts')).collectivesBench },
  compression: { about: 'fp32 vs fp16 vs int8 frames: bytes on the wire, all-reduce time, MNIST accuracy', load: async () => (await import('./compression.ts')).compressionBench },
  training: { about: 'MNIST MLP and CNN on 1, 2 and 4 tabs: steps/s, all-reduce vs compute, time to 97 %', load: async () => (await import('./training.ts')).trainingBench },
  control: { about: 'control plane: 500/1000/2000 simulated members joining and heartbeating one job', load: async () => (await import('./controlPlane.ts')).controlPlaneBench },
  chaos: { about: 'a fault every K steps (tab closed mid-all-reduce, browser killed mid-compute): recovery time, steps redone, distance to fault-free', load: async () => (await import('./chaos.ts')).chaosBench },
  relay: { about: 'ring all-reduce over direct vs TURN-relayed links (local coturn), N=2..4, 4 MB', load: async () => (await import('./relay.ts')).relayBench },
  smallvec: { about: 'small vectors (4 KB..1 MB): ring vs halving-doubling vs arc-tree vs arc-gather, N=3..9 Node peers on loopback', load: async () => (await import('./smallvec.ts')).smallvecBench },
  data: { about: 'input pipeline: MNIST dataset bytes and memory per tab per epoch, whole download vs shards; step rate with and without prefetch', load: async () => (await import('./data.ts')).dataBench },
  zeros: { about: 'exact frames masked (+0.0 values left out) vs dense: the demo job on 3 Chromium tabs, bytes sent, steps/s, all-reduce vs compute', load: async () => (await import('./zeros.ts')).zerosBench },
  predict: { about: 'prediction jobs: MNIST test set on 1, 2, 4 tabs and one Node process, bytes per sample, replicas 2 overhead', load: async () => (await import('./predict.ts')).predictBench },
  backends: { about: 'MNIST CNN step time on webgpu, webgl, wasm and cpu in one Chromium', load: async () => (await import('./backends.ts')).backendsBench },
};

/** `all` runs these, in this order */
export const ALL = ['allreduce', 'tune', 'collectives', 'compression', 'training', 'control', 'backends', 'chaos'];

export interface RunOptions {
  quick: boolean;
  json: boolean;
  print(line: string): void;
}

export async function runBench(name: string, o: RunOptions): Promise<Record<string, unknown>> {
  const entry = BENCHES[name];
  if (!entry) throw new TabswarmError('BAD_REQUEST', `unknown bench ${name}; one of: ${Object.keys(BENCHES).join(', ')}, all`);
  const ctx: BenchContext = { quick: o.quick, print: o.print };
  const before = machineInfo();
  const t0 = Date.now();
  o.print(`== bench ${name}${o.quick ? ' (quick)' : ''}: ${entry.about}`);
  const out = await (await entry.load())(ctx);
  const meta = {
    command: `tabswarm bench ${name}${o.quick ? ' --quick' : ''}`,
    startedAt: new Date(t0).toISOString(),
    wallS: Math.round((Date.now() - t0) / 100) / 10,
    machine: { ...before, loadavgAfter: machineInfo().loadavg },
    quick: o.quick,
  };
  for (const t of out.tables) o.print('\n' + formatTable(t));
  const files = await saveOutput(name, out, meta, o.quick);
  o.print(`\nwrote ${files.map((f) => f.slice(process.cwd().length + 1)).join(', ')} (${meta.wallS} s)`);
  const result = { bench: name, ...meta, ...out.result };
  if (o.json) o.print(JSON.stringify(result));
  return result;
}

export async function runBenches(names: string[], o: RunOptions): Promise<void> {
  if (names[0] === 'summary') return o.print(await (await import('./summary.ts')).summary());
  const list = names.length === 0 || names.includes('all') ? ALL : names;
  for (const n of list) await runBench(n, o);
}
