// Home: the customer journey of the project (GET /home): the stages as a
// horizontal funnel, the journey by acquisition channel, KPI tiles and the
// bad-day rate; every tile opens the insight builder with its spec.

import { h, clear, select, errorBox, loading, fmtNum, fmtPct, isAbort } from './dom.js';
import { get, P, qs } from './api.js';
import { drawChart, sparkline, chartBox, loadECharts } from './charts.js';
import { PRESETS, presetRange, insightURL } from './spec.js';
import { sendFirstEvent } from './snippets.js';
import { showLearnings } from './learnings.js';
import { showHomeVoC } from './homevoc.js';

export default async function homePage(ctx) {
  const { pid, main, scope, project } = ctx;
  const preset = ctx.query.get('range') || '30d';
  loadECharts().catch(() => {}); // in parallel with /home, for the channel chart
  const rangeSel = select(PRESETS, preset, { 'data-testid': 'home-range', id: 'home-range' });
  rangeSel.addEventListener('change', () => ctx.navigate(`#/p/${pid}/home?range=${rangeSel.value}`));
  const body = h('div', { class: 'home' }, loading('Loading the customer journey…'));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Customer journey'),
      h('div', { class: 'field inline-field' }, h('label', { for: 'home-range' }, 'Range'), rangeSel)),
    body);

  const range = presetRange(preset);
  let home;
  try {
    home = await get(P(pid, `/home${qs(range)}`), { signal: scope.signal });
  } catch (err) {
    if (!isAbort(err)) clear(body, errorBox(err));
    return;
  }
  const from = home.from || range.from;
  const to = home.to || range.to;

  if (!home.events) {
    clear(body, h('section', { class: 'card empty-state', 'data-testid': 'home-empty' },
      h('h2', null, 'No events yet'),
      h('p', null, `“${project.name}” has not received any event. Send the first one from your site or app and this page fills in: who arrives, who signs up, who buys, who comes back.`),
      sendFirstEvent(project, scope),
      h('p', null, 'Then watch it arrive on ', h('a', { href: `#/p/${pid}/live` }, 'Live events'), '.')));
    return;
  }

  const journey = home.journey || { stages: [], breakdown: [] };
  const stages = journey.stages || [];
  const journeySpec = { kind: 'journey', from, to };
  const badSpec = home.bad_days_spec || { kind: 'bad_days', bad: [{ event: '$exception' }], from, to };

  const channelChart = chartBox('channels');
  const learnings = h('section', { class: 'card', 'aria-labelledby': 'learnings-h', hidden: true });
  showLearnings(learnings, pid, stages, scope); // not awaited: the archive by stage fills in when it comes
  const funnel = journeyFunnel(stages);
  const voc = h('section', { class: 'card voc-home', 'aria-labelledby': 'home-voc-h', hidden: true, 'data-testid': 'home-voc' });
  showHomeVoC(voc, funnel, pid, { from, to }, scope); // not awaited: themes join the stages when they come
  clear(body,
    h('section', { class: 'card', 'aria-labelledby': 'journey-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'journey-h' }, 'Stages'),
        h('a', { href: insightURL(pid, journeySpec), class: 'btn small', 'data-testid': 'journey-open' }, 'Open in builder')),
      funnel),
    voc,
    learnings,
    h('section', { class: 'tiles', 'aria-label': 'Key indicators' },
      (home.kpis || []).map((k) => kpiTile(pid, k)),
      home.bad_days ? badDaysTile(pid, home.bad_days, badSpec) : null),
    h('section', { class: 'card', 'aria-labelledby': 'channels-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'channels-h' }, 'By acquisition channel'),
        h('a', { href: insightURL(pid, { ...journeySpec, breakdown: { property: 'utm_source' } }), class: 'btn small' }, 'Open in builder')),
      (journey.breakdown || []).length
        ? [channelChart, channelTable(stages, journey.breakdown)]
        : h('p', { class: 'muted' }, 'No channel information: events carry no utm_source yet.')));

  if ((journey.breakdown || []).length) {
    await drawChart(channelChart, channelOption(stages, journey.breakdown), scope);
  }
}

// journeyFunnel: stage boxes left to right, bar height ∝ count, with the
// conversion from the previous stage between them.
function journeyFunnel(stages) {
  const first = stages.length ? stages[0].count : 0;
  const list = h('ol', { class: 'journey', 'data-testid': 'journey-funnel' });
  stages.forEach((s, i) => {
    if (i > 0) {
      list.append(h('li', { class: 'journey-arrow', 'aria-hidden': 'true' },
        h('span', null, '→'), h('small', null, fmtPct(s.step_conversion))));
    }
    const share = first ? s.count / first : 0;
    list.append(h('li', { class: 'journey-stage', 'data-testid': 'journey-stage' },
      h('div', { class: 'stage-bar' }, h('div', { class: 'stage-fill', style: { '--share': `${Math.max(1, share * 100).toFixed(1)}%` } })),
      h('div', { class: 'stage-name' }, s.name),
      h('div', { class: 'stage-count', 'data-testid': 'journey-stage-count' }, fmtNum(s.count)),
      h('div', { class: 'muted small' }, i === 0 ? 'reached' : `${fmtPct(s.step_conversion)} of previous · ${fmtPct(s.conversion)} of all`)));
  });
  return h('div', { class: 'journey-wrap' }, list);
}

function channelName(v) {
  return v === '$none' ? '(direct / none)' : v === '$other' ? '(other)' : v;
}

function channelTable(stages, breakdown) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'channel-table' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Channel'), stages.map((s) => h('th', { scope: 'col', class: 'num' }, s.name)),
      h('th', { scope: 'col', class: 'num' }, 'Reach → last stage'))),
    h('tbody', null, breakdown.map((b) => h('tr', null,
      h('th', { scope: 'row' }, channelName(b.value)),
      b.stages.map((s) => h('td', { class: 'num' }, fmtNum(s.count))),
      h('td', { class: 'num' }, fmtPct(b.stages.length ? b.stages[b.stages.length - 1].conversion : 0)))))));
}

// channelOption: one horizontal bar per channel, split by the furthest
// stage its persons reached, so the segments add up to the channel's reach.
function channelOption(stages, breakdown) {
  const rows = [...breakdown].reverse(); // biggest channel on top
  return {
    grid: { left: 8, right: 16, top: 36, bottom: 8, outerBoundsMode: 'same' },
    legend: { type: 'scroll', top: 0 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true },
    yAxis: { type: 'category', data: rows.map((b) => channelName(b.value)) },
    xAxis: { type: 'value' },
    series: stages.map((s, i) => ({
      name: i === stages.length - 1 ? s.name : `${s.name} (furthest)`,
      type: 'bar',
      stack: 'reach',
      barMaxWidth: 28,
      data: rows.map((b) => {
        const c = b.stages[i] ? b.stages[i].count : 0;
        const next = b.stages[i + 1] ? b.stages[i + 1].count : 0;
        return c - next;
      }),
    })),
  };
}

function kpiTile(pid, k) {
  const r = k.result || {};
  const spec = k.spec || {};
  return h('a', { class: 'tile card', href: insightURL(pid, spec), 'data-testid': 'kpi-tile' },
    h('span', { class: 'tile-name' }, k.name),
    h('span', { class: 'tile-value' }, fmtPct(r.value)),
    h('span', { class: 'muted small' }, `${fmtNum(r.numerator)} of ${fmtNum(r.denominator)}`),
    sparkline((r.points || []).map((p) => p.value), { label: `${k.name} by period` }));
}

function badDaysTile(pid, r, spec) {
  return h('a', { class: 'tile card bad', href: insightURL(pid, spec), 'data-testid': 'bad-days-tile' },
    h('span', { class: 'tile-name' }, 'Bad-day rate'),
    h('span', { class: 'tile-value' }, fmtPct(r.rate)),
    h('span', { class: 'muted small' }, 'of active person-days had an error'),
    sparkline((r.days || []).map((d) => d.rate), { label: 'Bad-day rate by day' }));
}
