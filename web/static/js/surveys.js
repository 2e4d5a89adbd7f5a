// Surveys (#/p/{pid}/surveys[?status=draft|running|stopped|completed]): the project's
// surveys (PostHog's model: posthog-js on the site shows them) with what
// they ask and to whom, and the way to the editor (survey-editor.js) and
// to each one's results (survey.js).

import { h, clear, errorBox, loading, fmtTime, isAbort } from './dom.js';
import { get, P } from './api.js';
import { vocTabs } from './feedback.js';
import { surveySummary, SURVEY_TYPES } from './vocmodel.js';

const STATUS = [['', 'All'], ['running', 'Running'], ['draft', 'Draft'], ['stopped', 'Stopped'], ['completed', 'Completed']];

export function surveyBadge(s) {
  return h('span', { class: `badge survey-${s.status}`, 'data-testid': 'survey-status', 'data-status': s.status }, (STATUS.find(([k]) => k === s.status) || [0, s.status])[1]);
}

export default async function surveysPage(ctx) {
  const { pid, main, scope } = ctx;
  const status = STATUS.some(([k]) => k && k === ctx.query.get('status')) ? ctx.query.get('status') : '';
  const host = h('div', null, loading('Loading surveys…'));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Surveys'), vocTabs(pid, 'surveys'),
      ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/surveys/new`, 'data-testid': 'survey-new' }, 'New survey') : null),
    h('p', { class: 'muted' }, 'NPS, CSAT and questions of your own, shown by posthog-js on your site; answers are events (survey sent), so they join funnels and cohorts.'),
    h('div', { class: 'toolbar' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Status' }, STATUS.map(([k, label]) => h('button', {
      type: 'button', 'aria-pressed': String(k === status), 'data-testid': `survey-filter-${k || 'all'}`,
      onclick: () => ctx.navigate(`#/p/${pid}/surveys${k ? `?status=${k}` : ''}`),
    }, label)))),
    host);
  let list;
  try {
    list = (await get(P(pid, `/surveys${status ? `?status=${status}` : ''}`), { signal: scope.signal })).surveys || [];
  } catch (e) {
    if (!isAbort(e)) clear(host, errorBox(e));
    return;
  }
  if (!list.length) {
    clear(host, h('section', { class: 'card empty-state', 'data-testid': 'surveys-empty' }, h('h2', null, 'No surveys'),
      h('p', null, 'Ask your customers how likely they are to recommend you (NPS) or how satisfied they are (CSAT), where and when it makes sense.'),
      ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/surveys/new` }, 'Create a survey') : null));
    return;
  }
  list.sort((a, b) => b.id - a.id);
  clear(host, h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'survey-list' },
    h('thead', null, h('tr', null, ['Survey', 'Type', 'Status', 'Runs', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
    h('tbody', null, list.map((s) => h('tr', { 'data-testid': 'survey-row', 'data-id': String(s.id) },
      h('th', { scope: 'row' }, h('a', { href: `#/p/${pid}/surveys/${s.id}`, 'data-testid': 'survey-link' }, s.name), h('div', { class: 'muted small' }, surveySummary(s))),
      h('td', null, (SURVEY_TYPES.find(([k]) => k === s.type) || [0, s.type])[1]),
      h('td', null, surveyBadge(s)),
      h('td', null, s.start_date ? `${fmtTime(s.start_date)}${s.end_date ? ` → ${fmtTime(s.end_date)}` : ''}` : 'not started'),
      h('td', null, ctx.canWrite ? h('a', { class: 'btn small', href: `#/p/${pid}/surveys/${s.id}/edit`, 'data-testid': 'survey-edit' }, 'Edit') : null)))))));
}
