// Renders any insight result (every kind of internal/insight) as a chart,
// a table, or both, with CSV export. Used by the insight builder,
// dashboards, shared dashboards and the home page.

import { h, clear, fmtNum, fmtPct, fmtDuration, downloadCSV } from './dom.js';
import { drawChart, funnelOption, groupedFunnelOption, seriesOption, sankeyOption, chartBox } from './charts.js';

export const KINDS = [
  ['funnel', 'Funnel'],
  ['trend', 'Trend'],
  ['retention', 'Retention'],
  ['stickiness', 'Stickiness'],
  ['lifecycle', 'Lifecycle'],
  ['paths', 'Paths'],
  ['kpi', 'KPI'],
  ['bad_days', 'Bad days'],
  ['journey', 'Journey'],
];

export function kindLabel(kind) {
  const k = KINDS.find(([v]) => v === kind);
  return k ? k[1] : kind;
}

// Kinds whose chart can be drawn as line, area or bar.
const SWITCHABLE = new Set(['trend', 'stickiness', 'lifecycle', 'kpi', 'bad_days']);
const DEFAULT_TYPE = { trend: 'line', stickiness: 'bar', lifecycle: 'bar', kpi: 'line', bad_days: 'line' };

const PERIOD_NAME = { day: 'Day', week: 'Week', month: 'Month', hour: 'Hour' };

// ---------------------------------------------------------------- tables

// A table model: columns, rows of raw values (what CSV gets), a format per
// column for the screen, optional data-testid per column, and decorate(tr,
// rowIndex) to add on-screen-only cells (person links).
function table(title, columns, rows, formats = [], extra = {}) {
  return { title, columns, rows, formats, ...extra };
}

function fmtCell(v, f) {
  switch (f) {
    case 'num': return fmtNum(v);
    case 'pct': return fmtPct(v);
    case 'dur': return fmtDuration(v);
    default: return v == null ? '' : String(v);
  }
}

function renderTable(t) {
  const numeric = (f) => f === 'num' || f === 'pct' || f === 'dur';
  const head = h('tr', null, t.columns.map((c, i) => h('th', { scope: 'col', class: numeric(t.formats[i]) ? 'num' : '' }, c)), t.actionsHeader ? h('th', { scope: 'col' }, t.actionsHeader) : null);
  const body = t.rows.map((r, ri) => {
    const tr = h('tr', null, r.map((v, i) => h(i === 0 ? 'th' : 'td', {
      scope: i === 0 ? 'row' : null,
      class: numeric(t.formats[i]) ? 'num' : '',
      'data-testid': t.testids ? t.testids[i] : null,
      'data-value': numeric(t.formats[i]) && v != null ? v : null,
    }, fmtCell(v, t.formats[i]))));
    if (t.decorate) t.decorate(tr, ri);
    return tr;
  });
  return h('div', { class: 'table-wrap' },
    t.title ? h('h4', { class: 'table-title' }, t.title) : null,
    h('table', { class: 'data', 'data-testid': t.testid || 'result-table' }, h('thead', null, head), h('tbody', null, body)));
}

// ---------------------------------------------------------------- per kind

function funnelTables(spec, res, ctx) {
  const steps = res.steps || [];
  const n = steps.length;
  const main = table(null,
    ['Step', 'Event', 'Count', 'Conversion', 'From previous', 'Median time', 'Dropped before next'],
    steps.map((s, i) => [i + 1, s.label || s.event, s.count, s.conversion, i === 0 ? null : s.step_conversion, s.median_seconds, i < n - 1 ? s.count - steps[i + 1].count : null]),
    ['num', 'text', 'num', 'pct', 'pct', 'dur', 'num'],
    {
      testids: [null, 'funnel-step-label', 'funnel-count', null, null, null, null],
      csvColumns: ['Step', 'Event', 'Count', 'Conversion', 'From previous', 'Median seconds', 'Dropped before next'],
    });
  if (ctx.onPersons) {
    // The counts are the links to their persons: Count lists who reached
    // the step, "Dropped before next" who reached it but not the next one.
    // Person lists exist for the whole funnel only (not per breakdown value).
    main.decorate = (tr, i) => {
      const step = i + 1;
      const s = steps[i];
      const cells = tr.children;
      clear(cells[2], h('button', {
        type: 'button', class: 'link', 'data-testid': `funnel-converted-${step}`,
        title: 'List these persons', 'aria-label': `List the ${s.count} persons who reached step ${step}`,
        onclick: () => ctx.onPersons(`converted:${step}`),
      }, fmtNum(s.count)));
      if (step < n) {
        const dropped = s.count - steps[i + 1].count;
        clear(cells[6], h('button', {
          type: 'button', class: 'link', 'data-testid': `funnel-dropped-${step}`,
          title: 'List these persons', 'aria-label': `List the ${dropped} persons who reached step ${step} but not step ${step + 1}`,
          onclick: () => ctx.onPersons(`dropped:${step}`),
        }, fmtNum(dropped)));
      }
    };
  }
  const tables = [main];
  if (res.breakdown && res.breakdown.length) {
    tables.push(table(`By ${spec.breakdown ? spec.breakdown.property : 'breakdown'}`,
      ['Value', ...steps.map((s, i) => `${i + 1}. ${s.label || s.event}`), 'Conversion'],
      res.breakdown.map((b) => [b.value, ...b.steps.map((s) => s.count), b.steps.length ? b.steps[b.steps.length - 1].conversion : 0]),
      ['text', ...steps.map(() => 'num'), 'pct'], { testid: 'breakdown-table' }));
  }
  if (res.over_time && res.over_time.length) tables.push(overTimeTable(spec, res));
  return tables;
}

// overTimeTable: funnel conversion by the day or week attempts started.
function overTimeTable(spec, res) {
  const by = spec.over_time === 'week' ? 'week' : 'day';
  return table(`Conversion over time (by ${by} started)`, [by === 'week' ? 'Week' : 'Day', 'Started', 'Converted', 'Conversion'],
    res.over_time.map((p) => [p.t, p.started, p.converted, p.conversion]), ['text', 'num', 'num', 'pct'],
    { testid: 'over-time-table', testids: [null, 'over-time-started', 'over-time-converted', 'over-time-conversion'] });
}

// retentionPeriods: columns to show, the longest cohort's (periods that
// have not started yet have no entry, so no empty columns).
function retentionPeriods(spec, res) {
  let n = 0;
  for (const c of res.cohorts || []) n = Math.max(n, c.retained.length);
  return n || spec.periods || 1;
}

function retentionTables(spec, res) {
  const name = PERIOD_NAME[spec.period || 'day'];
  const n = retentionPeriods(spec, res);
  const cols = ['Cohort', 'Size', ...Array.from({ length: n }, (_, i) => `${name} ${i}`)];
  const rows = (cohorts) => cohorts.map((c) => [c.start, c.size, ...Array.from({ length: n }, (_, i) => c.retained[i] ?? null)]);
  const formats = ['text', 'num', ...Array.from({ length: n }, () => 'num')];
  const tables = [table(null, cols, rows(res.cohorts || []), formats)];
  for (const b of res.breakdown || []) {
    tables.push(table(`${spec.breakdown ? spec.breakdown.property : 'Breakdown'} = ${b.value}`, cols, rows(b.cohorts), formats, { testid: 'breakdown-table' }));
  }
  return tables;
}

// trendCategories: the bucket labels of the first current-period series.
function trendCategories(res) {
  const s = (res.series || []).find((x) => x.compare !== 'previous') || (res.series || [])[0];
  return s ? s.points.map((p) => p.t) : [];
}

function seriesName(s) {
  return s.compare === 'previous' ? `${s.label} (previous period)` : s.label;
}

function trendTables(spec, res) {
  const cats = trendCategories(res);
  const series = res.series || [];
  return [table(null, ['Period', ...series.map(seriesName)],
    cats.map((t, i) => [t, ...series.map((s) => (s.points[i] ? s.points[i].value : null))]),
    ['text', ...series.map(() => 'num')])];
}

function stickinessTables(spec, res) {
  const series = res.series || [];
  const unit = spec.interval || 'day';
  const ks = series.length ? series[0].points.map((p) => p.days) : [];
  return [table(null, [`${PERIOD_NAME[unit]}s active`, ...series.map((s) => s.label)],
    ks.map((k, i) => [k, ...series.map((s) => (s.points[i] ? s.points[i].count : null))]),
    ['num', ...series.map(() => 'num')])];
}

function lifecycleTables(spec, res) {
  return [table(null, ['Period', 'New', 'Returning', 'Resurrecting', 'Dormant'],
    (res.points || []).map((p) => [p.t, p.new, p.returning, p.resurrecting, p.dormant]),
    ['text', 'num', 'num', 'num', 'num'])];
}

function pathsTables(spec, res) {
  const strip = (n) => n.replace(/^\d+_/, '');
  return [
    table('Most common paths', ['Path', 'Persons'], (res.paths || []).map((p) => [p.path.join(' → '), p.count]), ['text', 'num']),
    table('Transitions', ['Step', 'From', 'To', 'Persons'],
      (res.edges || []).map((e) => [Number(e.source.split('_')[0]), strip(e.source), strip(e.target), e.value]),
      ['num', 'text', 'text', 'num'], { testid: 'edges-table' }),
  ];
}

function kpiTables(spec, res) {
  return [table(null, ['Period', 'Value', 'Numerator', 'Denominator'],
    [...(res.points || []).map((p) => [p.t, p.value, p.numerator, p.denominator]), ['Whole range', res.value, res.numerator, res.denominator]],
    ['text', 'pct', 'num', 'num'])];
}

function badDaysTables(spec, res, ctx) {
  const top = table('Persons with the most bad days', ['Person', 'Bad days', 'Active days'],
    (res.top_persons || []).map((a) => [a.actor, a.bad_days, a.active_days]), ['text', 'num', 'num'], { testid: 'top-persons-table' });
  if (ctx.personHref) {
    top.decorate = (tr, i) => {
      const a = res.top_persons[i];
      const cell = tr.firstChild;
      clear(cell, h('a', { href: ctx.personHref(a.actor) }, a.actor));
    };
  }
  return [
    table(null, ['Day', 'Bad-day rate', 'Bad', 'Active'], (res.days || []).map((d) => [d.t, d.rate, d.bad, d.active]), ['text', 'pct', 'num', 'num']),
    top,
  ];
}

function journeyTables(spec, res) {
  const stages = res.stages || [];
  const tables = [table(null, ['Stage', 'Persons', 'Conversion', 'From previous'],
    stages.map((s) => [s.name, s.count, s.conversion, s.step_conversion]), ['text', 'num', 'pct', 'pct'],
    { testids: [null, 'funnel-count', null, null] })];
  if (res.breakdown && res.breakdown.length) {
    tables.push(table(`By ${(spec.breakdown && spec.breakdown.property) || 'utm_source'}`,
      ['Channel', ...stages.map((s) => s.name)],
      res.breakdown.map((b) => [b.value === '$none' ? '(none)' : b.value, ...b.stages.map((s) => s.count)]),
      ['text', ...stages.map(() => 'num')], { testid: 'breakdown-table' }));
  }
  return tables;
}

function sqlTables(spec, res) {
  return [table(res.truncated ? 'First rows (truncated)' : null, res.columns || [], res.rows || [], [])];
}

export function tablesFor(spec, res, ctx = {}) {
  switch (res.kind || spec.kind) {
    case 'funnel': return funnelTables(spec, res, ctx);
    case 'retention': return retentionTables(spec, res);
    case 'trend': return trendTables(spec, res);
    case 'stickiness': return stickinessTables(spec, res);
    case 'lifecycle': return lifecycleTables(spec, res);
    case 'paths': return pathsTables(spec, res);
    case 'kpi': return kpiTables(spec, res);
    case 'bad_days': return badDaysTables(spec, res, ctx);
    case 'journey': return journeyTables(spec, res);
    case 'sql': return sqlTables(spec, res);
    default: return [table(null, ['Result'], [[JSON.stringify(res)]], ['text'])];
  }
}

// ---------------------------------------------------------------- charts

const LIFECYCLE_COLORS = { New: '#2e9e5b', Returning: '#3b6fd8', Resurrecting: '#e0a030', Dormant: '#d9534f' };

// chartFor returns {option, onClick} for ECharts, or {html} for retention,
// whose chart is a heatmap table, or null for kinds with no chart.
function chartFor(spec, res, type, ctx) {
  switch (res.kind || spec.kind) {
    case 'funnel': {
      const steps = (res.steps || []).map((s) => ({ label: s.label || s.event, count: s.count }));
      if (res.breakdown && res.breakdown.length) {
        return {
          option: groupedFunnelOption(steps.map((s) => s.label), res.breakdown.map((b) => ({ name: b.value, counts: b.steps.map((s) => s.count) }))),
          extra: overTimeChart(spec, res),
        };
      }
      const onClick = ctx.onPersons ? (p) => {
        const step = p.dataIndex + 1;
        // The filled part of bar N: reached step N. The shaded part: those
        // who reached step N-1 but not N.
        if (p.seriesIndex === 0) ctx.onPersons(`converted:${step}`);
        else if (step > 1) ctx.onPersons(`dropped:${step - 1}`);
      } : null;
      return { option: funnelOption(steps), onClick, extra: overTimeChart(spec, res) };
    }
    case 'journey':
      return { option: funnelOption((res.stages || []).map((s) => ({ label: s.name, count: s.count }))) };
    case 'retention':
      return { html: retentionHeatmap(spec, res) };
    case 'trend': {
      const cats = trendCategories(res);
      return { option: seriesOption(cats, (res.series || []).map((s) => ({ name: seriesName(s), data: s.points.map((p) => p.value), dashed: s.compare === 'previous' })), type) };
    }
    case 'stickiness': {
      const s0 = (res.series || [])[0];
      const unit = PERIOD_NAME[spec.interval || 'day'].toLowerCase();
      const cats = s0 ? s0.points.map((p) => `${p.days} ${unit}${p.days === 1 ? '' : 's'}`) : [];
      return { option: seriesOption(cats, (res.series || []).map((s) => ({ name: s.label, data: s.points.map((p) => p.count) })), type) };
    }
    case 'lifecycle': {
      const pts = res.points || [];
      const series = ['New', 'Returning', 'Resurrecting', 'Dormant'].map((name) => ({
        name,
        color: LIFECYCLE_COLORS[name],
        data: pts.map((p) => p[name.toLowerCase()]),
      }));
      return { option: seriesOption(pts.map((p) => p.t), series, type, { stack: type !== 'line' }) };
    }
    case 'kpi':
      return { option: seriesOption((res.points || []).map((p) => p.t), [{ name: 'KPI', data: (res.points || []).map((p) => p.value) }], type, { percent: true }) };
    case 'bad_days':
      return { option: seriesOption((res.days || []).map((d) => d.t), [{ name: 'Bad-day rate', data: (res.days || []).map((d) => d.rate), color: '#d9534f' }], type, { percent: true }) };
    case 'paths':
      if (!res.edges || res.edges.length === 0) return { html: h('p', { class: 'muted empty' }, 'No paths in this range.') };
      return { option: sankeyOption(res.edges) };
    default:
      return null;
  }
}

// overTimeChart: the line of a funnel's conversion over time (drawn
// under its bars), or null when the result has no over_time points.
function overTimeChart(spec, res) {
  const pts = res.over_time || [];
  if (!pts.length) return null;
  const option = seriesOption(pts.map((p) => p.t), [{ name: 'Conversion', data: pts.map((p) => p.conversion) }], 'line', { percent: true });
  option.tooltip.formatter = (ps) => {
    const p = pts[ps[0].dataIndex];
    return `${esc(p.t)}<br>Conversion: <b>${fmtPct(p.conversion)}</b><br>${fmtNum(p.converted)} of ${fmtNum(p.started)} converted`;
  };
  return { option, title: `Conversion over time (by ${spec.over_time === 'week' ? 'week' : 'day'} started)`, testid: 'over-time-chart', csvTestid: 'over-time-csv', table: () => overTimeTable(spec, res) };
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// retentionHeatmap: cohorts × periods, each cell the % of the cohort that
// came back, its background as dark as the %.
export function retentionHeatmap(spec, res) {
  const name = PERIOD_NAME[spec.period || 'day'];
  const n = retentionPeriods(spec, res);
  const wrap = h('div', { class: 'table-wrap' });
  const block = (title, cohorts) => {
    const head = h('tr', null, h('th', { scope: 'col' }, 'Cohort'), h('th', { scope: 'col', class: 'num' }, 'Size'),
      Array.from({ length: n }, (_, i) => h('th', { scope: 'col', class: 'num', 'data-testid': 'retention-period-head' }, `${name} ${i}`)));
    const rows = cohorts.map((c) => h('tr', null,
      h('th', { scope: 'row' }, c.start), h('td', { class: 'num' }, fmtNum(c.size)),
      Array.from({ length: n }, (_, i) => {
        const v = c.retained[i];
        if (v == null) return h('td', { class: 'num heat-empty' }, '');
        const pct = c.size ? v / c.size : 0;
        // Text turns white once the cell is dark enough to need it.
        return h('td', {
          class: 'num heat',
          style: { background: `rgba(59,111,216,${(0.08 + pct * 0.85).toFixed(3)})`, color: pct > 0.45 ? '#fff' : '' },
          title: `${fmtNum(v)} of ${fmtNum(c.size)}`,
        }, fmtPct(pct, 1));
      })));
    return [title ? h('h4', { class: 'table-title' }, title) : '',
      h('table', { class: 'data heatmap', 'data-testid': 'retention-heatmap' }, h('thead', null, head), h('tbody', null, rows))];
  };
  wrap.append(...block(null, res.cohorts || []));
  for (const b of res.breakdown || []) {
    wrap.append(...block(`${spec.breakdown ? spec.breakdown.property : 'Breakdown'} = ${b.value}`, b.cohorts));
  }
  if (!(res.cohorts || []).length) wrap.append(h('p', { class: 'muted empty' }, 'No cohorts in this range.'));
  return wrap;
}

// summaryFor: the big number some kinds have.
function summaryFor(spec, res) {
  switch (res.kind || spec.kind) {
    case 'kpi':
      return h('div', { class: 'summary' }, h('span', { class: 'big', 'data-testid': 'kpi-value' }, fmtPct(res.value)),
        h('span', { class: 'muted' }, ` ${fmtNum(res.numerator)} of ${fmtNum(res.denominator)}`));
    case 'bad_days':
      return h('div', { class: 'summary' }, h('span', { class: 'big', 'data-testid': 'bad-days-rate' }, fmtPct(res.rate)),
        h('span', { class: 'muted' }, ' of active person-days had a bad event'));
    case 'funnel': {
      const s = res.steps || [];
      if (s.length < 2) return null;
      return h('div', { class: 'summary' }, h('span', { class: 'big' }, fmtPct(s[s.length - 1].conversion)),
        h('span', { class: 'muted' }, ` converted from ${s[0].label || s[0].event} to ${s[s.length - 1].label || s[s.length - 1].event}`));
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------- result

function segmented(label, options, value, onChange, testPrefix) {
  const group = h('div', { class: 'segmented', role: 'group', 'aria-label': label });
  const buttons = options.map(([v, text]) => {
    const b = h('button', { type: 'button', 'aria-pressed': String(v === value), 'data-testid': `${testPrefix}-${v}` }, text);
    b.addEventListener('click', () => {
      for (const x of buttons) x.setAttribute('aria-pressed', String(x === b));
      onChange(v);
    });
    return b;
  });
  group.append(...buttons);
  return group;
}

// renderResult fills host with the result; resolves when the chart (if
// shown) is painted. opts: scope (required), view ('chart'|'table'|'both'),
// compact (tiles: smaller chart), onPersons(personsParam) for funnels,
// personHref(id), filename (for CSV).
export async function renderResult(host, spec, res, opts) {
  const { scope } = opts;
  // The retention "chart" is a table already: it needs no second one.
  let view = opts.view || ((res.kind || spec.kind) === 'retention' ? 'chart' : 'both');
  let type = DEFAULT_TYPE[res.kind || spec.kind] || 'line';
  const ctx = { onPersons: opts.onPersons, personHref: opts.personHref };
  const chartPart = h('div', { class: 'result-chart' });
  const tablePart = h('div', { class: 'result-table' });
  let chartDrawn = false;
  let tableBuilt = false;
  const hasChart = chartFor(spec, res, type, ctx) !== null;
  const compact = !!opts.compact;

  const drawChartPart = async () => {
    const c = chartFor(spec, res, type, ctx);
    if (!c) return;
    if (c.html) {
      clear(chartPart, c.html);
    } else {
      let box = chartPart.querySelector('.chart');
      if (!box) {
        box = chartBox(opts.compact ? 'compact' : '');
        clear(chartPart, box);
      }
      // Tiles draw without animation: a dashboard is complete at once and
      // a slow machine does not animate six charts together.
      const draws = [drawChart(box, compact ? { ...c.option, animation: false } : c.option, scope, { onClick: c.onClick })];
      if (c.extra) {
        // A second chart under the first (funnel conversion over time).
        let extra = chartPart.querySelector('.extra-chart');
        if (!extra) {
          const ebox = chartBox(`${compact ? 'compact ' : ''}extra`);
          ebox.setAttribute('data-testid', c.extra.testid);
          ebox.setAttribute('aria-label', c.extra.title);
          const t = c.extra.table;
          extra = h('section', { class: 'extra-chart', 'aria-label': c.extra.title },
            h('div', { class: 'extra-head' }, h('h4', null, c.extra.title),
              compact ? null : h('button', {
                type: 'button', class: 'btn small', 'data-testid': c.extra.csvTestid,
                onclick: () => { const tt = t(); downloadCSV(`${(opts.filename || 'funnel.csv').replace(/\.csv$/, '')}-over-time.csv`, tt.columns, tt.rows); },
              }, 'Download CSV')),
            ebox);
          chartPart.append(extra);
        }
        draws.push(drawChart(extra.querySelector('.chart'), compact ? { ...c.extra.option, animation: false } : c.extra.option, scope));
      }
      await Promise.all(draws);
    }
    chartDrawn = true;
  };

  const show = async () => {
    const wantChart = hasChart && view !== 'table';
    const wantTable = !hasChart || view !== 'chart';
    chartPart.hidden = !wantChart;
    tablePart.hidden = !wantTable;
    if (wantTable && !tableBuilt) {
      clear(tablePart, tablesFor(spec, res, ctx).map(renderTable));
      tableBuilt = true;
    }
    if (wantChart && !chartDrawn) await drawChartPart();
  };

  const toolbar = h('div', { class: 'result-toolbar' },
    hasChart ? segmented('View', compact ? [['chart', 'Chart'], ['table', 'Table']] : [['chart', 'Chart'], ['table', 'Table'], ['both', 'Both']], view, (v) => { view = v; show(); }, 'view') : null,
    SWITCHABLE.has(res.kind || spec.kind) ? segmented('Chart type', [['line', 'Line'], ['area', 'Area'], ['bar', 'Bar']], type, (t) => { type = t; chartDrawn = false; show(); }, 'charttype') : null,
    h('button', {
      type: 'button', class: 'btn small', 'data-testid': 'export-csv',
      onclick: () => exportCSV(spec, res, opts.filename || `${res.kind || spec.kind}.csv`),
    }, 'Download CSV'));

  clear(host, h('div', { class: `result${opts.compact ? ' compact' : ''}`, 'data-testid': 'insight-result', 'data-kind': res.kind || spec.kind },
    toolbar, summaryFor(spec, res), chartPart, tablePart));
  await show();
}

export function exportCSV(spec, res, filename) {
  const tables = tablesFor(spec, res, {});
  const rows = [];
  tables.forEach((t, i) => {
    if (i > 0) rows.push([], [t.title || '']);
    if (i > 0) rows.push(t.csvColumns || t.columns);
    rows.push(...t.rows);
  });
  downloadCSV(filename, tables[0].csvColumns || tables[0].columns, rows);
}
