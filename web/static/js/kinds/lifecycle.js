// Lifecycle: each period's new, returning, resurrecting and dormant
// persons of one event.

import { h, field } from '../dom.js';
import { seriesOption } from '../charts.js';
import { table, placeName, INTERVALS3 } from './common.js';

const COLORS = { New: '#2e9e5b', Returning: '#3b6fd8', Resurrecting: '#e0a030', Dormant: '#d9534f' };

export default {
  kind: 'lifecycle',
  label: 'Lifecycle',
  builder: true,
  chartType: 'bar',
  defaults: ({ events: [e0] }) => ({ event: e0, interval: 'day' }),
  normalize: (spec) => spec,
  form: (fx, spec) => h('fieldset', null, h('legend', null, 'Lifecycle'),
    field('Event', fx.eventInput('', spec, { 'data-testid': 'lifecycle-event' })),
    field('Interval', fx.selectInput('interval', INTERVALS3, spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'lifecycle-interval' }))),
  name: (spec) => `Lifecycle: ${placeName(spec)}`,
  tables: (spec, res) => [table(null, ['Period', 'New', 'Returning', 'Resurrecting', 'Dormant'],
    (res.points || []).map((p) => [p.t, p.new, p.returning, p.resurrecting, p.dormant]),
    ['text', 'num', 'num', 'num', 'num'])],
  chart(spec, res, { type } = {}) {
    const pts = res.points || [];
    const series = Object.keys(COLORS).map((name) => ({ name, color: COLORS[name], data: pts.map((p) => p[name.toLowerCase()]) }));
    return { option: seriesOption(pts.map((p) => p.t), series, type, { stack: type !== 'line' }) };
  },
};
