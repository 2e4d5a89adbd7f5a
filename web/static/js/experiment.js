// One experiment's results (#/p/{pid}/experiments/{id}): per metric and
// treatment the effect with its confidence interval drawn as a bar
// around "no change", the p-value (corrected) or the chance to win, a
// verdict; a banner when the sample ratio does not match the weights
// (SRM), guardrail warnings, exposures over time, the start / stop and
// decide buttons, and the timeline with notes. A stopped experiment shows
// the results frozen when it stopped (what the learning archive links
// to). Formatting and geometry are expmodel.js's.

import { h, clear, field, select, errorBox, setError, loading, fmtNum, fmtTime, isAbort, Scope } from './dom.js';
import { get, post, P } from './api.js';
import { drawChart, seriesOption, chartBox, loadECharts } from './charts.js';
import {
  DECISIONS, ROLES, resultRow, ciDomain, ciGeometry, exposureSeries, srmText, allComparisons, VERDICT_TEXT, decisionText,
} from './expmodel.js';
import { statusBadge } from './experiments.js';

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// ciBar draws one interval on the shared scale (half-width half).
export function ciBar(c, half, verdict) {
  const g = ciGeometry(c.ci, c.effect, half);
  const svg = svgEl('svg', { viewBox: '0 0 100 18', preserveAspectRatio: 'none', role: 'img',
    'aria-label': c.ci ? `interval ${c.ci[0] ?? '−∞'} to ${c.ci[1] ?? '+∞'}` : 'no interval' });
  if (c.ci && !c.error) {
    svg.append(svgEl('rect', { class: `range ${verdict}`, x: g.lo, y: 4, width: Math.max(0.5, g.hi - g.lo), height: 10, rx: 2 }));
  }
  svg.append(svgEl('line', { class: 'axis', x1: g.zero, x2: g.zero, y1: 0, y2: 18, 'vector-effect': 'non-scaling-stroke' }));
  if (g.mid != null && !c.error) svg.append(svgEl('rect', { class: 'point', x: g.mid - 0.6, y: 2, width: 1.2, height: 14 }));
  return h('span', { class: 'ci-bar', 'data-testid': 'ci-bar', 'data-lo': g.lo.toFixed(2), 'data-hi': g.hi.toFixed(2), 'data-zero': String(g.zero) }, svg);
}

export default async function experimentPage(ctx) {
  const { pid, main, scope } = ctx;
  const id = ctx.params[1];
  clear(main, h('h1', null, 'Experiment'), loading());
  loadECharts().catch(() => {});

  let exp;
  try {
    exp = await get(P(pid, `/experiments/${encodeURIComponent(id)}`), { signal: scope.signal });
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Experiment'), errorBox(err.status === 404 ? 'This experiment does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/experiments` }, 'All experiments')));
    return;
  }

  const head = h('div');
  const actionsHost = h('div', { class: 'exp-actions', 'data-testid': 'experiment-actions' });
  const actionError = errorBox();
  const resultsHost = h('div', { 'data-testid': 'experiment-results', 'data-state': 'loading', 'aria-live': 'polite' }, loading('Computing results…'));
  const timelineHost = h('div', { 'data-testid': 'experiment-timeline' });
  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/experiments` }, 'Experiments'), ' / '),
    head,
    h('section', { class: 'card' }, actionsHost, actionError),
    resultsHost,
    h('section', { class: 'card', 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h' }, 'Timeline and notes'), timelineHost));

  function renderHead() {
    const def = exp; // the definition's fields sit next to the columns
    clear(head,
      h('div', { class: 'page-head' }, h('h1', { 'data-testid': 'experiment-name' }, exp.name), statusBadge(exp)),
      exp.hypothesis ? h('p', { class: 'hypothesis', 'data-testid': 'experiment-hypothesis' }, exp.hypothesis) : null,
      h('ul', { class: 'facts' },
        h('li', null, 'Flag ', exp.flag_key ? h('code', null, exp.flag_key) : '–'),
        exp.stage ? h('li', null, 'Stage ', h('b', null, exp.stage)) : null,
        def.method ? h('li', null, 'Method ', h('b', null, def.method)) : null,
        def.alpha ? h('li', null, 'α ', h('b', null, String(def.alpha))) : null,
        exp.started_at ? h('li', null, 'Started ', fmtTime(exp.started_at)) : null,
        exp.stopped_at ? h('li', null, 'Stopped ', fmtTime(exp.stopped_at)) : null,
        exp.decision ? h('li', { 'data-testid': 'experiment-decision' }, 'Decision ', h('b', null, decisionText(exp))) : null),
      exp.notes && exp.status === 'stopped' ? h('p', { class: 'small' }, h('b', null, 'Conclusion: '), exp.notes) : null);
  }

  function renderActions(variants) {
    setError(actionError, null);
    if (!ctx.canWrite) {
      clear(actionsHost, h('span', { class: 'muted small' }, 'Starting and stopping experiments needs the member role.'));
      return;
    }
    if (exp.status === 'draft') {
      clear(actionsHost,
        h('button', { type: 'button', class: 'btn primary', 'data-testid': 'exp-start', onclick: () => act(`/experiments/${exp.id}/start`, {}) }, 'Start experiment'),
        h('span', { class: 'muted small' }, 'Starting turns its flag on and begins counting exposures.'));
      return;
    }
    if (exp.status === 'running') {
      const stopForm = stopFormFor(variants);
      stopForm.hidden = true;
      clear(actionsHost,
        h('button', { type: 'button', class: 'btn', 'data-testid': 'exp-stop', onclick: () => { stopForm.hidden = false; stopForm.querySelector('select').focus(); } }, 'Stop and decide'),
        h('span', { class: 'muted small' }, 'Stopping freezes the results and files the experiment in the learning archive.'),
        stopForm);
      return;
    }
    clear(actionsHost, h('span', { class: 'muted small' }, 'Stopped: these results are frozen. '),
      h('a', { href: `#/p/${pid}/archive`, class: 'btn small' }, 'Learning archive'));
  }

  function stopFormFor(variants) {
    const decision = select(DECISIONS, 'won', { 'data-testid': 'exp-decision' });
    const shipped = select(variants.map((v) => [v, v]), variants[1] || variants[0] || '', { 'data-testid': 'exp-shipped' });
    const shippedField = field('Variant shipped', shipped);
    decision.addEventListener('change', () => { shippedField.hidden = decision.value !== 'won'; });
    const notes = h('textarea', { rows: 3, 'data-testid': 'exp-stop-notes', placeholder: 'What did we learn? What next?' });
    const f = h('form', { class: 'inline-form', 'data-testid': 'exp-stop-form' },
      h('h2', null, 'Stop and decide'),
      h('div', { class: 'inline wrap' }, field('Decision', decision), shippedField),
      field('Notes (kept in the archive)', notes),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'exp-stop-confirm' }, 'Stop experiment'),
        h('button', { type: 'button', class: 'btn', onclick: () => { f.hidden = true; } }, 'Cancel')));
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = { decision: decision.value, notes: notes.value.trim() };
      if (decision.value === 'won') body.shipped_variant = shipped.value;
      act(`/experiments/${exp.id}/stop`, body);
    });
    return f;
  }

  async function act(path, body) {
    setError(actionError, null);
    const btns = actionsHost.querySelectorAll('button');
    btns.forEach((b) => { b.disabled = true; });
    try {
      const res = await post(P(pid, path), body, { signal: scope.signal });
      exp = res && res.id ? res : await get(P(pid, `/experiments/${exp.id}`), { signal: scope.signal });
      await refresh();
    } catch (err) {
      if (!isAbort(err)) setError(actionError, err);
    } finally {
      btns.forEach((b) => { b.disabled = false; });
    }
  }

  // -------------------------------------------------------------- results

  let resultsScope = null;
  scope.add(() => resultsScope && resultsScope.dispose());

  async function loadResults() {
    resultsHost.dataset.state = 'loading';
    if (exp.status === 'draft') {
      resultsHost.dataset.state = 'draft';
      clear(resultsHost, h('section', { class: 'card empty-state' }, h('h2', null, 'Not started'),
        h('p', null, 'Results appear once the experiment runs and its flag is evaluated ($feature_flag_called).')));
      return null;
    }
    try {
      const res = await get(P(pid, `/experiments/${exp.id}/results`), { signal: scope.signal });
      renderResults(res);
      return res;
    } catch (err) {
      if (isAbort(err)) return null;
      resultsHost.dataset.state = 'error';
      clear(resultsHost, h('section', { class: 'card' }, h('p', { class: 'muted' }, 'The results could not be computed:'), errorBox(err)));
      return null;
    }
  }

  function renderResults(res) {
    const comps = allComparisons(res);
    // One scale per metric (its variants side by side): metrics of
    // different kinds have effects in different units.
    const halves = new Map();
    for (const c of comps) {
      const k = `${c.role}\n${c.metric}`;
      halves.set(k, ciDomain(comps.filter((x) => `${x.role}\n${x.metric}` === k)));
    }
    const halfOf = (c) => halves.get(`${c.role}\n${c.metric}`);
    const chart = chartBox('compact');
    const byRole = ROLES.map(([role, label]) => {
      const list = comps.filter((c) => c.role === role);
      if (!list.length) return null;
      return h('section', { class: 'card', 'data-testid': `results-${role}` },
        h('h2', null, `${label} metrics`),
        role === 'primary' ? h('p', { class: 'muted small' }, `Each bar is the interval of the effect, on one scale per metric; the line is no change. ${res.method === 'bayesian' ? 'Chance to win' : 'p-values'} ${res.correction && res.correction !== 'none' && res.method !== 'bayesian' ? `are corrected (${res.correction}) over the primary metrics` : 'are not corrected'}.`) : null,
        h('div', { class: 'table-wrap' }, h('table', { class: 'data results' },
          h('thead', null, h('tr', null,
            ['Metric', 'Variant', 'Control', 'Variant value', 'Persons (c / v)', 'Effect', `Interval (${Math.round((1 - (res.alpha || 0.05)) * 100)}%)`,
              resultRow(list[0], res).statLabel, 'Verdict'].map((t, i) => h('th', { scope: 'col', class: i >= 2 && i <= 5 ? 'num' : null }, t)))),
          h('tbody', null, list.map((c) => {
            const r = resultRow(c, res);
            return h('tr', { 'data-testid': 'result-row', 'data-metric': c.metric, 'data-variant': c.variant, 'data-verdict': r.verdict, 'data-role': role },
              h('th', { scope: 'row' }, c.metric, c.lower_is_better ? h('span', { class: 'muted small' }, ' (lower is better)') : null),
              h('td', null, c.variant),
              h('td', { class: 'num' }, r.control),
              h('td', { class: 'num' }, r.treatment),
              h('td', { class: 'num' }, r.n),
              h('td', { class: 'num', 'data-testid': 'result-effect', 'data-value': c.effect == null ? '' : String(c.effect) }, r.effect),
              h('td', { class: 'ci-cell', title: r.ci }, ciBar(c, halfOf(c), r.verdict), h('span', { class: 'ci-text muted small' }, r.ci)),
              h('td', { class: 'num', 'data-testid': 'result-stat' }, r.stat),
              h('td', null, h('span', { class: `verdict ${r.verdict}` }, VERDICT_TEXT[r.verdict]),
                r.error ? h('div', { class: 'muted small verdict-why' }, r.error) : null));
          })))));
    });
    const vs = res.variants || [];
    clear(resultsHost,
      !res.exposed ? h('p', { class: 'notice', 'data-testid': 'no-exposures' }, `No exposures yet: results appear once persons are exposed (a $feature_flag_called event for flag ${exp.flag_key}, sent when code reads it).`) : null,
      res.srm && res.srm.mismatch ? h('div', { class: 'banner srm', role: 'alert', 'data-testid': 'srm-banner' }, h('strong', null, 'Sample ratio mismatch. '), srmText(res)) : null,
      (res.warnings || []).map((w) => h('div', { class: 'banner guardrail', role: 'alert', 'data-testid': 'guardrail-warning' }, h('strong', null, 'Guardrail: '), w.message)),
      h('section', { class: 'card', 'aria-labelledby': 'exposure-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'exposure-h' }, 'Exposures'),
          h('span', { class: 'muted small' }, res.frozen ? `Frozen at the stop, ${fmtTime(res.to)}` : `Computed ${fmtTime(res.computed_at)}`)),
        h('ul', { class: 'facts', 'data-testid': 'exposure-facts' },
          h('li', null, 'Exposed ', h('b', { 'data-testid': 'exposed-total', 'data-value': String(res.exposed || 0) }, fmtNum(res.exposed || 0))),
          vs.map((v) => h('li', { 'data-testid': 'variant-exposed', 'data-variant': v.key, 'data-value': String(v.exposed || 0) }, `${v.key} `, h('b', null, fmtNum(v.exposed || 0)),
            h('span', { class: 'muted' }, ` (${Math.round((v.weight || 0) * 1000) / 10}% weight)`))),
          res.multiple_exposures && res.multiple_exposures.persons ? h('li', { class: 'muted' }, `${fmtNum(res.multiple_exposures.persons)} excluded: saw several variants`) : null,
          res.srm ? h('li', { class: 'muted' }, `SRM p = ${res.srm.p_value == null ? '–' : res.srm.p_value.toFixed(4)}`) : null),
        h('div', { 'data-testid': 'exposure-chart' }, chart)),
      byRole);
    resultsHost.dataset.state = 'done';
    if (resultsScope) resultsScope.dispose();
    resultsScope = new Scope();
    // A few days read best as daily bars, a longer run as cumulative lines.
    const few = (res.days || []).length < 4;
    const { days, series } = exposureSeries(res, !few);
    drawChart(chart, { ...seriesOption(days, series, few ? 'bar' : 'line'), yAxis: { type: 'value', name: few ? 'persons first exposed' : 'persons (cumulative)' } }, resultsScope).catch(() => {});
  }

  // -------------------------------------------------------------- timeline

  async function loadTimeline() {
    let events = [];
    try {
      events = await get(P(pid, `/experiments/${exp.id}/timeline`), { signal: scope.signal }) || [];
    } catch (err) {
      if (!isAbort(err)) clear(timelineHost, errorBox(err));
      return;
    }
    const noteIn = h('textarea', { rows: 2, 'data-testid': 'exp-note', placeholder: 'Add a note: an incident, a release, an observation' });
    const noteErr = errorBox();
    const noteForm = h('form', { class: 'note-form' }, field('Note', noteIn),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn small', 'data-testid': 'exp-note-add' }, 'Add note')), noteErr);
    noteForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = noteIn.value.trim();
      if (!text) { noteIn.focus(); return; }
      try {
        await post(P(pid, `/experiments/${exp.id}/notes`), { text }, { signal: scope.signal });
        loadTimeline();
      } catch (err) {
        if (!isAbort(err)) setError(noteErr, err);
      }
    });
    clear(timelineHost,
      events.length ? h('ol', { class: 'timeline', 'data-testid': 'timeline-list' }, events.map((ev) => h('li', { 'data-testid': 'timeline-event', 'data-kind': ev.kind },
        h('time', { datetime: ev.at }, fmtTime(ev.at)),
        h('div', null, h('strong', null, ev.kind), ev.detail ? ` — ${ev.detail}` : '', ev.user_id ? h('span', { class: 'muted small' }, ` · user #${ev.user_id}`) : null))))
        : h('p', { class: 'muted' }, 'Nothing yet.'),
      ctx.canWrite ? noteForm : null);
  }

  async function refresh() {
    renderHead();
    const res = await loadResults();
    const keys = (res && res.variants ? res.variants : exp.variants || []).map((v) => v.key);
    renderActions(keys);
    loadTimeline();
  }

  await refresh();
}
