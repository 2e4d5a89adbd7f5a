// Funnels: steps in order within a conversion window, exclusions between
// steps, conversion over time; persons lists per step (js/builder.js).

import { h, clear, field, fmtNum, fmtPct } from '../dom.js';
import { funnelOption, groupedFunnelOption, seriesOption, esc } from '../charts.js';
import { table, placeName, ensureList } from './common.js';

const WINDOW_UNITS = [['s', 'seconds'], ['m', 'minutes'], ['h', 'hours'], ['d', 'days'], ['w', 'weeks']];
const ORDERS = [['ordered', 'In order (other events may happen between)'], ['strict', 'Strict order (nothing in between)'], ['unordered', 'Any order']];

// fixExclusions keeps exclusion steps valid after the steps changed
// (removed: the 1-based step taken out, 0 for none): 1 <= from_step <
// to_step <= steps, and the whole funnel for any-order funnels.
export function fixExclusions(spec, removed = 0) {
  if (!Array.isArray(spec.exclusions)) return spec;
  const n = spec.steps.length;
  for (const x of spec.exclusions) {
    if (!x || typeof x !== 'object') continue;
    if (spec.order === 'unordered') {
      x.from_step = 1;
      x.to_step = n;
      continue;
    }
    let from = Number.isInteger(x.from_step) ? x.from_step : 1;
    let to = Number.isInteger(x.to_step) ? x.to_step : n;
    if (removed) {
      if (from > removed) from -= 1;
      if (to >= removed) to -= 1;
    }
    from = Math.max(1, Math.min(from, n - 1));
    to = Math.max(from + 1, Math.min(to, n));
    x.from_step = from;
    x.to_step = to;
  }
  return spec;
}

// ---------------------------------------------------------------- form

function stepsSection(fx, spec) {
  const steps = spec.steps;
  const m = /^(\d+)([smhdw])$/.exec(spec.window || '14d') || [null, '14', 'd'];
  let wn = m[1];
  let wu = m[2];
  const setWindow = () => { spec.window = `${wn}${wu}`; };
  return h('fieldset', { 'data-field': 'steps' }, h('legend', null, 'Steps'),
    h('ol', { class: 'rows steps' }, steps.map((s, i) => h('li', { class: 'step-item', 'data-field': `steps[${i}]` },
      h('div', { class: 'row' },
        field(`Step ${i + 1}`, fx.eventInput(`steps[${i}]`, s, { 'data-testid': `funnel-step-event-${i}` })),
        steps.length > 2 ? fx.removeBtn(`Remove step ${i + 1}`, () => {
          steps.splice(i, 1);
          fixExclusions(spec, i + 1);
          fx.rerender('funnel-add-step');
        }, `funnel-remove-step-${i}`) : null),
      fx.subFilters(s, `steps[${i}]`, `funnel-step-${i}-`, () => s.event, `step ${i + 1}`)))),
    steps.length < 20 ? fx.addBtn('Add step', () => {
      steps.push({ event: '' });
      fixExclusions(spec);
      fx.rerender(`funnel-step-event-${steps.length - 1}`);
    }, 'funnel-add-step') : null,
    h('div', { class: 'inline' },
      field('Conversion window', fx.numInput('window', wn, (v) => { wn = v || 1; setWindow(); }, { min: 1, 'data-testid': 'funnel-window-n' })),
      field('Unit', fx.selectInput('window', WINDOW_UNITS, wu, (v) => { wu = v; setWindow(); }, { 'data-testid': 'funnel-window-unit' }))),
    field('Step order', fx.selectInput('order', ORDERS, spec.order || 'ordered', (v) => {
      const wasUnordered = spec.order === 'unordered';
      spec.order = v;
      // Any-order funnels exclude over the whole funnel only.
      if (Array.isArray(spec.exclusions) && spec.exclusions.length && wasUnordered !== (v === 'unordered')) {
        fixExclusions(spec);
        fx.rerender('funnel-order');
      }
    }, { 'data-testid': 'funnel-order' })));
}

// Exclusions: persons who did an event between two steps (1-based,
// from_step < to_step) leave the funnel.
function exclusionsSection(fx, spec) {
  const steps = spec.steps;
  const n = steps.length;
  const list = Array.isArray(spec.exclusions) ? spec.exclusions : [];
  const unordered = spec.order === 'unordered';
  const stepLabel = (k) => `Step ${k}${steps[k - 1] && fx.pickText(steps[k - 1]) ? `: ${fx.pickText(steps[k - 1])}` : ''}`;
  const stepOptions = (lo, hi) => {
    const out = [];
    for (let k = lo; k <= hi; k++) out.push([String(k), stepLabel(k)]);
    return out;
  };
  // Step names may have been edited since the form was drawn.
  const freshLabels = (sel) => sel.addEventListener('focus', () => {
    for (const o of sel.options) o.textContent = stepLabel(Number(o.value));
  });
  const rows = list.map((x, k) => {
    const from = Number.isInteger(x.from_step) ? x.from_step : 1;
    const fromSel = fx.selectInput(`exclusions[${k}].from_step`, stepOptions(1, n - 1), String(x.from_step ?? ''), (v) => {
      x.from_step = Number(v);
      if (!(x.to_step > x.from_step)) x.to_step = x.from_step + 1;
      fx.rerender(`funnel-exclusion-from-${k}`);
    }, { 'data-testid': `funnel-exclusion-from-${k}`, disabled: unordered });
    const toSel = fx.selectInput(`exclusions[${k}].to_step`, stepOptions(Math.min(Math.max(from, 1) + 1, n), n), String(x.to_step ?? ''), (v) => { x.to_step = Number(v); },
      { 'data-testid': `funnel-exclusion-to-${k}`, disabled: unordered });
    freshLabels(fromSel);
    freshLabels(toSel);
    return h('li', { class: 'exclusion-item', 'data-testid': `funnel-exclusion-${k}`, 'data-field': `exclusions[${k}]` },
      h('div', { class: 'row' },
        field(`Exclusion ${k + 1}: persons who did`, fx.eventInput(`exclusions[${k}]`, x, { 'data-testid': `funnel-exclusion-event-${k}` })),
        fx.removeBtn(`Remove exclusion ${k + 1}`, () => {
          list.splice(k, 1);
          if (!list.length) delete spec.exclusions;
          fx.rerender('funnel-add-exclusion');
        }, `funnel-exclusion-remove-${k}`)),
      h('div', { class: 'inline exclusion-steps' }, field('between', fromSel), field('and', toSel)),
      fx.subFilters(x, `exclusions[${k}]`, `funnel-exclusion-${k}-`, () => x.event, `exclusion ${k + 1}`));
  });
  return h('fieldset', { 'data-field': 'exclusions' }, h('legend', null, 'Exclusions'),
    list.length
      ? h('ol', { class: 'rows' }, rows)
      : h('p', { class: 'muted hint' }, 'Leave out persons who did an event between two steps.'),
    unordered && list.length ? h('p', { class: 'muted hint' }, 'Any-order funnels exclude over the whole funnel.') : null,
    list.length < 10 ? fx.addBtn('Exclude event', () => {
      spec.exclusions = list;
      list.push({ event: '', from_step: 1, to_step: n });
      fx.rerender(`funnel-exclusion-event-${list.length - 1}`);
    }, 'funnel-add-exclusion') : null);
}

function overTimeSection(fx, spec) {
  const on = !!spec.over_time;
  const interval = fx.selectInput('over_time', [['day', 'Day'], ['week', 'Week']], spec.over_time || 'day', (v) => { spec.over_time = v; },
    { 'data-testid': 'funnel-over-time-interval' });
  const intervalField = field('Interval', interval);
  intervalField.hidden = !on;
  const cb = fx.checkbox('over_time', on, (checked) => {
    if (checked) spec.over_time = interval.value || 'day';
    else delete spec.over_time;
    intervalField.hidden = !checked;
  }, { 'data-testid': 'funnel-over-time' });
  return h('fieldset', null, h('legend', null, 'Conversion over time'),
    h('label', { class: 'check' }, cb, ' Conversion over time (by the day or week each attempt started)'),
    intervalField);
}

// ---------------------------------------------------------------- result

// overTimeTable: funnel conversion by the day or week attempts started.
function overTimeTable(spec, res) {
  const by = spec.over_time === 'week' ? 'week' : 'day';
  return table(`Conversion over time (by ${by} started)`, [by === 'week' ? 'Week' : 'Day', 'Started', 'Converted', 'Conversion'],
    res.over_time.map((p) => [p.t, p.started, p.converted, p.conversion]), ['text', 'num', 'num', 'pct'],
    { testid: 'over-time-table', testids: [null, 'over-time-started', 'over-time-converted', 'over-time-conversion'] });
}

function tables(spec, res, ctx = {}) {
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
  const out = [main];
  if (res.breakdown && res.breakdown.length) {
    out.push(table(`By ${spec.breakdown ? spec.breakdown.property : 'breakdown'}`,
      ['Value', ...steps.map((s, i) => `${i + 1}. ${s.label || s.event}`), 'Conversion'],
      res.breakdown.map((b) => [b.value, ...b.steps.map((s) => s.count), b.steps.length ? b.steps[b.steps.length - 1].conversion : 0]),
      ['text', ...steps.map(() => 'num'), 'pct'], { testid: 'breakdown-table' }));
  }
  if (res.over_time && res.over_time.length) out.push(overTimeTable(spec, res));
  return out;
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

function chart(spec, res, ctx = {}) {
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

function summary(spec, res) {
  const s = res.steps || [];
  if (s.length < 2) return null;
  return h('div', { class: 'summary' }, h('span', { class: 'big' }, fmtPct(s[s.length - 1].conversion)),
    h('span', { class: 'muted' }, ` converted from ${s[0].label || s[0].event} to ${s[s.length - 1].label || s[s.length - 1].event}`));
}

// personsTitle heads the list of persons param names ('dropped:2').
function personsTitle(spec, param, who) {
  const [mode, nStr] = param.split(':');
  const n = Number(nStr);
  const stepName = (i) => (spec.steps[i - 1] ? spec.steps[i - 1].label || spec.steps[i - 1].event : `step ${i}`);
  return mode === 'dropped'
    ? `${who} who reached step ${n} (${stepName(n)}) but not step ${n + 1} (${stepName(n + 1)})`
    : `${who} who reached step ${n} (${stepName(n)})`;
}

export default {
  kind: 'funnel',
  label: 'Funnel',
  builder: true,
  breakdown: true,
  defaults: ({ withFilters, events: [e0, e1] }) => ({ steps: [withFilters(e0), withFilters(e1)], window: '14d', order: 'ordered' }),
  normalize(spec) {
    ensureList(spec, 'steps', () => [{ event: '' }, { event: '' }]);
    return spec;
  },
  form: (fx, spec) => [stepsSection(fx, spec), exclusionsSection(fx, spec), overTimeSection(fx, spec)],
  name: (spec) => `Funnel: ${(spec.steps || []).map(placeName).join(' → ')}`,
  tables,
  chart,
  summary,
  // Persons lists: of the whole funnel only, not per breakdown value.
  persons: (spec) => !spec.breakdown,
  personsTitle,
};
