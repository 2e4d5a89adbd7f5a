// KPIs: of the persons who meet the denominator's conditions in a period,
// the share who also meet the numerator's.

import { h, field, fmtNum, fmtPct } from '../dom.js';
import { seriesOption } from '../charts.js';
import { table, INTERVALS3 } from './common.js';

// conditions edits set.conditions at path ('denominator'); min rows stay.
function conditions(fx, set, path, legend, testPrefix, min) {
  const list = set.conditions;
  const cp = `${path}.conditions`;
  return h('fieldset', { 'data-field': `${path} ${cp}` }, h('legend', null, legend),
    h('ol', { class: 'rows' }, list.map((c, i) => h('li', { class: 'row wrap', 'data-field': `${cp}[${i}]` },
      field('Did', fx.selectInput(`${cp}[${i}].did`, [['true', 'did'], ['false', 'did not do']], c.did === false ? 'false' : 'true', (v) => {
        if (v === 'false') { c.did = false; delete c.first_time; } else delete c.did;
        fx.rerender(`${testPrefix}-did-${i}`);
      }, { 'data-testid': `${testPrefix}-did-${i}` })),
      field('Event', fx.eventInput(`${cp}[${i}]`, c, { 'data-testid': `${testPrefix}-event-${i}` })),
      c.did === false ? null : h('label', { class: 'check' },
        fx.checkbox(`${cp}[${i}].first_time`, c.first_time, (on) => { if (on) c.first_time = true; else delete c.first_time; }, { 'data-testid': `${testPrefix}-first-${i}` }),
        ' for the first time in the period'),
      list.length > min ? fx.removeBtn(`Remove condition ${i + 1}`, () => { list.splice(i, 1); fx.rerender(`${testPrefix}-add`); }, `${testPrefix}-remove-${i}`) : null))),
    list.length < 10 ? fx.addBtn('Add condition', () => { list.push({ event: '' }); fx.rerender(`${testPrefix}-event-${list.length - 1}`); }, `${testPrefix}-add`) : null);
}

export default {
  kind: 'kpi',
  label: 'KPI',
  builder: true,
  chartType: 'line',
  defaults: ({ events: [e0, e1] }) => ({
    denominator: { conditions: [{ event: e0, first_time: true }] },
    numerator: { conditions: [{ event: e1 }] },
    interval: 'month',
  }),
  normalize(spec) {
    spec.denominator = spec.denominator || { conditions: [{ event: '' }] };
    spec.numerator = spec.numerator || { conditions: [] };
    spec.denominator.conditions = spec.denominator.conditions || [];
    spec.numerator.conditions = spec.numerator.conditions || [];
    return spec;
  },
  form: (fx, spec) => [
    conditions(fx, spec.denominator, 'denominator', 'Denominator: persons who…', 'kpi-den', 1),
    conditions(fx, spec.numerator, 'numerator', 'Numerator: of those, persons who also…', 'kpi-num', 0),
    field('Interval', fx.selectInput('interval', INTERVALS3, spec.interval || 'month', (v) => { spec.interval = v; }, { 'data-testid': 'kpi-interval' })),
  ],
  name: () => 'KPI',
  tables: (spec, res) => [table(null, ['Period', 'Value', 'Numerator', 'Denominator'],
    [...(res.points || []).map((p) => [p.t, p.value, p.numerator, p.denominator]), ['Whole range', res.value, res.numerator, res.denominator]],
    ['text', 'pct', 'num', 'num'])],
  chart: (spec, res, { type } = {}) => ({
    option: seriesOption((res.points || []).map((p) => p.t), [{ name: 'KPI', data: (res.points || []).map((p) => p.value) }], type, { percent: true }),
  }),
  summary: (spec, res) => h('div', { class: 'summary' }, h('span', { class: 'big', 'data-testid': 'kpi-value' }, fmtPct(res.value)),
    h('span', { class: 'muted' }, ` ${fmtNum(res.numerator)} of ${fmtNum(res.denominator)}`)),
};
