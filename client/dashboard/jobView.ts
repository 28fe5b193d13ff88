/**
 * One job, live: status, controls, charts, members, the ring and the event log. Owners see
 * everything; anybody else sees the public summary and a form for the owner token.
 */
import { busBandwidth, ringVectorBytes } from '../../shared/allreduce/bandwidth.ts';
import { createJobCharts, type XAxis } from './charts.ts';
import { createControls } from './controls.ts';
import { $, fmt, fmtBytesPerSec, fmtTime, h } from './dom.ts';
import { connectFeed, type Feed, type JobState } from './feed.ts';
import { renderMembers } from './members.ts';
import { renderRing } from './ring.ts';
import { mountPredictionPanel } from './predictionPanel.ts';
import { saveToken, tokenFor } from './token.ts';

function tile(id: string, label: string) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value', id }, '—'));
}

export function mountJobView(root: HTMLElement, jobId: string): () => void {
  const controls = createControls(jobId, () => tokenFor(jobId));
  const charts = createJobCharts();
  const joinUrl = `${location.origin}/?job=${encodeURIComponent(jobId)}`;
  const tokenInput = h('input', { id: 'token-input', type: 'password', placeholder: 'owner token', autocomplete: 'off', 'aria-label': 'owner token' });
  const tokenForm = h('form', {
    id: 'token-form', class: 'token-form',
    onsubmit: (e: Event) => {
      e.preventDefault();
      if (!tokenInput.value.trim()) return;
      saveToken(jobId, tokenInput.value.trim());
      tokenInput.value = '';
      connect();
    },
  }, h('span', {}, 'Owner? Enter the job\'s owner token to see metrics and steer it: '), tokenInput, h('button', { type: 'submit' }, 'Open as owner'));
  const axisButtons = (['step', 'time'] as XAxis[]).map((x) =>
    h('button', { type: 'button', class: x === 'step' ? 'seg on' : 'seg', 'data-axis': x, onclick: () => {
      charts.setXAxis(x);
      for (const b of axisButtons) b.classList.toggle('on', b.dataset.axis === x);
    } }, x === 'step' ? 'vs step' : 'vs time'),
  );
  root.replaceChildren(
    h('header', { class: 'job-head' },
      h('div', {}, h('h2', { id: 'job-name' }, jobId), h('div', { class: 'sub' }, h('span', { class: 'mono' }, `job ${jobId}`), ' · ', h('span', { id: 'job-model' }))),
      h('div', { class: 'head-right' }, h('span', { id: 'status', class: 'badge' }, '…'), h('span', { id: 'access', class: 'badge' }, '…')),
    ),
    h('div', { class: 'progress' }, h('div', { id: 'progress-bar' }), h('span', { id: 'progress-text' })),
    h('p', { id: 'feed-error', class: 'note bad', hidden: true }),
    h('section', { id: 'prediction', hidden: true }),
    tokenForm,
    h('p', { class: 'share' }, 'Volunteers join at ', h('a', { id: 'join-link', href: joinUrl, target: '_blank' }, joinUrl),
      ' ', h('button', { type: 'button', class: 'small', onclick: () => void navigator.clipboard?.writeText(joinUrl) }, 'Copy')),
    controls.root,
    h('section', { id: 'private', class: 'private' },
      h('div', { class: 'tiles' },
        tile('t-loss', 'loss'), tile('t-acc', 'train accuracy'), tile('t-test', 'test accuracy'), tile('t-sps', 'samples/s'),
        tile('t-ar', 'all-reduce'), tile('t-bw', 'busbw'), tile('t-members', 'members'), tile('t-lr', 'learning rate'),
      ),
      h('div', { class: 'axis' }, h('span', {}, 'Charts '), ...axisButtons),
      charts.root,
      h('div', { class: 'split' },
        h('section', {}, h('h3', {}, 'Members'), h('div', { id: 'members-host' })),
        h('section', {}, h('h3', {}, 'Ring'), h('div', { id: 'ring-host', class: 'ring-host' }), h('p', { class: 'sub' }, 'Each member sends to the next: reduce-scatter, then all-gather.')),
      ),
      h('section', {}, h('h3', {}, 'Event log'), h('ol', { id: 'events', class: 'events' })),
    ),
  );
  const priv = $('#private', root);
  let feed: Feed | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let eventsShown = 0;
  const dirty = new Set<string>();

  function render(s: JobState) {
    timer = null;
    const sum = s.summary;
    const owner = s.access === 'owner';
    if (sum) {
      $('#job-name', root).textContent = sum.name;
      $('#job-model', root).textContent = sum.model;
      const st = $('#status', root);
      st.textContent = sum.status;
      st.dataset.status = sum.status;
      st.className = `badge status-${sum.status}`;
      st.title = sum.failure ?? '';
      $('#progress-bar', root).style.width = `${sum.steps ? (100 * sum.step) / sum.steps : 0}%`;
      $('#progress-text', root).textContent = `step ${sum.step} / ${sum.steps} · ${sum.dataset} · ${sum.paramCount.toLocaleString()} parameters · ${sum.activeMembers} volunteer${sum.activeMembers === 1 ? '' : 's'}${sum.failure ? ` · ${sum.failure}` : ''}`;
    }
    const acc = $('#access', root);
    acc.textContent = owner ? 'owner view' : s.access ? 'public view' : 'connecting…';
    acc.dataset.access = s.access ?? '';
    tokenForm.hidden = owner || !s.access;
    priv.hidden = !owner;
    const err = $('#feed-error', root);
    err.hidden = !s.error;
    err.textContent = s.error ? `${s.error.code}: ${s.error.message}` : '';
    const p = s.priv;
    controls.update(sum, owner, p?.learningRate ?? null);
    if (!p) return;
    if (dirty.has('all') || dirty.has('metrics')) {
      charts.update(p.metrics, s.summary?.paramCount ?? 0);
      const last = p.metrics.at(-1);
      const lastTest = [...p.metrics].reverse().find((m) => m.testAccuracy !== undefined);
      $('#t-loss', root).textContent = fmt(last?.loss, 4);
      // the metrics follow the task: accuracy for a classifier, MAE / RMSE for a regression
      const regression = s.summary?.task === 'regression';
      $('#t-acc', root).previousElementSibling!.textContent = regression ? 'train MAE / RMSE' : 'train accuracy';
      $('#t-test', root).previousElementSibling!.textContent = regression ? 'test MAE / RMSE' : 'test accuracy';
      if (regression) {
        $('#t-acc', root).textContent = last?.mae !== undefined ? `${fmt(last.mae, 4)} / ${fmt(last.rmse, 4)}` : '—';
        $('#t-test', root).textContent = lastTest?.testMae !== undefined ? `${fmt(lastTest.testMae, 4)} / ${fmt(lastTest.testRmse, 4)} @${lastTest.step}` : '—';
      } else {
        $('#t-acc', root).textContent = last ? `${fmt(last.accuracy * 100, 1)} %` : '—';
        $('#t-test', root).textContent = lastTest ? `${fmt(lastTest.testAccuracy! * 100, 1)} % @${lastTest.step}` : '—';
      }
      $('#t-sps', root).textContent = last && last.stepMs > 0 ? fmt((last.samples / last.stepMs) * 1000, 0) : '—';
      $('#t-ar', root).textContent = last ? `${fmt(last.allreduceMs, 1)} ms` : '—';
      $('#t-bw', root).textContent = last ? fmtBytesPerSec(busBandwidth(ringVectorBytes(s.summary?.paramCount ?? 0), last.allreduceMs, last.members)) : '—';
    }
    $('#t-members', root).textContent = `${p.members.filter((m) => m.state === 'active').length} active`;
    $('#t-lr', root).textContent = String(p.learningRate);
    if (dirty.has('all') || dirty.has('members')) {
      $('#members-host', root).replaceChildren(renderMembers(p.members, p.ring));
      const labels = new Map(p.members.map((m) => [m.id, m.backend ?? '']));
      $('#ring-host', root).replaceChildren(renderRing(p.ring, labels, p.epoch));
    }
    const list = $('#events', root);
    if (dirty.has('all')) {
      list.replaceChildren();
      eventsShown = 0;
    }
    for (const e of p.events.slice(eventsShown)) {
      list.prepend(h('li', { 'data-kind': e.kind }, h('time', {}, fmtTime(e.at)), h('span', { class: `kind kind-${e.kind}` }, e.kind), e.peerId ? h('span', { class: 'mono' }, e.peerId) : null, h('span', {}, e.detail)));
    }
    eventsShown = p.events.length;
    dirty.clear();
  }

  function connect() {
    feed?.close();
    dirty.add('all');
    feed = connectFeed({
      jobId,
      token: tokenFor(jobId),
      onChange: (s, what) => {
        dirty.add(what);
        timer ??= setTimeout(() => render(s), 40);
      },
    });
  }
  connect();
  const stopPrediction = mountPredictionPanel($('#prediction', root), jobId);
  return () => {
    stopPrediction();
    feed?.close();
    if (timer) clearTimeout(timer);
  };
}
