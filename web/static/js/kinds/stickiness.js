// Stickiness: how many persons did an event on 1, 2, … days (weeks,
// months) of the range.

import { field } from '../dom.js';
import { seriesOption } from '../charts.js';
import { table, placeName, ensureList, PERIOD_NAME, INTERVALS3 } from './common.js';

export default {
  kind: 'stickiness',
  label: 'Stickiness',
  builder: true,
  chartType: 'bar',
  defaults: ({ events: [e0] }) => ({ series: [{ event: e0 }], interval: 'day' }),
  normalize(spec) {
    ensureList(spec, 'series', () => [{ event: '' }]);
    return spec;
  },
  form: (fx, spec) => [fx.eventList(spec.series, 'series', 'Series', 'stickiness-series', 1),
    field('Interval', fx.selectInput('interval', INTERVALS3, spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'stickiness-interval' }))],
  name: (spec) => `Stickiness: ${(spec.series || []).map(placeName).join(', ')}`,
  tables(spec, res) {
    const series = res.series || [];
    const unit = spec.interval || 'day';
    const ks = series.length ? series[0].points.map((p) => p.days) : [];
    return [table(null, [`${PERIOD_NAME[unit]}s active`, ...series.map((s) => s.label)],
      ks.map((k, i) => [k, ...series.map((s) => (s.points[i] ? s.points[i].count : null))]),
      ['num', ...series.map(() => 'num')])];
  },
  chart(spec, res, { type } = {}) {
    const s0 = (res.series || [])[0];
    const unit = PERIOD_NAME[spec.interval || 'day'].toLowerCase();
    const cats = s0 ? s0.points.map((p) => `${p.days} ${unit}${p.days === 1 ? '' : 's'}`) : [];
    return { option: seriesOption(cats, (res.series || []).map((s) => ({ name: s.label, data: s.points.map((p) => p.count) })), type) };
  },
};
