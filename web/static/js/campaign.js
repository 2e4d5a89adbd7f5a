// One campaign (#/p/{pid}/campaigns/{id}): what it does, its status
// actions (activate, pause, resume, stop; delete), its report (triggered,
// sent, delivered, clicked, CTR, conversions, CVR, the holdout and the
// project's control group, the lift over the holdout with its confidence
// interval drawn as a bar, and the same per variant) and its golden-time
// report: when after the trigger the goal comes (the delays' histogram
// and the conversion rate by hours since the trigger, and the cumulative
// share), so the wait can be chosen from data; the report over time
// (?interval=), with revenue per recipient (?revenue_property=), side by
// side with another campaign (/campaigns/compare) and the decision that
// ends the test phase (/campaigns/{id}/decision: frozen into the learning
// archive, the campaign runs on with a smaller holdout).

import { h, clear, field, select, errorBox, setError, loading, fmtTime, isAbort, Scope } from './dom.js';
import { get, post, api, del, P, qs } from './api.js';
import { markField, clearMarks } from './form.js';
import { loadECharts, drawChart, chartBox } from './charts.js';
import { ciBar } from './experiment.js';
import { statusBadge } from './campaigns.js';
import {
  kindText, channelText, triggerText, goalText, waitText, humanDuration, statusActions, canReport, reportFacts, variantRows,
  fmtRate, fmtInt, fmtLift, fmtCI, liftVerdict, liftText, LIFT_TEXT, liftDomain, times, goldenSeries, goldenSummary,
  INTERVALS, seriesData, compareRows, compareHeadline, DECISIONS, decisionBody, revenueFacts,
} from './campaignmodel.js';

// The golden-time horizons offered: how long after a trigger goals count.
const HORIZONS = [['72h', '3 days'], ['168h', '7 days'], ['336h', '14 days'], ['720h', '30 days']];
// Golden time looks back this far: the delay is chosen from history.
const GOLDEN_DAYS = 90;

export default async function campaignPage(ctx) {
  const { pid, main, scope } = ctx;
  const id = ctx.params[1];
  clear(main, h('h1', null, 'Campaign'), loading());
  loadECharts().catch(() => {});

  let c;
  let cohorts = [];
  try {
    [c, cohorts] = await Promise.all([
      get(P(pid, `/campaigns/${encodeURIComponent(id)}`), { signal: scope.signal }),
      get(P(pid, '/cohorts'), { signal: scope.signal }).catch(() => []),
    ]);
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Campaign'), errorBox(err.status === 404 ? 'This campaign does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/campaigns` }, 'All campaigns')));
    return;
  }
  const cohortName = (cid) => {
    const found = (cohorts || []).find((x) => String(x.id) === String(cid));
    return found ? `cohort ${found.name}` : `cohort ${cid}`;
  };

  const head = h('div');
  const actionsHost = h('div', { class: 'exp-actions', 'data-testid': 'campaign-actions' });
  const actionError = errorBox();
  actionError.setAttribute('data-testid', 'campaign-action-error');
  const reportHost = h('div', { 'data-testid': 'campaign-report', 'data-state': 'loading', 'aria-live': 'polite' });
  const goldenHost = h('section', { class: 'card', 'aria-labelledby': 'golden-h', 'data-testid': 'golden-time' });
  const overTimeHost = h('section', { class: 'card', 'data-testid': 'campaign-over-time' });
  const compareHost = h('section', { class: 'card', 'data-testid': 'campaign-compare' });
  const decisionHost = h('section', { class: 'card', 'data-testid': 'campaign-decision' });
  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/campaigns` }, 'Campaigns'), ' / '),
    head,
    h('section', { class: 'card' }, actionsHost, actionError),
    reportHost, overTimeHost, compareHost, goldenHost, decisionHost);

  // -------------------------------------------------------------- head and actions

  function renderHead() {
    const ch = c.channel || {};
    clear(head,
      h('div', { class: 'page-head' }, h('h1', { 'data-testid': 'campaign-name' }, c.name),
        h('div', { class: 'head-controls' }, statusBadge(c),
          ctx.canWrite && c.status !== 'stopped' ? h('a', { class: 'btn', href: `#/p/${pid}/campaigns/${c.id}/edit`, 'data-testid': 'campaign-edit' }, 'Edit') : null,
          ctx.canWrite ? h('a', { class: 'btn', href: `#/p/${pid}/campaigns/new?copy=${c.id}`, 'data-testid': 'campaign-copy' }, 'Copy') : null)),
      c.status_reason ? h('div', { class: 'banner guardrail', role: 'alert', 'data-testid': 'campaign-status-reason' },
        h('strong', null, `${kindText(c.kind)} ${c.status_reason.status} by Journey: `), c.status_reason.reason, ` (${fmtTime(c.status_reason.at)})`) : null,
      h('ul', { class: 'facts', 'data-testid': 'campaign-facts' },
        h('li', null, kindText(c.kind), ' on ', h('b', null, triggerText(c, cohortName))),
        h('li', null, 'Sends ', h('b', null, waitText(c, fmtTime))),
        h('li', null, 'Goal ', h('b', null, goalText(c))),
        h('li', null, 'Holdout ', h('b', { 'data-testid': 'campaign-holdout' }, fmtRate(c.holdout))),
        h('li', null, 'Attribution ', h('b', null, humanDuration(c.attribution))),
        h('li', null, 'Channel ', h('b', null, channelText(ch.type)), ch.url ? [' ', h('code', null, ch.url)] : null, ch.from ? [' from ', h('code', null, ch.from)] : null),
        h('li', null, `${c.variants.length} variant${c.variants.length === 1 ? '' : 's'}`),
        h('li', { class: 'muted' }, `Created ${fmtTime(c.created_at)} · v${c.version}`)));
  }

  function renderActions() {
    setError(actionError, null);
    if (!ctx.canWrite) {
      clear(actionsHost, h('span', { class: 'muted small' }, 'Changing a campaign\'s status needs the member role.'));
      return;
    }
    const hints = {
      draft: 'Activating starts reading triggers: each one schedules a message (or a holdout record).',
      active: 'Pausing holds the due messages until resumed; stopping cancels the pending ones for good.',
      paused: 'Paused: triggers are still scheduled, nothing is sent until it is resumed.',
      stopped: 'Stopped: nothing more is scheduled or sent, and the campaign cannot change. Copy it to run it again.',
    };
    clear(actionsHost,
      statusActions(c.status).map(([status, label]) => h('button', {
        type: 'button', class: `btn${status === 'active' ? ' primary' : ''}`, 'data-testid': `campaign-${label.toLowerCase()}`,
        onclick: () => setStatus(status),
      }, label)),
      h('span', { class: 'muted small' }, hints[c.status] || ''),
      h('button', { type: 'button', class: 'btn danger', 'data-testid': 'campaign-delete', onclick: remove }, 'Delete'));
  }

  async function setStatus(status) {
    if (status === 'stopped' && !window.confirm(`Stop “${c.name}”? Its pending messages are cancelled, and a stopped campaign cannot be restarted.`)) return;
    setError(actionError, null);
    const btns = actionsHost.querySelectorAll('button');
    btns.forEach((b) => { b.disabled = true; });
    try {
      c = await api('PATCH', P(pid, `/campaigns/${c.id}`), { status }, { signal: scope.signal });
      renderHead();
      renderActions();
      renderOverTimeShell();
      renderDecision();
      loadReport();
    } catch (err) {
      if (!isAbort(err)) setError(actionError, err.field ? `${err.message} (${err.field})` : err);
    } finally {
      btns.forEach((b) => { b.disabled = false; });
    }
  }

  async function remove() {
    if (!window.confirm(`Delete “${c.name}”? Its pending messages are cancelled.`)) return;
    try {
      await del(P(pid, `/campaigns/${c.id}`));
      ctx.navigate(`#/p/${pid}/campaigns`);
    } catch (err) {
      if (!isAbort(err)) setError(actionError, err);
    }
  }

  // -------------------------------------------------------------- report

  // The goal's property summed as revenue (the report's revenue_property).
  let revenueProperty = '';

  function revenueForm() {
    const input = h('input', { type: 'text', value: revenueProperty, class: 'narrow', spellcheck: 'false', placeholder: 'price', 'data-testid': 'report-revenue-property' });
    const f = h('form', { class: 'toolbar', 'data-testid': 'report-revenue-form' },
      field('Revenue property of the goal', input),
      h('button', { type: 'submit', class: 'btn small' }, 'Show revenue'));
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      revenueProperty = input.value.trim();
      loadReport();
    });
    return f;
  }

  async function loadReport() {
    reportHost.dataset.state = 'loading';
    if (!canReport(c)) {
      reportHost.dataset.state = 'draft';
      clear(reportHost, h('section', { class: 'card empty-state' }, h('h2', null, 'Not active yet'),
        h('p', null, 'The report fills in once the campaign is activated and its triggers arrive.')));
      return;
    }
    if (!reportHost.firstChild) clear(reportHost, loading('Computing the report…'));
    try {
      const rep = await get(P(pid, `/campaigns/${c.id}/report${qs({ revenue_property: revenueProperty })}`), { signal: scope.signal });
      renderReport(rep);
    } catch (err) {
      if (isAbort(err)) return;
      reportHost.dataset.state = 'error';
      clear(reportHost, h('section', { class: 'card' }, h('p', { class: 'muted' }, 'The report could not be computed:'), errorBox(err)));
    }
  }

  function liftCell(lift, half, testid) {
    const verdict = liftVerdict(lift);
    if (!lift) return h('td', { class: 'ci-cell muted small', 'data-testid': testid, 'data-verdict': verdict }, LIFT_TEXT.none);
    return h('td', { class: 'ci-cell', title: fmtCI(lift.ci), 'data-testid': testid, 'data-verdict': verdict, 'data-effect': String(lift.effect) },
      ciBar({ ci: lift.ci, effect: lift.effect }, half, verdict),
      h('span', { class: 'ci-text muted small' }, liftText(lift)));
  }

  function armRow(label, arm, testid) {
    return h('tr', { 'data-testid': testid },
      h('th', { scope: 'row' }, label),
      h('td', { class: 'num', 'data-value': String(arm.scheduled ?? 0) }, fmtInt(arm.scheduled ?? 0)),
      h('td', { class: 'num', 'data-testid': `${testid}-persons`, 'data-value': String(arm.persons ?? 0) }, fmtInt(arm.persons ?? 0)),
      h('td', { class: 'num', 'data-testid': `${testid}-conversions`, 'data-value': String(arm.conversions ?? 0) }, fmtInt(arm.conversions ?? 0)),
      h('td', { class: 'num', 'data-testid': `${testid}-cvr`, 'data-value': String(arm.cvr ?? 0) }, fmtRate(arm.cvr)));
  }

  function renderReport(rep) {
    const lifts = [rep.lift, ...(rep.variants || []).map((v) => v.lift)];
    const half = liftDomain(lifts);
    const verdict = liftVerdict(rep.lift);
    const holdout = rep.holdout || {};
    const control = rep.control_group || {};
    const rows = variantRows(rep);
    clear(reportHost,
      h('section', { class: 'card', 'aria-labelledby': 'report-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'report-h' }, 'Report'),
          h('span', { class: 'muted small' }, `${fmtTime(rep.from)} – ${fmtTime(rep.to)}, conversions within ${humanDuration(rep.attribution)} of a message `,
            h('button', { type: 'button', class: 'btn small', 'data-testid': 'campaign-report-refresh', onclick: () => loadReport() }, 'Refresh'))),
        h('dl', { class: 'kpis', 'data-testid': 'report-facts' }, reportFacts(rep).map((f) => h('div', { class: 'kpi' },
          h('dt', null, f.label), h('dd', { 'data-testid': `report-${f.key}`, 'data-value': String(f.value) }, f.text)))),
        revenueFacts(rep).length ? h('dl', { class: 'kpis', 'data-testid': 'report-revenue' }, revenueFacts(rep).map((f) => h('div', { class: 'kpi' },
          h('dt', null, f.label), h('dd', { 'data-testid': `report-${f.key}`, 'data-value': String(f.value ?? '') }, f.text)))) : null,
        c.goal && c.goal.event ? revenueForm() : null,
        h('p', { class: 'muted small' }, `Of ${fmtInt(rep.triggered)} triggers: ${fmtInt(rep.pending)} pending, ${fmtInt(rep.cancelled)} cancelled (the goal came first, or an unsubscribe), ${fmtInt(rep.failed)} failed.`)),
      h('section', { class: 'card', 'aria-labelledby': 'lift-h', 'data-testid': 'campaign-lift', 'data-verdict': verdict },
        h('h2', { id: 'lift-h' }, 'Lift over the holdout'),
        h('p', { class: 'lift-line' },
          h('span', { class: `big verdict ${verdict}`, 'data-testid': 'lift-effect', 'data-value': rep.lift ? String(rep.lift.effect) : '' }, rep.lift ? fmtLift(rep.lift.effect) : '–'),
          ' ', h('span', { class: 'muted' }, rep.lift ? `95% interval ${fmtCI(rep.lift.ci)}` : ''),
          ' ', h('span', { class: `verdict ${verdict}`, 'data-testid': 'lift-verdict' }, LIFT_TEXT[verdict])),
        rep.lift ? h('div', { class: 'lift-bar' }, ciBar({ ci: rep.lift.ci, effect: rep.lift.effect }, half, verdict)) : null,
        h('p', { class: 'small' },
          `CVR ${fmtRate(rep.cvr)} messaged vs ${fmtRate(holdout.cvr)} held out (${times(rep.cvr, holdout.cvr)})`,
          rep.relative_lift ? `; relative lift ${fmtLift(rep.relative_lift.effect, true)} ${fmtCI(rep.relative_lift.ci, true)}` : '',
          rep.lift && rep.lift.p_value != null ? `; p = ${rep.lift.p_value.toFixed(4)}` : '', '.'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'data compact', 'data-testid': 'report-arms' },
          h('thead', null, h('tr', null, ['Arm', 'Triggers', 'Persons', 'Conversions', 'CVR'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
          h('tbody', null,
            h('tr', { 'data-testid': 'arm-messaged' }, h('th', { scope: 'row' }, 'Messaged'),
              h('td', { class: 'num' }, fmtInt(rep.sent)), h('td', { class: 'num', 'data-value': String(rep.recipients) }, fmtInt(rep.recipients)),
              h('td', { class: 'num', 'data-value': String(rep.conversions) }, fmtInt(rep.conversions)), h('td', { class: 'num' }, fmtRate(rep.cvr))),
            armRow('Holdout', holdout, 'arm-holdout'),
            control.scheduled || control.persons ? armRow('Project control group', control, 'arm-control') : null))),
        h('p', { class: 'muted hint' }, 'The bar is the 95% interval of the difference in CVR (percentage points), on one scale with the variants\'; the line is no change.')),
      h('section', { class: 'card', 'aria-labelledby': 'variants-h' },
        h('h2', { id: 'variants-h' }, 'Variants'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'data results', 'data-testid': 'report-variants' },
          h('thead', null, h('tr', null, ['Variant', 'Triggered', 'Sent', 'Delivered', 'Clicked', 'CTR', 'Recipients', 'Conversions', 'CVR', 'Lift vs holdout']
            .map((t, i) => h('th', { scope: 'col', class: i && i < 9 ? 'num' : null }, t)))),
          h('tbody', null, rows.map((r) => h('tr', { 'data-testid': 'variant-row', 'data-variant': r.name },
            h('th', { scope: 'row' }, r.name),
            ['triggered', 'sent', 'delivered', 'clicked', 'ctr', 'recipients', 'conversions', 'cvr'].map((k) => h('td', { class: 'num', 'data-testid': `variant-${k}`, 'data-value': String(r.raw[k] ?? 0) }, r[k])),
            liftCell(r.raw.lift, half, 'variant-lift'))))))));
    reportHost.dataset.state = 'done';
  }

  // -------------------------------------------------------------- golden time

  let goldenScope = null;
  scope.add(() => goldenScope && goldenScope.dispose());

  function renderGoldenShell() {
    if (c.kind === 'broadcast' || !c.trigger || !c.trigger.event || !c.goal) {
      clear(goldenHost, h('h2', { id: 'golden-h' }, 'Golden time'),
        h('p', { class: 'muted' }, 'Golden time is for event-triggered campaigns with a goal: how long after the trigger the goal comes.'));
      return;
    }
    const horizon = select(HORIZONS, '168h', { 'data-testid': 'golden-horizon' });
    horizon.addEventListener('change', () => loadGolden(horizon.value));
    const body = h('div', { 'data-testid': 'golden-body', 'data-state': 'loading' });
    clear(goldenHost,
      h('div', { class: 'card-head' }, h('h2', { id: 'golden-h' }, 'Golden time'), field('Count goals within', horizon)),
      h('p', { class: 'muted small' }, `${c.trigger.event} → ${goalText(c)}: every trigger of the last ${GOLDEN_DAYS} days, campaign or not, and the delay to its first goal.`),
      body);
    loadGolden(horizon.value);
  }

  async function loadGolden(horizon) {
    const body = goldenHost.querySelector('[data-testid="golden-body"]');
    body.dataset.state = 'loading';
    clear(body, loading('Measuring delays…'));
    const to = new Date();
    const from = new Date(to.getTime() - GOLDEN_DAYS * 864e5);
    let res;
    try {
      res = await get(P(pid, `/campaigns/${c.id}/golden-time${qs({ horizon, from: from.toISOString(), to: to.toISOString() })}`), { signal: scope.signal });
    } catch (err) {
      if (isAbort(err)) return;
      body.dataset.state = 'error';
      clear(body, errorBox(err));
      return;
    }
    const s = goldenSeries(res);
    const delays = chartBox('compact');
    delays.setAttribute('data-testid', 'golden-delays-chart');
    delays.setAttribute('aria-label', 'Conversions by delay after the trigger, and the conversion rate by hours since the trigger');
    const cumulative = chartBox('compact');
    cumulative.setAttribute('data-testid', 'golden-cumulative-chart');
    cumulative.setAttribute('aria-label', 'Share of triggers converted within each number of hours');
    clear(body,
      h('p', { 'data-testid': 'golden-summary' }, goldenSummary(res)),
      h('ul', { class: 'facts', 'data-testid': 'golden-facts' },
        h('li', null, 'Triggers ', h('b', { 'data-testid': 'golden-triggers', 'data-value': String(res.triggers) }, fmtInt(res.triggers))),
        h('li', null, 'Persons ', h('b', null, fmtInt(res.persons))),
        h('li', null, 'Converted ', h('b', { 'data-testid': 'golden-converted', 'data-value': String(res.converted) }, fmtInt(res.converted)), ` (${fmtRate(res.conversion)})`),
        h('li', null, 'Median delay ', h('b', null, res.median_hours == null ? '–' : `${res.median_hours.toFixed(1)} h`)),
        h('li', null, '75th percentile ', h('b', null, res.p75_hours == null ? '–' : `${res.p75_hours.toFixed(1)} h`))),
      res.converted ? [
        h('h3', null, 'When the goal comes'), delays,
        h('h3', null, 'Converted within'), cumulative,
        h('p', { class: 'muted hint' }, 'Bars: triggers converted with that delay (hourly for two days, then daily). Line: of the triggers not converted before, the share converting in that bucket (conversion by hours since the trigger).'),
      ] : null);
    body.dataset.state = 'done';
    if (!res.converted) return;
    if (goldenScope) goldenScope.dispose();
    goldenScope = new Scope();
    const pct = (v) => `${Math.round(v * 1000) / 10}%`;
    drawChart(delays, {
      grid: { left: 8, right: 16, top: 36, bottom: 8, outerBoundsMode: 'same' },
      tooltip: { trigger: 'axis', confine: true },
      legend: { top: 0 },
      xAxis: { type: 'category', data: s.labels, name: 'after the trigger', nameLocation: 'middle', nameGap: 24 },
      yAxis: [{ type: 'value', name: 'conversions' }, { type: 'value', name: 'rate', axisLabel: { formatter: pct }, splitLine: { show: false } }],
      series: [
        { name: 'Conversions', type: 'bar', data: s.conversions, barMaxWidth: 24 },
        { name: 'Conversion rate (at risk)', type: 'line', yAxisIndex: 1, data: s.rate, showSymbol: false, tooltip: { valueFormatter: pct } },
      ],
    }, goldenScope).catch(() => {});
    drawChart(cumulative, {
      grid: { left: 8, right: 16, top: 16, bottom: 8, outerBoundsMode: 'same' },
      tooltip: { trigger: 'axis', confine: true, valueFormatter: pct },
      xAxis: { type: 'category', data: s.hours, boundaryGap: false },
      yAxis: { type: 'value', axisLabel: { formatter: pct } },
      series: [{ name: 'Converted within', type: 'line', data: s.cumulative, showSymbol: false, areaStyle: { opacity: 0.2 } }],
    }, goldenScope).catch(() => {});
  }

  // -------------------------------------------------------------- over time

  let seriesScope = null;
  scope.add(() => seriesScope && seriesScope.dispose());

  function renderOverTimeShell() {
    if (!canReport(c)) { overTimeHost.hidden = true; return; }
    overTimeHost.hidden = false;
    const interval = select(INTERVALS, 'day', { 'data-testid': 'series-interval' });
    interval.addEventListener('change', () => loadSeries(interval.value));
    clear(overTimeHost, h('div', { class: 'card-head' }, h('h2', null, 'Over time'), field('Periods', interval)),
      h('div', { 'data-testid': 'series-body', 'data-state': 'loading' }));
    loadSeries(interval.value);
  }

  async function loadSeries(interval) {
    const body = overTimeHost.querySelector('[data-testid="series-body"]');
    body.dataset.state = 'loading';
    clear(body, loading('Computing the series…'));
    let rep;
    try {
      rep = await get(P(pid, `/campaigns/${c.id}/report${qs({ interval })}`), { signal: scope.signal });
    } catch (err) {
      if (isAbort(err)) return;
      body.dataset.state = 'error';
      clear(body, errorBox(err));
      return;
    }
    const s = seriesData(rep);
    if (!s.dates.length) {
      body.dataset.state = 'done';
      clear(body, h('p', { class: 'muted' }, 'Nothing sent yet.'));
      return;
    }
    const chart = chartBox('compact');
    chart.setAttribute('data-testid', 'series-chart');
    chart.setAttribute('aria-label', 'Messages sent and CVR of the messaged and of the holdout per period');
    clear(body, chart, h('p', { class: 'muted hint' }, 'Bars: messages sent in the period. Lines: the CVR of the persons messaged in the period and of the holdout\'s, and the CTR of the period\'s messages.'));
    body.dataset.state = 'done';
    body.dataset.points = String(s.dates.length);
    if (seriesScope) seriesScope.dispose();
    seriesScope = new Scope();
    const pct = (v) => (v == null ? '–' : `${Math.round(v * 1000) / 10}%`);
    drawChart(chart, {
      grid: { left: 8, right: 16, top: 36, bottom: 8, outerBoundsMode: 'same' },
      tooltip: { trigger: 'axis', confine: true },
      legend: { top: 0 },
      xAxis: { type: 'category', data: s.dates },
      yAxis: [{ type: 'value', name: 'sent' }, { type: 'value', axisLabel: { formatter: pct }, splitLine: { show: false } }],
      series: [
        { name: 'Sent', type: 'bar', data: s.sent, barMaxWidth: 24 },
        { name: 'CVR messaged', type: 'line', yAxisIndex: 1, data: s.cvr, tooltip: { valueFormatter: pct } },
        { name: 'CVR holdout', type: 'line', yAxisIndex: 1, data: s.holdoutCvr, lineStyle: { type: 'dashed' }, tooltip: { valueFormatter: pct } },
        { name: 'CTR', type: 'line', yAxisIndex: 1, data: s.ctr, tooltip: { valueFormatter: pct } },
      ],
    }, seriesScope).catch(() => {});
  }

  // -------------------------------------------------------------- side by side

  async function renderCompareShell() {
    compareHost.hidden = false;
    let others = [];
    try {
      const res = await get(P(pid, '/campaigns'), { signal: scope.signal });
      others = ((res && res.campaigns) || []).filter((x) => x.id !== c.id && canReport(x));
    } catch (err) {
      if (isAbort(err)) return;
    }
    if (!others.length) {
      clear(compareHost, h('h2', null, 'Side by side'), h('p', { class: 'muted' }, 'Another campaign that ran (a broadcast, say) can be compared with this one here.'));
      return;
    }
    const pick = select([['', 'Choose a campaign…'], ...others.map((x) => [String(x.id), `${x.name} (${kindText(x.kind).toLowerCase()})`])], '', { 'data-testid': 'compare-with' });
    const out = h('div', { 'data-testid': 'compare-body', 'aria-live': 'polite' });
    pick.addEventListener('change', () => loadCompare(pick.value, others.find((x) => String(x.id) === pick.value), out));
    clear(compareHost, h('div', { class: 'card-head' }, h('h2', null, 'Side by side'), field('Compare with', pick)), out);
  }

  async function loadCompare(otherId, other, out) {
    if (!otherId) { clear(out); return; }
    out.dataset.state = 'loading';
    clear(out, loading('Computing both reports…'));
    try {
      const cmp = await get(P(pid, `/campaigns/compare${qs({ ids: `${c.id},${otherId}` })}`), { signal: scope.signal });
      clear(out,
        h('p', { class: 'lift-line' }, h('b', { 'data-testid': 'compare-headline' }, compareHeadline(cmp, other.name))),
        h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'compare-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, ''), h('th', { scope: 'col', class: 'num' }, c.name), h('th', { scope: 'col', class: 'num' }, other.name), h('th', { scope: 'col', class: 'num' }, 'Ratio'))),
          h('tbody', null, compareRows(cmp).map((r) => h('tr', { 'data-testid': 'compare-row', 'data-key': r.key },
            h('th', { scope: 'row' }, r.label), h('td', { class: 'num' }, r.a), h('td', { class: 'num' }, r.b), h('td', { class: 'num' }, r.ratio || '')))))));
      out.dataset.state = 'done';
    } catch (err) {
      if (isAbort(err)) return;
      out.dataset.state = 'error';
      clear(out, errorBox(err));
    }
  }

  // -------------------------------------------------------------- decision

  function renderDecision() {
    if (!ctx.canWrite || !canReport(c) || c.status === 'stopped') { decisionHost.hidden = true; return; }
    decisionHost.hidden = false;
    const decision = select(DECISIONS, 'won', { 'data-testid': 'campaign-decision-choice', 'data-field': 'decision' });
    const holdoutAfter = h('input', { type: 'number', min: 0, max: Math.round((c.holdout || 0) * 1e4) / 100, step: 'any', class: 'narrow',
      value: Math.round((c.holdout || 0) * 1e4) / 200, 'data-testid': 'campaign-decision-holdout', 'data-field': 'holdout_after' });
    const notes = h('textarea', { rows: 3, 'data-testid': 'campaign-decision-notes', 'data-field': 'notes', placeholder: 'What did we learn? What next?' });
    const stage = h('input', { type: 'text', 'data-testid': 'campaign-decision-stage', 'data-field': 'stage', placeholder: 'Retention' });
    const err = errorBox();
    const result = h('div', { 'data-testid': 'campaign-decision-result', role: 'status' });
    const f = h('form', { class: 'inline-form', 'data-testid': 'campaign-decision-form', novalidate: true },
      h('p', { class: 'muted small' }, 'Ends the test phase: the report as it is now is frozen into the learning archive, and the campaign keeps running with the holdout below (it may only shrink).'),
      h('div', { class: 'inline wrap' }, field('Decision', decision), field('Holdout from now on %', holdoutAfter), field('Journey stage', stage)),
      field('Notes (kept in the archive)', notes),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'campaign-decide' }, 'Record the decision')),
      err, result);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      clearMarks(f);
      const { body, errors } = decisionBody({ decision: decision.value, notes: notes.value, stage: stage.value, holdout_after: holdoutAfter.value }, (c.holdout || 0) * 100);
      if (errors.length) {
        setError(err, errors.map((x) => x.msg).join(' · '));
        for (const x of errors) markField(f, x.field, err);
        return;
      }
      const btn = f.querySelector('button[type="submit"]');
      btn.disabled = true;
      try {
        const res = await post(P(pid, `/campaigns/${c.id}/decision`), body, { signal: scope.signal });
        c = res.campaign || c;
        renderHead();
        clear(result, h('p', { class: 'ok' }, `Recorded: ${res.archive.decision}. `,
          h('a', { href: `#/p/${pid}/archive${qs({ q: c.name })}`, 'data-testid': 'campaign-archive-link' }, 'See it in the learning archive'), '.'));
      } catch (x) {
        if (isAbort(x)) return;
        setError(err, x);
        if (x.field) markField(f, x.field, err);
      } finally {
        btn.disabled = false;
      }
    });
    clear(decisionHost, h('h2', null, 'Decision after the test'), f);
  }

  renderHead();
  renderActions();
  renderGoldenShell();
  renderOverTimeShell();
  renderDecision();
  renderCompareShell();
  await loadReport();
}
