/** All jobs on this server with their status; the ones this tab holds a token for are marked. */
import { api, type JobListItem } from './api.ts';
import { h } from './dom.ts';
import { ownedJobs } from './token.ts';

export function mountJobList(root: HTMLElement): () => void {
  const body = h('tbody', {});
  const note = h('p', { class: 'sub', id: 'jobs-note' });
  root.replaceChildren(
    h('h2', {}, 'Jobs'),
    h('table', { class: 'jobs', id: 'jobs' }, h('thead', {}, h('tr', {}, ...['job', 'status', 'progress', ''].map((c) => h('th', {}, c)))), body),
    note,
  );
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const row = (j: JobListItem, owned: boolean) =>
    h('tr', { 'data-job': j.id },
      h('td', {}, h('a', { href: `dashboard.html?job=${encodeURIComponent(j.id)}` }, j.name), h('div', { class: 'sub mono' }, j.id)),
      h('td', {}, h('span', { class: `badge status-${j.status}` }, j.status)),
      h('td', { class: 'num' }, `${j.step} / ${j.steps}`),
      h('td', {}, owned ? h('span', { class: 'tag' }, 'yours') : null),
    );
  async function load() {
    try {
      const jobs = await api.jobs();
      const mine = new Set(ownedJobs());
      body.replaceChildren(...(jobs.length ? jobs.map((j) => row(j, mine.has(j.id))) : [h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No jobs yet.'))]));
      note.textContent = '';
    } catch (e) {
      note.textContent = `cannot list jobs: ${(e as Error).message}`;
    }
    if (!stopped) timer = setTimeout(() => void load(), 3000);
  }
  void load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
