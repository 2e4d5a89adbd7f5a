// Retention: cohorts of persons who did a start event, and how many came
// back to do the return event in each later period. Its chart is a
// heatmap table, so it needs no second table.

import { h, field, fmtNum, fmtPct } from '../dom.js';
import { table, placeName, PERIOD_NAME, INTERVALS3 } from './common.js';

const MODES = [['first_time', 'First time: by each person’s first start event'], ['recurring', 'Recurring: every period they did it']];

function form(fx, spec) {
  return h('fieldset', null, h('legend', null, 'Retention'),
    field('Cohort: persons who did', fx.eventInput('start', spec.start, { 'data-testid': 'retention-start' })),
    field('Came back and did', fx.eventInput('return', spec.return, { 'data-testid': 'retention-return' })),
    h('div', { class: 'inline' },
      field('Period', fx.selectInput('period', INTERVALS3, spec.period || 'day', (v) => { spec.period = v; }, { 'data-testid': 'retention-period' })),
      field('Periods', fx.numInput('periods', spec.periods ?? 8, (v) => { spec.periods = v; }, { min: 1, max: 52, 'data-testid': 'retention-periods' }))),
    field('Cohorts', fx.selectInput('mode', MODES, spec.mode || 'first_time', (v) => { spec.mode = v; }, { 'data-testid': 'retention-mode' })));
}

// periods: columns to show, the longest cohort's (periods that have not
// started yet have no entry, so no empty columns).
export function periods(spec, res) {
  let n = 0;
  for (const c of res.cohorts || []) n = Math.max(n, c.retained.length);
  return n || spec.periods || 1;
}

function tables(spec, res) {
  const name = PERIOD_NAME[spec.period || 'day'];
  const n = periods(spec, res);
  const cols = ['Cohort', 'Size', ...Array.from({ length: n }, (_, i) => `${name} ${i}`)];
  const rows = (cohorts) => cohorts.map((c) => [c.start, c.size, ...Array.from({ length: n }, (_, i) => c.retained[i] ?? null)]);
  const formats = ['text', 'num', ...Array.from({ length: n }, () => 'num')];
  const out = [table(null, cols, rows(res.cohorts || []), formats)];
  for (const b of res.breakdown || []) {
    out.push(table(`${spec.breakdown ? spec.breakdown.property : 'Breakdown'} = ${b.value}`, cols, rows(b.cohorts), formats, { testid: 'breakdown-table' }));
  }
  return out;
}

// heatmap: cohorts × periods, each cell the % of the cohort that came
// back, its background as dark as the %.
function heatmap(spec, res) {
  const name = PERIOD_NAME[spec.period || 'day'];
  const n = periods(spec, res);
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

export default {
  kind: 'retention',
  label: 'Retention',
  builder: true,
  breakdown: true,
  view: 'chart',
  defaults: ({ events: [e0, e1] }) => ({ start: { event: e0 }, return: { event: e1 }, period: 'week', periods: 8, mode: 'first_time' }),
  normalize(spec) {
    spec.start = spec.start || { event: '' };
    spec.return = spec.return || { event: '' };
    return spec;
  },
  form,
  name: (spec) => `Retention: ${placeName(spec.start)} → ${placeName(spec.return)} (${spec.period || 'day'})`,
  tables,
  chart: (spec, res) => ({ html: heatmap(spec, res) }),
};
