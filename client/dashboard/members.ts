/** The members table: who trains, on what, how fast, with what share of each batch. */
import type { MemberRow } from '../../shared/dashboardProtocol.ts';
import { fmt, h } from './dom.ts';

const COLUMNS = ['member', 'backend / adapter', 'samples/s', 'share', 'link RTT', 'link', 'state', 'contribution'];

export function renderMembers(rows: MemberRow[], ring: string[]): HTMLElement {
  const total = rows.reduce((a, m) => a + m.samplesDone, 0);
  const order = [...rows].sort((a, b) => Number(b.state === 'active') - Number(a.state === 'active') || a.joinedAt - b.joinedAt);
  const body = order.map((m) =>
    h('tr', { 'data-member': m.id, 'data-state': m.state, class: m.state === 'active' ? '' : 'muted' },
      h('td', { class: 'mono' }, m.id, ring.includes(m.id) ? h('span', { class: 'tag', title: 'ring position' }, `#${ring.indexOf(m.id)}`) : null),
      h('td', { title: m.reason ?? '' }, m.backend ?? '—', m.adapter ? h('div', { class: 'sub' }, m.adapter) : null),
      h('td', { class: 'num' }, m.samplesPerSec > 0 ? fmt(m.samplesPerSec, 0) : '—'),
      h('td', { class: 'num' }, m.share > 0 ? `${fmt(m.share * 100, 0)} %` : '—'),
      h('td', { class: 'num' }, m.rttMs === null ? '—' : `${fmt(m.rttMs, 1)} ms`),
      h('td', {}, m.link ?? '—'),
      h('td', {}, h('span', { class: `state state-${m.state}` }, m.state), m.goneReason ? h('div', { class: 'sub' }, m.goneReason) : null),
      h('td', { class: 'num' }, `${m.samplesDone} samples`, h('div', { class: 'sub' }, total > 0 ? `${fmt((m.samplesDone / total) * 100, 0)} % · ${m.stepsDone} steps` : `${m.stepsDone} steps`)),
    ),
  );
  return h('table', { class: 'members', id: 'members' },
    h('thead', {}, h('tr', {}, ...COLUMNS.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...(body.length ? body : [h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, 'No volunteers yet: share the join link.'))])),
  );
}
