/** `tabswarm bench chaos`: the chaos run of bench/src/chaosRun.ts as a bench (tables + bench/results/chaos.json). */
import { runChaosBench } from './chaosRun.ts';
import type { Bench } from './report.ts';

export const chaosBench: Bench = async (ctx) => {
  const r = await runChaosBench({ workers: 5, faults: ctx.quick ? 2 : 4, every: 10, print: ctx.print });
  return {
    tables: [
      {
        title: `Chaos: ${r.workers} Chromium workers, a fault every 10 steps`,
        columns: ['fault', 'step', 'recovery ms'],
        rows: r.faultLog.map((f) => [f.kind, f.step, Math.round(f.recoveryMs)]),
        note: `recovery p50 ${Math.round(r.recoveryMsP50)} ms, max ${Math.round(r.recoveryMsMax)} ms; steps committed ${r.stepsCommitted}/${r.stepsExpected}, re-executed ${r.stepsReexecuted}; ${r.replicaHashes.length} replicas ${new Set(r.replicaHashes).size === 1 ? 'bit-identical' : 'DIFFER'}; max |swarm − fault-free| ${r.maxAbsDiff.toExponential(2)}`,
      },
    ],
    result: { ...r },
  };
};
