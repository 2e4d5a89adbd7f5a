// Bad days: the share of active person-days with a bad event (errors,
// failed payments), and the persons with the most of them.

import { h, clear, field, fmtPct } from '../dom.js';
import { seriesOption } from '../charts.js';
import { table, placeName, ensureList } from './common.js';

function tables(spec, res, ctx = {}) {
  const top = table('Persons with the most bad days', ['Person', 'Bad days', 'Active days'],
    (res.top_persons || []).map((a) => [a.actor, a.bad_days, a.active_days]), ['text', 'num', 'num'], { testid: 'top-persons-table' });
  if (ctx.personHref) {
    top.decorate = (tr, i) => {
      const a = res.top_persons[i];
      clear(tr.firstChild, h('a', { href: ctx.personHref(a.actor) }, a.actor));
    };
  }
  return [
    table(null, ['Day', 'Bad-day rate', 'Bad', 'Active'], (res.days || []).map((d) => [d.t, d.rate, d.bad, d.active]), ['text', 'pct', 'num', 'num']),
    top,
  ];
}

export default {
  kind: 'bad_days',
  label: 'Bad days',
  builder: true,
  chartType: 'line',
  defaults: ({ known, used, events: [e0] }) => ({ bad: [{ event: known.includes('$exception') || used.includes('$exception') ? '$exception' : e0 }] }),
  normalize(spec) {
    ensureList(spec, 'bad', () => [{ event: '' }]);
    if (!Array.isArray(spec.active)) spec.active = [];
    return spec;
  },
  form: (fx, spec) => [
    fx.eventList(spec.bad, 'bad', 'Bad events', 'bad', 1),
    fx.eventList(spec.active, 'active', 'Active events (none: any event makes a day active)', 'active', 0),
    field('Top persons to list', fx.numInput('top', spec.top ?? 10, (v) => { spec.top = v; }, { min: 1, max: 1000, 'data-testid': 'bad-top' })),
  ],
  name: (spec) => `Bad days: ${(spec.bad || []).map(placeName).join(', ')}`,
  tables,
  chart: (spec, res, { type } = {}) => ({
    option: seriesOption((res.days || []).map((d) => d.t), [{ name: 'Bad-day rate', data: (res.days || []).map((d) => d.rate), color: '#d9534f' }], type, { percent: true }),
  }),
  summary: (spec, res) => h('div', { class: 'summary' }, h('span', { class: 'big', 'data-testid': 'bad-days-rate' }, fmtPct(res.rate)),
    h('span', { class: 'muted' }, ' of active person-days had a bad event')),
};
