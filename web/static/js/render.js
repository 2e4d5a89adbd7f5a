// Renders any insight result (every kind of internal/insight) as a chart,
// a table, or both, with CSV export. Used by the insight builder,
// dashboards, shared dashboards and the home page. What to draw comes
// from the result's kind module (kinds/); this file only draws it.

import { h, clear, fmtNum, fmtPct, fmtDuration, downloadCSV } from './dom.js';
import { drawChart, chartBox } from './charts.js';
import { kindOf, tablesFor, chartFor, summaryFor } from './kinds/index.js';

// ---------------------------------------------------------------- tables

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
  const kind = kindOf(res.kind || spec.kind) || {};
  let view = opts.view || kind.view || 'both';
  let type = kind.chartType || 'line';
  const ctx = { onPersons: opts.onPersons, personHref: opts.personHref };
  const chartPart = h('div', { class: 'result-chart' });
  const tablePart = h('div', { class: 'result-table' });
  let chartDrawn = false;
  let tableBuilt = false;
  const hasChart = chartFor(spec, res, { ...ctx, type }) !== null;
  const compact = !!opts.compact;

  const drawChartPart = async () => {
    const c = chartFor(spec, res, { ...ctx, type });
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
    kind.chartType ? segmented('Chart type', [['line', 'Line'], ['area', 'Area'], ['bar', 'Bar']], type, (t) => { type = t; chartDrawn = false; show(); }, 'charttype') : null,
    h('button', {
      type: 'button', class: 'btn small', 'data-testid': 'export-csv',
      onclick: () => exportCSV(spec, res, opts.filename || `${res.kind || spec.kind}.csv`),
    }, 'Download CSV'));

  clear(host, h('div', { class: `result${opts.compact ? ' compact' : ''}`, 'data-testid': 'insight-result', 'data-kind': res.kind || spec.kind },
    toolbar, summaryFor(spec, res), chartPart, tablePart));
  await show();
}

// csvOf puts every table of a result in one CSV: the first table's
// columns head the file, each further table follows a blank line, its
// title and its columns.
export function csvOf(spec, res) {
  const tables = tablesFor(spec, res, {});
  const rows = [];
  tables.forEach((t, i) => {
    if (i > 0) rows.push([], [t.title || '']);
    if (i > 0) rows.push(t.csvColumns || t.columns);
    rows.push(...t.rows);
  });
  return { columns: tables[0].csvColumns || tables[0].columns, rows };
}

export function exportCSV(spec, res, filename) {
  const { columns, rows } = csvOf(spec, res);
  downloadCSV(filename, columns, rows);
}
