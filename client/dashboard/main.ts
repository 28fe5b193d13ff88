/**
 * The job owner's dashboard (dashboard.html). Without ?job: the job list and the create
 * form. With ?job=ID[#token=TOKEN]: that job, live. The token fragment moves to
 * sessionStorage and leaves the address bar before anything else runs.
 */
import { api } from './api.ts';
import { mountCreateForm } from './createForm.ts';
import { mountDatasets } from './datasets.ts';
import { $, h } from './dom.ts';
import { mountJobList } from './jobList.ts';
import { mountJobView } from './jobView.ts';
import { adoptFragmentToken } from './token.ts';

const jobId = new URLSearchParams(location.search).get('job');
adoptFragmentToken(jobId);
const main = $('#app');

if (jobId) {
  main.replaceChildren(h('nav', {}, h('a', { href: 'dashboard.html' }, '← all jobs')), h('div', { id: 'job-view' }));
  mountJobView($('#job-view'), jobId);
} else {
  const list = h('section', { class: 'card-section', id: 'job-list' });
  const datasets = h('section', { class: 'card-section', id: 'datasets' });
  const create = h('section', { class: 'card-section', id: 'create' }, h('p', {}, 'loading presets…'));
  main.replaceChildren(list, datasets, create);
  mountJobList(list);
  let stored: Parameters<Parameters<typeof mountDatasets>[1]>[0] = [];
  let form: ReturnType<typeof mountCreateForm> | null = null;
  // the form offers every stored dataset, and each new upload as soon as it is listed
  mountDatasets(datasets, (l) => {
    stored = l;
    form?.setStoredDatasets(l);
  });
  api
    .presets()
    .then((p) => {
      form = mountCreateForm(create, p, (id) => location.assign(`dashboard.html?job=${encodeURIComponent(id)}`));
      form.setStoredDatasets(stored);
    })
    .catch((e: unknown) => create.replaceChildren(h('p', { class: 'note bad' }, `cannot load presets: ${(e as Error).message}`)));
}
