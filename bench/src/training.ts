/**
 * `tabswarm bench training`: MNIST MLP and CNN trained by swarms of 1, 2 and 4 headless tabs
 * on the same global batches (the 1-tab swarm is the single-tab baseline): steps/s,
 * samples/s, compute and all-reduce time per step, and the MLP's time to 97 % test accuracy.
 *
 * The global batch of every step is the same whatever N, so the step at which 97 % is first
 * reached is the same for every N (to float rounding); it is measured once, with evaluations
 * on the full test set every 50 steps, and the time for the other N follows from their
 * measured step rate.
 */
import type { Bench, BenchContext, Table } from './report.ts';
import { swarmRun, type SwarmRunResult } from './swarmRun.ts';

const TARGET = 0.97;

export const trainingBench: Bench = async (ctx: BenchContext) => {
  const runs: SwarmRunResult[] = [];
  const plan: { preset: 'mnist-mlp' | 'mnist-cnn'; steps: number }[] = [
    { preset: 'mnist-mlp', steps: ctx.quick ? 30 : 50 },
    { preset: 'mnist-cnn', steps: ctx.quick ? 10 : 14 },
  ];
  const overlapOff: SwarmRunResult[] = [];
  for (const p of plan) {
    for (const n of ctx.quick ? [1, 2] : [1, 2, 4]) {
      // the CNN (webgl: asynchronous compute) at N=2 also without the overlap of compute and ring, right after the run with it
      const extra = n === 2 && p.preset === 'mnist-cnn' && !ctx.quick;
      for (const overlap of extra ? [true, false] : [true]) {
        ctx.print(`${p.preset}, ${n} tab${n > 1 ? 's' : ''}, ${p.steps} steps${overlap ? '' : ', no overlap'}`);
        const r = await swarmRun({ workers: n, preset: p.preset, overrides: { steps: p.steps, evalEvery: 0, dataset: { testSize: 2000 } }, overlap, timeoutS: 600, print: ctx.print });
        (overlap ? runs : overlapOff).push(r);
        ctx.print(`  ${r.stepsPerSec.toFixed(2)} steps/s, compute ${r.computeMs.toFixed(0)} ms, all-reduce ${r.allreduceMs.toFixed(0)} ms, backends ${r.backends.join(',')}`);
      }
    }
  }
  let toTarget: SwarmRunResult | null = null;
  const targetWorkers = 2;
  if (!ctx.quick) {
    ctx.print(`mnist-mlp, ${targetWorkers} tabs, until ${TARGET * 100} % test accuracy`);
    toTarget = await swarmRun({ workers: targetWorkers, preset: 'mnist-mlp', overrides: { steps: 3000, evalEvery: 50 }, stopAtAccuracy: TARGET, timeoutS: 480, print: ctx.print });
    ctx.print(`  reached at step ${toTarget.reached?.step ?? '—'} after ${toTarget.reached?.trainS.toFixed(1) ?? '—'} s`);
  }
  const base = (preset: string) => runs.find((r) => r.preset === preset && r.workers === 1);
  /** the overlapped run of the same model and tabs as `off` */
  const overlapped = (off: SwarmRunResult) => runs.find((r) => r.preset === off.preset && r.workers === off.workers)!;
  const throughput: Table = {
    title: 'Training throughput: N tabs vs a single tab, the same global batches',
    columns: ['model', 'tabs', 'backends', 'steps/s', 'samples/s', '× 1 tab', 'compute ms/step', 'all-reduce ms/step', 'all-reduce / compute'],
    rows: runs.map((r) => [r.preset, r.workers, [...new Set(r.backends)].join(','), r.stepsPerSec, r.samplesPerSec, r.stepsPerSec / (base(r.preset)?.stepsPerSec ?? NaN), r.computeMs, r.allreduceMs, r.allreduceMs / r.computeMs]),
    note: 'Steady state (steps after the first 3); compute = the slowest member\'s slice, all-reduce = the slowest member\'s all-reduce time after its own gradient was complete (the part compute did not hide), as the coordinator records them. All tabs share this machine\'s 2 cores (and one software GPU process), so N tabs cannot compute N times faster here.',
  };
  const tables = [throughput];
  if (overlapOff.length > 0) {
    tables.push({
      title: 'Overlap of compute and all-reduce (2 tabs): the ring starts while the gradient is computed and read back, vs after it',
      columns: ['model', 'backends', 'median step ms overlapped', 'median step ms not', 'not / overlapped'],
      rows: overlapOff.map((off) => {
        const on = overlapped(off);
        return [off.preset, [...new Set(on.backends)].join(','), on.medianStepMs, off.medianStepMs, off.medianStepMs / on.medianStepMs];
      }),
      note: 'Same job, same batches, runs back to back; step = the coordinator\'s open → commit time, median over the steady steps (one slow step does not move it). What overlaps: link setup of a new ring, the read-back of each variable\'s gradient (GPU backends compute asynchronously, last layers first) and the ring. On wasm and cpu the gradient is computed synchronously, so only the read-back and link setup overlap.',
    });
  }
  if (toTarget) {
    const steps = toTarget.reached?.step ?? null;
    const mlp = runs.filter((r) => r.preset === 'mnist-mlp');
    tables.push({
      title: `MNIST MLP: time to ${TARGET * 100} % test accuracy (full 10 000-image test set, evaluated every 50 steps)`,
      columns: ['tabs', 'steps', 'seconds', 'how'],
      rows: [
        [targetWorkers, steps, toTarget.reached?.trainS ?? null, 'measured'],
        ...mlp.filter((r) => r.workers !== targetWorkers).map((r) => [r.workers, steps, steps === null ? null : steps / r.stepsPerSec, 'steps ÷ measured steps/s'] as (string | number | null)[]),
      ],
      note: toTarget.reached ? undefined : `not reached within ${toTarget.steps} steps (best ${Math.max(...toTarget.accuracy.map((a) => a.testAccuracy)).toFixed(4)})`,
    });
  }
  return {
    tables,
    result: { runs: runs.map(({ accuracy: _a, ...r }) => r), overlap: overlapOff.map((off) => ({ on: overlapped(off).medianStepMs, off: off.medianStepMs, preset: off.preset, workers: off.workers })), timeToTarget: toTarget ? { target: TARGET, ...toTarget } : null },
    figures: [{ file: 'training.svg', title: 'Training throughput', unit: 'steps/s', bars: runs.map((r) => ({ label: `${r.preset} ${r.workers} tab${r.workers > 1 ? 's' : ''}`, value: r.stepsPerSec, group: r.preset })) }],
  };
};
