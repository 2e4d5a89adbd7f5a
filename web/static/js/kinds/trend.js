// Trends: series of events over time (counts, active persons or property
// maths), combined by a formula, against the previous period.

import { h, field } from '../dom.js';
import { seriesOption } from '../charts.js';
import { table, placeName, ensureList, INTERVALS3 } from './common.js';

const MATHS = [['total', 'Total events'], ['dau', 'Unique persons (DAU)'], ['wau', 'Weekly active (WAU)'], ['mau', 'Monthly active (MAU)'],
  ['sum', 'Sum of property'], ['avg', 'Average of property'], ['min', 'Minimum of property'], ['max', 'Maximum of property'],
  ['p50', 'Median of property'], ['p90', '90th percentile of property'], ['p99', '99th percentile of property']];
const COUNT_MATHS = new Set(['total', 'dau', 'wau', 'mau']);
export const LETTERS = 'ABCDEFGHIJKLMNOPQRST';

function form(fx, spec) {
  return h('fieldset', { 'data-field': 'series' }, h('legend', null, 'Series'),
    h('ol', { class: 'rows' }, spec.series.map((s, i) => h('li', { class: 'row series-row', 'data-field': `series[${i}]` },
      h('span', { class: 'letter', 'aria-hidden': 'true' }, LETTERS[i]),
      field(`Series ${LETTERS[i]} event`, fx.eventInput(`series[${i}]`, s, { 'data-testid': `trend-series-event-${i}` })),
      field('Measure', fx.selectInput(`series[${i}].math`, MATHS, s.math || 'total', (v) => {
        const needed = !COUNT_MATHS.has(v) !== !COUNT_MATHS.has(s.math || 'total');
        s.math = v;
        if (COUNT_MATHS.has(v)) delete s.property;
        if (needed) fx.rerender(`trend-series-math-${i}`);
      }, { 'data-testid': `trend-series-math-${i}` })),
      COUNT_MATHS.has(s.math || 'total') ? null : field('Property', fx.propInput(`series[${i}].property`, s.property, (v) => { s.property = v; }, { 'data-testid': `trend-series-property-${i}`, placeholder: 'price' })),
      spec.series.length > 1 ? fx.removeBtn(`Remove series ${LETTERS[i]}`, () => { spec.series.splice(i, 1); fx.rerender('trend-add-series'); }, `trend-remove-series-${i}`) : null,
      fx.subFilters(s, `series[${i}]`, `trend-series-${i}-`, () => s.event, `series ${LETTERS[i]}`)))),
    spec.series.length < 20 ? fx.addBtn('Add series', () => { spec.series.push({ event: '', math: 'total' }); fx.rerender(`trend-series-event-${spec.series.length - 1}`); }, 'trend-add-series') : null,
    h('div', { class: 'inline' },
      field('Interval', fx.selectInput('interval', [['hour', 'Hour'], ...INTERVALS3], spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'trend-interval' })),
      field('Formula', fx.textInput('formula', spec.formula, (v) => { if (v) spec.formula = v; else delete spec.formula; },
        { placeholder: 'e.g. B/A*100', 'data-testid': 'trend-formula' }), 'Combine series by letter')),
    h('label', { class: 'check' }, fx.checkbox('compare', spec.compare, (on) => { if (on) spec.compare = true; else delete spec.compare; },
      { 'data-testid': 'trend-compare' }), ' Compare with the previous period'));
}

// categories: the bucket labels of the first current-period series.
function categories(res) {
  const s = (res.series || []).find((x) => x.compare !== 'previous') || (res.series || [])[0];
  return s ? s.points.map((p) => p.t) : [];
}

const seriesName = (s) => (s.compare === 'previous' ? `${s.label} (previous period)` : s.label);

export default {
  kind: 'trend',
  label: 'Trend',
  builder: true,
  breakdown: true,
  chartType: 'line',
  defaults: ({ withFilters, events: [e0] }) => ({ series: [{ ...withFilters(e0), math: 'total' }], interval: 'day' }),
  normalize(spec) {
    ensureList(spec, 'series', () => [{ event: '', math: 'total' }]);
    return spec;
  },
  form,
  name: (spec) => `Trend: ${(spec.series || []).map((s) => `${s.math && s.math !== 'total' ? `${s.math.toUpperCase()} ` : ''}${placeName(s)}`).join(', ')}`,
  tables(spec, res) {
    const cats = categories(res);
    const series = res.series || [];
    return [table(null, ['Period', ...series.map(seriesName)],
      cats.map((t, i) => [t, ...series.map((s) => (s.points[i] ? s.points[i].value : null))]),
      ['text', ...series.map(() => 'num')])];
  },
  chart: (spec, res, { type } = {}) => ({
    option: seriesOption(categories(res), (res.series || []).map((s) => ({ name: seriesName(s), data: s.points.map((p) => p.value), dashed: s.compare === 'previous' })), type),
  }),
};
