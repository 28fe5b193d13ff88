/**
 * The dashboard's panel for a prediction job: units settled, samples/s, disagreements, members
 * flagged, units reissued and (labelled inputs) the accuracy of the gathered predictions (MAE
 * and RMSE for regression targets) —
 * the job view's `prediction` block (server/jobViews.ts), polled once a second until the job
 * ends. A training job has none: the panel stays hidden and stops asking.
 */
import type { PublicJobView } from '../../server/jobViews.ts';
import { h } from './dom.ts';

type Progress = NonNullable<PublicJobView['prediction']>;

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)} %`);

export function renderPrediction(p: Progress, status: string): HTMLElement[] {
  const cell = (id: string, label: string, value: string) => h('div', { class: 'tile', id }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value));
  return [
    h('h3', {}, 'Prediction'),
    h('div', { class: 'tiles' },
      cell('p-units', 'units settled', `${p.unitsDone} / ${p.units}`),
      cell('p-samples', 'samples', `${p.samplesDone} / ${p.samples}`),
      cell('p-sps', 'samples/s', p.samplesPerSec.toFixed(0)),
      cell('p-replicas', 'replicas', String(p.replicas)),
      cell('p-disagree', 'disagreements', String(p.disagreements)),
      cell('p-flagged', 'members flagged', String(p.flagged)),
      cell('p-reissued', 'units reissued', String(p.reissued)),
      ...(p.mae !== null && p.rmse !== null ? [cell('p-mae', 'MAE', p.mae.toPrecision(4)), cell('p-rmse', 'RMSE', p.rmse.toPrecision(4))] : [cell('p-acc', 'accuracy', pct(p.accuracy))]),
    ),
    h('p', { class: 'sub' }, status === 'done' ? 'Every unit is settled: the owner downloads the outputs at /api/jobs/…/predictions?format=npy|csv|jsonl.' : `${p.unitsPending} units pending, ${p.unitsAssigned} being computed.`),
  ];
}

export function mountPredictionPanel(host: HTMLElement, jobId: string): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const poll = async () => {
    try {
      const r = await fetch(`/api/jobs/${encodeURIComponent(jobId)}`);
      if (r.ok) {
        const v = (await r.json()) as PublicJobView;
        if (!v.prediction) return; // a training job: nothing to show, nothing more to ask
        host.hidden = false;
        host.replaceChildren(...renderPrediction(v.prediction, v.status));
        if (v.status === 'done' || v.status === 'failed' || v.status === 'stopped') return;
      }
    } catch {
      // the next poll tries again
    }
    if (!stopped) timer = setTimeout(() => void poll(), 1000);
  };
  void poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
