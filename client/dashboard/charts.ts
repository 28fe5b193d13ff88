/**
 * The job view's charts, drawn by uPlot. Each chart's container carries `data-points` (how
 * many x values it was last given) so a person's devtools or a test can see it is fed.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { busBandwidth, ringVectorBytes } from '../../shared/allreduce/bandwidth.ts';
import type { StepMetricsWire } from '../../shared/dashboardProtocol.ts';
import { h } from './dom.ts';

export type XAxis = 'step' | 'time';

interface SeriesDef {
  label: string;
  stroke: string;
  scale?: string;
  points?: boolean;
}

export interface Chart {
  el: HTMLElement;
  set(x: number[], ys: (number | null)[][]): void;
  setXAxis(x: XAxis): void;
  destroy(): void;
}

function makeChart(name: string, title: string, series: SeriesDef[], axes: { y: string; y2?: string }): Chart {
  const el = h('figure', { class: 'chart', 'data-chart': name, 'data-points': 0 }, h('figcaption', {}, title));
  const plotHost = h('div', { class: 'plot' });
  el.append(plotHost);
  let xLabel = 'step';
  const opts = (): uPlot.Options => ({
    width: Math.max(280, plotHost.clientWidth || 420),
    height: 200,
    legend: { show: true },
    scales: { x: { time: false } },
    series: [
      { label: xLabel },
      ...series.map((s) => ({
        label: s.label, stroke: s.stroke, width: 2, spanGaps: true, ...(s.scale ? { scale: s.scale } : {}),
        points: { show: s.points ?? false, size: 6, fill: s.stroke },
      })),
    ],
    axes: [
      { label: xLabel, size: 40 },
      { label: axes.y, scale: series[0]!.scale ?? 'y', size: 56 },
      ...(axes.y2 ? [{ label: axes.y2, scale: series.find((s) => s.scale && s.scale !== (series[0]!.scale ?? 'y'))?.scale ?? 'y2', side: 1 as const, grid: { show: false }, size: 60 }] : []),
    ],
  });
  let data: uPlot.AlignedData = [[], ...series.map(() => [])];
  let plot: uPlot | null = null;
  const build = () => {
    plot?.destroy();
    plot = new uPlot(opts(), data, plotHost);
  };
  const ro = new ResizeObserver(() => plot?.setSize({ width: Math.max(280, plotHost.clientWidth), height: 200 }));
  ro.observe(plotHost);
  queueMicrotask(build);
  return {
    el,
    set(x, ys) {
      data = [x, ...ys] as uPlot.AlignedData;
      el.dataset.points = String(x.length);
      if (plot) plot.setData(data);
    },
    setXAxis(x) {
      xLabel = x === 'step' ? 'step' : 'seconds since the first step';
      build();
    },
    destroy() {
      ro.disconnect();
      plot?.destroy();
    },
  };
}

export interface JobCharts {
  root: HTMLElement;
  update(metrics: StepMetricsWire[], paramCount: number): void;
  setXAxis(x: XAxis): void;
}

export function createJobCharts(): JobCharts {
  const loss = makeChart('loss', 'Training loss', [{ label: 'train loss', stroke: '#d9480f' }], { y: 'loss' });
  const acc = makeChart('accuracy', 'Accuracy', [
    { label: 'train (batch)', stroke: '#1c7ed6' },
    { label: 'test (evaluation)', stroke: '#2b8a3e', points: true },
  ], { y: 'accuracy' });
  const err = makeChart('error', 'Error (regression)', [
    { label: 'train RMSE', stroke: '#1c7ed6' },
    { label: 'train MAE', stroke: '#74c0fc' },
    { label: 'test RMSE', stroke: '#2b8a3e', points: true },
  ], { y: 'error' });
  const sps = makeChart('throughput', 'Samples per second', [{ label: 'samples/s', stroke: '#5f3dc4' }], { y: 'samples/s' });
  const ar = makeChart('allreduce', 'All-reduce per step', [
    { label: 'all-reduce ms', stroke: '#e67700', scale: 'ms' },
    { label: 'busbw MB/s', stroke: '#0b7285', scale: 'mbs' },
  ], { y: 'ms', y2: 'MB/s' });
  const charts = [loss, acc, err, sps, ar];
  err.el.hidden = true;
  let xAxis: XAxis = 'step';
  let last: { metrics: StepMetricsWire[]; paramCount: number } = { metrics: [], paramCount: 0 };
  const update = (metrics: StepMetricsWire[], paramCount: number) => {
    last = { metrics, paramCount };
    const t0 = metrics[0]?.at ?? 0;
    const x = metrics.map((m) => (xAxis === 'step' ? m.step : (m.at - t0) / 1000));
    // what the ring moves: the parameters' gradient plus the loss and metric slots
    const vectorBytes = ringVectorBytes(paramCount);
    loss.set(x, [metrics.map((m) => m.loss)]);
    // a regression's steps carry MAE / RMSE: the error chart replaces the accuracy chart
    const regression = metrics.some((m) => m.rmse !== undefined);
    acc.el.hidden = regression;
    err.el.hidden = !regression;
    if (regression) err.set(x, [metrics.map((m) => m.rmse ?? null), metrics.map((m) => m.mae ?? null), metrics.map((m) => m.testRmse ?? null)]);
    else acc.set(x, [metrics.map((m) => m.accuracy), metrics.map((m) => m.testAccuracy ?? null)]);
    sps.set(x, [metrics.map((m) => (m.stepMs > 0 ? (m.samples / m.stepMs) * 1000 : null))]);
    ar.set(x, [metrics.map((m) => m.allreduceMs), metrics.map((m) => busBandwidth(vectorBytes, m.allreduceMs, m.members) / 1e6 || null)]);
  };
  return {
    root: h('div', { class: 'charts' }, ...charts.map((c) => c.el)),
    update,
    setXAxis(x) {
      xAxis = x;
      for (const c of charts) c.setXAxis(x);
      update(last.metrics, last.paramCount);
    },
  };
}
