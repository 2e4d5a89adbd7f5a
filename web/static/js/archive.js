// The learning archive (#/p/{pid}/archive?q=&metric=&event=&outcome=&stage=):
// every concluded experiment, won, lost or inconclusive, with its
// hypothesis, decision and notes, searchable by text, metric, event,
// outcome and the journey stage it targeted (GET /archive). Each entry
// opens its results page, which shows the numbers frozen at the stop.
// The filters live in the URL, so a search can be shared and reloaded.

import { h, clear, field, select, errorBox, loading, fmtTime, isAbort } from './dom.js';
import { get, P } from './api.js';
import { OUTCOMES, STAGE_NAMES, archiveQuery, archiveFilters, decisionText } from './expmodel.js';
import { stageNamesOf } from './learnings.js';

export default async function archivePage(ctx) {
  const { pid, main, scope } = ctx;
  const f = archiveFilters(ctx.query);
  const listHost = h('div', { 'data-testid': 'archive-results', 'data-state': 'loading', 'aria-live': 'polite' }, loading('Searching the archive…'));

  const text = (name, label, placeholder, testid) => {
    const el = h('input', { type: 'search', name, value: f[name], placeholder, 'data-testid': testid, autocomplete: 'off' });
    return [el, field(label, el)];
  };
  const [qIn, qField] = text('q', 'Search', 'hypothesis, name, notes', 'archive-q');
  const [metricIn, metricField] = text('metric', 'Metric', 'e.g. Orders', 'archive-metric');
  const [eventIn, eventField] = text('event', 'Metric event', 'order_completed', 'archive-event');
  const outcomeSel = select(OUTCOMES, f.outcome, { 'data-testid': 'archive-outcome' });
  const stageSel = select([['', 'Any stage']], '', { 'data-testid': 'archive-stage' });
  const form = h('form', { class: 'archive-form card', role: 'search', 'data-testid': 'archive-form' },
    qField, metricField, eventField, field('Outcome', outcomeSel), field('Journey stage', stageSel),
    h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'archive-search' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/p/${pid}/archive${archiveQuery({ q: qIn.value, metric: metricIn.value, event: eventIn.value, outcome: outcomeSel.value, stage: stageSel.value })}`);
  });
  outcomeSel.addEventListener('change', () => form.requestSubmit());
  stageSel.addEventListener('change', () => form.requestSubmit());

  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Learning archive'),
      h('a', { class: 'btn', href: `#/p/${pid}/experiments` }, 'All experiments')),
    h('p', { class: 'muted' }, 'Every concluded experiment, failures included: what was believed, what happened, and what was decided.'),
    form, listHost);

  // Stages: those experiments targeted, then the project's journey stages.
  get(P(pid, '/archive/stages'), { signal: scope.signal }).then((ans) => {
    const names = stageNamesOf(ans);
    if (!names.length) names.push(...STAGE_NAMES);
    if (f.stage && !names.includes(f.stage)) names.push(f.stage);
    clear(stageSel, h('option', { value: '' }, 'Any stage'), names.map((n) => h('option', { value: n }, n)));
    stageSel.value = f.stage;
  }).catch(() => {
    if (f.stage) { stageSel.append(h('option', { value: f.stage }, f.stage)); stageSel.value = f.stage; }
  });

  let list;
  try {
    list = await get(P(pid, `/archive${archiveQuery(f)}`), { signal: scope.signal }) || [];
  } catch (e) {
    if (isAbort(e)) return;
    listHost.dataset.state = 'error';
    clear(listHost, errorBox(e));
    return;
  }
  listHost.dataset.state = 'done';
  const filtered = Object.values(f).some(Boolean);
  if (!list.length) {
    clear(listHost, h('p', { class: 'muted empty', 'data-testid': 'archive-empty' }, filtered ? 'No concluded experiment matches.' : 'No experiment has concluded yet. Stopped experiments, with their decisions, are kept here.'));
    return;
  }
  clear(listHost, h('p', { class: 'muted small' }, `${list.length} experiment${list.length === 1 ? '' : 's'}`),
    h('ul', { class: 'archive-list', 'data-testid': 'archive-list' }, list.map((e) => archiveEntry(pid, e))));
}

// archiveHref is where an archive entry opens: its experiment, or the
// campaign of a campaign's decision.
export function archiveHref(pid, e) {
  if (e.kind === 'campaign' && e.campaign_id) return `#/p/${pid}/campaigns/${encodeURIComponent(e.campaign_id)}`;
  return `#/p/${pid}/experiments/${encodeURIComponent(e.id)}`;
}

// archiveEntry is one concluded experiment (shared with home.js). A
// campaign's decision (kind "campaign") opens its campaign instead: its
// frozen report is the entry's result.
export function archiveEntry(pid, e) {
  const metrics = ((e.metrics && e.metrics.primary) || []).map((m) => m.name || m.event).filter(Boolean);
  const isCampaign = e.kind === 'campaign' && !!e.campaign_id;
  const href = archiveHref(pid, e);
  return h('li', { class: 'card', 'data-testid': 'archive-entry', 'data-id': String(e.id), 'data-kind': e.kind || 'experiment' },
    h('div', { class: 'card-head' },
      h('h2', null, h('a', { href, 'data-testid': 'archive-link' }, e.name)),
      isCampaign ? h('span', { class: 'badge', 'data-testid': 'archive-kind-badge' }, 'Campaign') : null,
      h('span', { class: `badge ${e.decision || ''}`, 'data-testid': 'archive-outcome-badge' }, decisionText(e))),
    e.hypothesis ? h('p', { class: 'hypothesis' }, h('b', null, 'Hypothesis: '), e.hypothesis) : null,
    e.notes ? h('p', { class: 'small' }, h('b', null, 'Learned: '), e.notes) : null,
    h('ul', { class: 'facts muted' },
      e.shipped_variant ? h('li', null, `Shipped: ${e.shipped_variant}`) : null,
      e.stage ? h('li', null, `Stage: ${e.stage}`) : null,
      metrics.length ? h('li', null, `Primary: ${metrics.join(', ')}`) : null,
      e.flag_key ? h('li', null, 'Flag ', h('code', null, e.flag_key)) : null,
      e.stopped_at ? h('li', null, `Stopped ${fmtTime(e.stopped_at)}`) : null));
}
