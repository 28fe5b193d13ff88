/**
 * `tabswarm bench data`: the distributed input pipeline on MNIST with 4 tabs, one epoch each:
 *   - today's path: the shipped dataset, every tab downloads the training set whole;
 *   - the new path: MNIST stored as ~4 MiB shards, each tab fetches only the shards its slices
 *     read (with prefetch of the next 2 steps, of the next 6; without; and with a cache a quarter the size of
 *     the dataset), the three interleaved, twice.
 * Per tab: training-set shards fetched, as a fraction of the training set (target ≤ 1.5/N),
 * apart from what the final evaluation fetched; the most JS heap and decoded samples held;
 * per run: steady step rate, and the load average beside it.
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createTabswarmServer } from '../../server/app.ts';
import { createLogger } from '../../server/log.ts';
import { dataRun, uploadMnist, type DataRunResult } from './dataRun.ts';
import type { Bench, BenchContext, Table } from './report.ts';

const MB = 1024 * 1024;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function model(): Record<string, unknown> {
  const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 32, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
  const j = m.toJSON(undefined, false) as Record<string, unknown>;
  m.dispose();
  return j;
}

export const dataBench: Bench = async (ctx: BenchContext) => {
  const N = 4;
  const B = 512;
  const server = await createTabswarmServer({ port: 0, log: createLogger('warn') });
  try {
    ctx.print('uploading MNIST (60 000 train images / 255 as float32, labels: .npz) to the dataset store');
    const meta = await uploadMnist(server);
    // quick: the first quarter of the training samples (both paths read the same subset)
    const limit = ctx.quick ? Math.floor(meta.trainSize / 4) : 0;
    const trainShards = ctx.quick ? meta.shards.filter((s) => s.start < limit * 1.2) : meta.shards;
    const storedTrainBytes = trainShards.reduce((a, s) => a + s.bytes, 0);
    const testSize = 1000;
    const common = { server, tabs: N, batchSize: B, testSize, model: model(), print: ctx.print };
    const runs: { name: string; path: 'whole' | 'shards'; trainBytes: number; r: DataRunResult }[] = [];

    // today's path: the shipped MNIST (60 000 train images), read whole by every tab (`?feed=whole`)
    const wholeN = ctx.quick ? limit : 60000;
    // one pass: the whole batches of it (a last, partial batch would reach into the next pass)
    const wholeSteps = Math.floor(wholeN / B);

    const n = ctx.quick ? limit : meta.trainSize;
    const steps = Math.floor(n / B);
    const variants: { name: string; prefetch: boolean; prefetchSteps?: number; cacheMb?: number }[] = [
      { name: 'shards, prefetch 2 steps', prefetch: true },
      { name: 'shards, prefetch 6 steps', prefetch: true, prefetchSteps: 6 },
      { name: 'shards, no prefetch', prefetch: false },
      { name: 'shards, cache = ¼ of the dataset', prefetch: true, cacheMb: storedTrainBytes / 4 / MB },
    ];
    // the variants interleaved, twice over (once with --quick): the machine's load drifts
    const rounds = ctx.quick ? 1 : 2;
    for (let round = 0; round < rounds; round++) {
      ctx.print(`whole download (round ${round + 1}): ${N} tabs, ${wholeSteps} steps (one epoch of ${wholeN})   load ${loadavg()[0]!.toFixed(2)}`);
      runs.push({ name: 'whole download (shipped)', path: 'whole', trainBytes: 16 + wholeN * 784 + 8 + wholeN, r: await dataRun({ ...common, dataset: 'mnist', whole: true, trainSize: wholeN, steps: wholeSteps, prefetch: true }) });
      for (const v of variants) {
        ctx.print(`${v.name} (round ${round + 1}): ${N} tabs, ${steps} steps (one epoch of ${n})   load ${loadavg()[0]!.toFixed(2)}`);
        runs.push({ name: v.name, path: 'shards', trainBytes: storedTrainBytes, r: await dataRun({ ...common, dataset: meta.id, trainSize: limit, steps, prefetch: v.prefetch, ...(v.prefetchSteps !== undefined ? { prefetchSteps: v.prefetchSteps } : {}), ...(v.cacheMb !== undefined ? { cacheMb: v.cacheMb } : {}) }) });
      }
    }
    const stats = (await (await fetch(`${server.url}/api/datasets/${meta.id}/stats`)).json()) as { peers: Record<string, { bytes: number; shards: number }> };

    // training reads apart from the final evaluation's: a tab's evaluation part is the test
    // samples of shards it holds where it can, and a shard it fetched only to evaluate is counted there
    const trainShardsOf = (t: DataRunResult['tabs'][number]) => t.shardsFetched - t.evalShards;
    const bytesTable: Table = {
      title: `Dataset read per tab, one epoch of MNIST, ${N} tabs, batch ${B}`,
      columns: ['path', 'training set fetched / tab: mean', 'max', 'target 1.5/N', 'training shards / tab (of ' + trainShards.length + ')', 'evaluation: shards / tab', 'evaluation MB / tab', 'MB on the wire / tab (mean)', 'peak JS heap MB / tab', 'peak decoded samples MB / tab', 'load avg (1 min)'],
      rows: runs.map(({ name, path, trainBytes, r }) => {
        const b = r.tabs.map((t) => t.fetchedBytes);
        // whole: the training files' bytes over the training set's; shards: distinct shards fetched for training over the training set's shards
        const fr = r.tabs.map((t) => (path === 'whole' ? 1 : trainShardsOf(t) / trainShards.length));
        return [name, mean(fr), Math.max(...fr), 1.5 / N, path === 'whole' ? null : mean(r.tabs.map(trainShardsOf)), path === 'whole' ? null : mean(r.tabs.map((t) => t.evalShards)), path === 'whole' ? null : mean(r.tabs.map((t) => t.evalShardBytes)) / MB, mean(b) / MB, Math.max(...r.tabs.map((t) => t.peakHeapBytes)) / MB, Math.max(...r.tabs.map((t) => t.peakSamplesBytes)) / MB, `${r.loadavg[0]} → ${r.loadavg[1]}`];
      }),
      note: `Training set: the shipped MNIST read whole (?feed=whole: every shard of its training split, then of its test split) vs the uploaded copy's shards (${(storedTrainBytes / MB).toFixed(1)} MB: the same values as float32, ${trainShards.length} shards of ~4 MiB, served gzip-encoded; every 10th sample of a shard is a test sample). One epoch: the ${steps} whole batches of one pass. Training set fetched: distinct shards a tab fetched for training over all shards (whole: the whole training split, by construction; its wire bytes include the test split's load). Evaluation: what the final evaluation (${testSize} test samples, parts following the shards each tab holds) fetched on top. On the wire = every response body under /datasets and /api/datasets as the page received it (gzip), training and evaluation. Decoded samples: the whole split held as floats (whole) vs the shard LRU's peak (shards). JS heap: performance.memory.usedJSHeapSize, sampled every second (typed arrays' backing stores are outside it).`,
    };
    const rateTable: Table = {
      title: 'Step rate: whole download vs shards, with and without prefetch, full and quarter cache',
      columns: ['path', 'steps/s', 'median step ms', 'p90 step ms', 'slowest tab compute ms (data wait included), mean', 'samples/s, pages opened → done', 'steps', 'final loss', 'shards from cache / tab', 'cache evictions / tab', 'load avg (1 min)'],
      rows: runs.map(({ name, r }) => [name, r.stepsPerSec, r.medianStepMs, r.p90StepMs, r.meanComputeMs, (r.steps * B) / r.wallS, r.steps, r.finalLoss, mean(r.tabs.map((t) => t.cacheHits)), mean(r.tabs.map((t) => t.evictions)), `${r.loadavg[0]} → ${r.loadavg[1]}`]),
      note: 'Steady state (after the first 3 steps), the coordinator\'s open → commit times. All 4 tabs share this machine\'s cores; the whole-download run pays its download before step 0 (not in the step rate; in samples/s from the pages\' opening to the job\'s end, with calibration and joining for every path alike), the shard runs pay fetches inside steps unless prefetched. Shard variants ran interleaved (round 1, then round 2) so that drifting load hits each alike.',
    };
    return {
      tables: [bytesTable, rateTable],
      result: { tabs: N, batchSize: B, storedTrainBytes, shards: trainShards.length, runs: runs.map(({ name, path, trainBytes, r }) => ({ name, path, trainBytes, ...r })), serverCounters: stats.peers },
      figures: [{ file: 'data.svg', title: 'Dataset MB fetched per tab per epoch (MNIST, 4 tabs)', unit: 'MB', bars: runs.map(({ name, r }) => ({ label: name, value: mean(r.tabs.map((t) => t.fetchedBytes)) / MB })) }],
    };
  } finally {
    await server.close();
  }
};
