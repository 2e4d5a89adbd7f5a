// The customer journey: persons through the project's stages (Settings)
// or the spec's own, by channel (utm_source) when broken down.

import { h, field } from '../dom.js';
import { funnelOption } from '../charts.js';
import { table } from './common.js';

function form(fx, spec) {
  const err = h('p', { class: 'error', role: 'alert', hidden: true });
  const ta = h('textarea', { rows: 6, spellcheck: 'false', 'data-testid': 'journey-stages', 'data-field': 'stages', placeholder: 'Empty: the project’s stages (Settings)' });
  ta.value = spec.stages && spec.stages.length ? JSON.stringify(spec.stages, null, 2) : '';
  ta.addEventListener('input', () => {
    const text = ta.value.trim();
    if (!text) { delete spec.stages; err.hidden = true; return; }
    try {
      const v = JSON.parse(text);
      if (!Array.isArray(v)) throw new Error('stages must be a JSON list');
      spec.stages = v;
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = `Not valid JSON: ${e.message}`;
    }
  });
  return h('fieldset', null, h('legend', null, 'Journey'), field('Stages (JSON, optional)', ta), err);
}

function tables(spec, res) {
  const stages = res.stages || [];
  const out = [table(null, ['Stage', 'Persons', 'Conversion', 'From previous'],
    stages.map((s) => [s.name, s.count, s.conversion, s.step_conversion]), ['text', 'num', 'pct', 'pct'],
    { testids: [null, 'funnel-count', null, null] })];
  if (res.breakdown && res.breakdown.length) {
    out.push(table(`By ${(spec.breakdown && spec.breakdown.property) || 'utm_source'}`,
      ['Channel', ...stages.map((s) => s.name)],
      res.breakdown.map((b) => [b.value === '$none' ? '(none)' : b.value, ...b.stages.map((s) => s.count)]),
      ['text', ...stages.map(() => 'num')], { testid: 'breakdown-table' }));
  }
  return out;
}

export default {
  kind: 'journey',
  label: 'Journey',
  builder: true,
  breakdown: true,
  defaults: () => ({}),
  normalize: (spec) => spec,
  form,
  name: () => 'Customer journey',
  tables,
  chart: (spec, res) => ({ option: funnelOption((res.stages || []).map((s) => ({ label: s.name, count: s.count }))) }),
};
