// The insight builder: #/p/{pid}/insight?spec=<json> or #/p/{pid}/insight/{id}.
// The spec object is the single source of truth: inputs write into it,
// structural changes (add/remove rows, kind switch) rebuild the form, and
// Run posts it to /query as is.

import { h, clear, field, select, datalist, errorBox, setError, loading, fmtNum, Scope, isAbort, uid } from './dom.js';
import { get, post, put, P, qs } from './api.js';
import { renderResult, KINDS } from './render.js';
import { loadECharts } from './charts.js';
import { PRESETS, presetRange, presetOf, localDate, fromLocalDate, defaultSpec, autoName, insightURL, BREAKDOWN_KINDS, specOf, actionPick, pickText, applyPick } from './spec.js';

const MATHS = [['total', 'Total events'], ['dau', 'Unique persons (DAU)'], ['wau', 'Weekly active (WAU)'], ['mau', 'Monthly active (MAU)'],
  ['sum', 'Sum of property'], ['avg', 'Average of property'], ['min', 'Minimum of property'], ['max', 'Maximum of property'],
  ['p50', 'Median of property'], ['p90', '90th percentile of property'], ['p99', '99th percentile of property']];
const COUNT_MATHS = new Set(['total', 'dau', 'wau', 'mau']);
const OPS = [['eq', 'equals'], ['neq', 'does not equal'], ['contains', 'contains'], ['gt', 'greater than'], ['lt', 'less than'], ['is_set', 'is set'], ['in', 'is one of']];
const INTERVALS3 = [['day', 'Day'], ['week', 'Week'], ['month', 'Month']];
const WINDOW_UNITS = [['s', 'seconds'], ['m', 'minutes'], ['h', 'hours'], ['d', 'days'], ['w', 'weeks']];
const LETTERS = 'ABCDEFGHIJKLMNOPQRST';

const clone = (x) => JSON.parse(JSON.stringify(x));

export default async function builderPage(ctx) {
  const { pid, main, scope } = ctx;
  const savedId = ctx.params[1] || null;
  const state = {
    id: savedId,
    name: '',
    spec: null,
    ran: null, // the spec of the result on screen (persons lists re-run it)
    known: [], // event names seen in the project, most frequent first
    actions: [], // the project's actions, offered where an event can be
    resultScope: null,
    runCtrl: null,
  };

  clear(main, h('h1', null, savedId ? 'Insight' : 'New insight'), loading());
  loadECharts().catch(() => {}); // every result but retention's is a chart
  scope.add(() => state.resultScope && state.resultScope.dispose());

  // Event and property suggestions load in the background; the form works
  // without them (inputs accept any name).
  const dlEvents = datalist(uid('dl-events'), []);
  const dlProps = datalist(uid('dl-props'), []);
  const dlHost = h('div', { hidden: true }); // per-event property suggestions
  const eventsP = get(P(pid, '/events'), { signal: scope.signal }).catch(() => []);
  const actionsP = get(P(pid, '/actions'), { signal: scope.signal }).catch(() => []);
  get(P(pid, '/properties'), { signal: scope.signal }).then((props) => {
    clear(dlProps, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} events` })));
  }).catch(() => {});

  try {
    if (savedId) {
      const ins = await get(P(pid, `/insights/${encodeURIComponent(savedId)}`), { signal: scope.signal });
      state.name = ins.name || '';
      state.spec = specOf(ins);
    } else if (ctx.query.get('spec')) {
      state.spec = JSON.parse(ctx.query.get('spec'));
    }
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Insight'), errorBox(err.status === 404 ? 'This insight does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/insight` }, 'Start a new insight')));
    return;
  }
  const autoRun = !!state.spec;
  if (state.spec) normalize(state.spec);
  if (state.spec && (!state.spec.from || !state.spec.to)) Object.assign(state.spec, presetRange('30d'));

  const [events, actions] = await Promise.all([eventsP, actionsP]);
  if (scope.disposed) return;
  state.known = (events || []).map((e) => e.event);
  state.actions = actions || [];
  clear(dlEvents, (events || []).map((e) => h('option', { value: e.event, label: `${fmtNum(e.count)} in the last 30 days` })),
    state.actions.map((a) => h('option', { value: actionPick(a), label: 'action' })));
  if (!state.spec) state.spec = defaultSpec('trend', {}, state.known);

  // ---------------------------------------------------------------- layout
  const form = h('form', { class: 'builder-form card', 'data-testid': 'builder-form', novalidate: true });
  const formError = errorBox();
  formError.setAttribute('data-testid', 'builder-error');
  const resultHost = h('div', { class: 'result-host', 'data-testid': 'insight-result-host', 'data-state': 'idle', 'aria-live': 'polite' },
    h('p', { class: 'muted empty' }, 'Choose what to measure, then press Run.'));
  const personsHost = h('div', { class: 'persons-host' });
  const nameInput = h('input', { type: 'text', 'data-testid': 'insight-name', placeholder: autoName(state.spec), value: state.name, 'aria-label': 'Insight name' });
  const saveStatus = h('span', { class: 'save-status', 'data-testid': 'save-status', role: 'status' });
  const saveError = errorBox();
  const dashPanel = h('div', { class: 'dash-panel', hidden: true });

  const saveBar = ctx.canWrite ? h('div', { class: 'save-bar' },
    h('label', { class: 'sr-only', for: nameInput.id || (nameInput.id = uid()) }, 'Insight name'),
    nameInput,
    h('button', { type: 'button', class: 'btn', 'data-testid': 'save-insight', onclick: () => save() }, 'Save'),
    state.id ? h('button', { type: 'button', class: 'btn', 'data-testid': 'save-insight-new', onclick: () => save(true) }, 'Save as new') : null,
    h('button', { type: 'button', class: 'btn', 'data-testid': 'add-to-dashboard', onclick: () => openDashPanel() }, 'Add to dashboard'),
    saveStatus) : h('p', { class: 'muted' }, 'You can run insights; saving needs the member role.');

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });

  clear(main,
    dlEvents, dlProps, dlHost,
    h('div', { class: 'page-head' }, h('h1', null, savedId ? 'Insight' : 'New insight')),
    h('div', { class: 'builder' },
      form,
      h('section', { class: 'builder-main', 'aria-label': 'Result' }, saveBar, saveError, dashPanel, h('div', { class: 'card' }, resultHost), personsHost)));

  // ---------------------------------------------------------------- inputs

  const plainEventInput = (value, set, attrs = {}) => {
    const el = h('input', { type: 'text', list: dlEvents.id, value: value || '', autocomplete: 'off', spellcheck: 'false', required: true, ...attrs });
    el.addEventListener('input', () => set(el.value.trim()));
    return el;
  };
  // eventInput edits the event or action (see applyPick) of place x.
  const eventInput = (x, attrs = {}) => plainEventInput(pickText(x, state.actions), (v) => applyPick(x, v), attrs);
  const propInput = (value, set, attrs = {}) => {
    const el = h('input', { type: 'text', list: dlProps.id, value: value || '', autocomplete: 'off', spellcheck: 'false', ...attrs });
    el.addEventListener('input', () => set(el.value.trim()));
    return el;
  };
  const numInput = (value, set, attrs = {}) => {
    const el = h('input', { type: 'number', value: value ?? '', inputmode: 'numeric', ...attrs });
    el.addEventListener('input', () => set(el.value === '' ? undefined : Number(el.value)));
    return el;
  };
  const selectInput = (options, value, set, attrs = {}) => {
    const el = select(options, value, attrs);
    el.addEventListener('change', () => set(el.value));
    return el;
  };
  const removeBtn = (label, onclick, testid) => h('button', { type: 'button', class: 'icon-btn', 'aria-label': label, title: label, 'data-testid': testid, onclick }, '✕');
  const addBtn = (label, onclick, testid) => h('button', { type: 'button', class: 'btn small', 'data-testid': testid, onclick }, `+ ${label}`);

  // rerender rebuilds the form and puts focus back where it was (or on
  // the element named by focusTestid, e.g. a newly added row).
  const rerender = (focusTestid) => {
    const active = document.activeElement;
    const keep = focusTestid || (active && form.contains(active) ? active.getAttribute('data-testid') : null);
    renderForm();
    if (keep) {
      const el = form.querySelector(`[data-testid="${CSS.escape(keep)}"]`);
      if (el) el.focus();
    }
  };

  // ---------------------------------------------------------------- sections

  function kindPicker() {
    const spec = state.spec;
    return h('fieldset', { class: 'kind-picker' },
      h('legend', null, 'Insight type'),
      h('div', { class: 'kinds', role: 'group' }, KINDS.map(([k, label]) => h('button', {
        type: 'button',
        class: 'kind',
        'aria-pressed': String(spec.kind === k),
        'data-testid': `kind-${k}`,
        onclick: () => {
          if (state.spec.kind === k) return;
          state.spec = defaultSpec(k, state.spec, state.known);
          nameInput.placeholder = autoName(state.spec);
          rerender(`kind-${k}`);
        },
      }, label))));
  }

  function funnelSection(spec) {
    const steps = spec.steps;
    const m = /^(\d+)([smhdw])$/.exec(spec.window || '14d') || [null, '14', 'd'];
    let wn = m[1];
    let wu = m[2];
    const setWindow = () => { spec.window = `${wn}${wu}`; };
    const stepsBox = h('fieldset', null, h('legend', null, 'Steps'),
      h('ol', { class: 'rows steps' }, steps.map((s, i) => h('li', { class: 'step-item' },
        h('div', { class: 'row' },
          field(`Step ${i + 1}`, eventInput(s, { 'data-testid': `funnel-step-event-${i}` })),
          steps.length > 2 ? removeBtn(`Remove step ${i + 1}`, () => {
            steps.splice(i, 1);
            fixExclusions(spec, i + 1);
            rerender('funnel-add-step');
          }, `funnel-remove-step-${i}`) : null),
        subFilters(s, `funnel-step-${i}-`, () => s.event, `step ${i + 1}`)))),
      steps.length < 20 ? addBtn('Add step', () => {
        steps.push({ event: '' });
        fixExclusions(spec);
        rerender(`funnel-step-event-${steps.length - 1}`);
      }, 'funnel-add-step') : null,
      h('div', { class: 'inline' },
        field('Conversion window', numInput(wn, (v) => { wn = v || 1; setWindow(); }, { min: 1, 'data-testid': 'funnel-window-n' })),
        field('Unit', selectInput(WINDOW_UNITS, wu, (v) => { wu = v; setWindow(); }, { 'data-testid': 'funnel-window-unit' }))),
      field('Step order', selectInput([['ordered', 'In order (other events may happen between)'], ['strict', 'Strict order (nothing in between)'], ['unordered', 'Any order']],
        spec.order || 'ordered', (v) => {
          const wasUnordered = spec.order === 'unordered';
          spec.order = v;
          // Any-order funnels exclude over the whole funnel only.
          if (Array.isArray(spec.exclusions) && spec.exclusions.length && wasUnordered !== (v === 'unordered')) {
            fixExclusions(spec);
            rerender('funnel-order');
          }
        }, { 'data-testid': 'funnel-order' })));
    return [stepsBox, exclusionsSection(spec), overTimeSection(spec)];
  }

  // Exclusions: persons who did an event between two steps (1-based,
  // from_step < to_step) leave the funnel.
  function exclusionsSection(spec) {
    const steps = spec.steps;
    const n = steps.length;
    const list = Array.isArray(spec.exclusions) ? spec.exclusions : [];
    const unordered = spec.order === 'unordered';
    const stepLabel = (k) => `Step ${k}${steps[k - 1] && pickText(steps[k - 1], state.actions) ? `: ${pickText(steps[k - 1], state.actions)}` : ''}`;
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
      const fromSel = selectInput(stepOptions(1, n - 1), String(x.from_step ?? ''), (v) => {
        x.from_step = Number(v);
        if (!(x.to_step > x.from_step)) x.to_step = x.from_step + 1;
        rerender(`funnel-exclusion-from-${k}`);
      }, { 'data-testid': `funnel-exclusion-from-${k}`, disabled: unordered });
      const toSel = selectInput(stepOptions(Math.min(Math.max(from, 1) + 1, n), n), String(x.to_step ?? ''), (v) => { x.to_step = Number(v); },
        { 'data-testid': `funnel-exclusion-to-${k}`, disabled: unordered });
      freshLabels(fromSel);
      freshLabels(toSel);
      return h('li', { class: 'exclusion-item', 'data-testid': `funnel-exclusion-${k}` },
        h('div', { class: 'row' },
          field(`Exclusion ${k + 1}: persons who did`, eventInput(x, { 'data-testid': `funnel-exclusion-event-${k}` })),
          removeBtn(`Remove exclusion ${k + 1}`, () => {
            list.splice(k, 1);
            if (!list.length) delete spec.exclusions;
            rerender('funnel-add-exclusion');
          }, `funnel-exclusion-remove-${k}`)),
        h('div', { class: 'inline exclusion-steps' }, field('between', fromSel), field('and', toSel)),
        subFilters(x, `funnel-exclusion-${k}-`, () => x.event, `exclusion ${k + 1}`));
    });
    return h('fieldset', null, h('legend', null, 'Exclusions'),
      list.length
        ? h('ol', { class: 'rows' }, rows)
        : h('p', { class: 'muted hint' }, 'Leave out persons who did an event between two steps.'),
      unordered && list.length ? h('p', { class: 'muted hint' }, 'Any-order funnels exclude over the whole funnel.') : null,
      list.length < 10 ? addBtn('Exclude event', () => {
        spec.exclusions = list;
        list.push({ event: '', from_step: 1, to_step: n });
        rerender(`funnel-exclusion-event-${list.length - 1}`);
      }, 'funnel-add-exclusion') : null);
  }

  function overTimeSection(spec) {
    const on = !!spec.over_time;
    const interval = selectInput([['day', 'Day'], ['week', 'Week']], spec.over_time || 'day', (v) => { spec.over_time = v; },
      { 'data-testid': 'funnel-over-time-interval' });
    const intervalField = field('Interval', interval);
    intervalField.hidden = !on;
    const cb = h('input', { type: 'checkbox', checked: on, 'data-testid': 'funnel-over-time' });
    cb.addEventListener('change', () => {
      if (cb.checked) spec.over_time = interval.value || 'day';
      else delete spec.over_time;
      intervalField.hidden = !cb.checked;
    });
    return h('fieldset', null, h('legend', null, 'Conversion over time'),
      h('label', { class: 'check' }, cb, ' Conversion over time (by the day or week each attempt started)'),
      intervalField);
  }

  function trendSection(spec) {
    return h('fieldset', null, h('legend', null, 'Series'),
      h('ol', { class: 'rows' }, spec.series.map((s, i) => h('li', { class: 'row series-row' },
        h('span', { class: 'letter', 'aria-hidden': 'true' }, LETTERS[i]),
        field(`Series ${LETTERS[i]} event`, eventInput(s, { 'data-testid': `trend-series-event-${i}` })),
        field('Measure', selectInput(MATHS, s.math || 'total', (v) => {
          const needed = !COUNT_MATHS.has(v) !== !COUNT_MATHS.has(s.math || 'total');
          s.math = v;
          if (COUNT_MATHS.has(v)) delete s.property;
          if (needed) rerender(`trend-series-math-${i}`);
        }, { 'data-testid': `trend-series-math-${i}` })),
        COUNT_MATHS.has(s.math || 'total') ? null : field('Property', propInput(s.property, (v) => { s.property = v; }, { 'data-testid': `trend-series-property-${i}`, placeholder: 'price' })),
        spec.series.length > 1 ? removeBtn(`Remove series ${LETTERS[i]}`, () => { spec.series.splice(i, 1); rerender('trend-add-series'); }, `trend-remove-series-${i}`) : null,
        subFilters(s, `trend-series-${i}-`, () => s.event, `series ${LETTERS[i]}`)))),
      spec.series.length < 20 ? addBtn('Add series', () => { spec.series.push({ event: '', math: 'total' }); rerender(`trend-series-event-${spec.series.length - 1}`); }, 'trend-add-series') : null,
      h('div', { class: 'inline' },
        field('Interval', selectInput([['hour', 'Hour'], ...INTERVALS3], spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'trend-interval' })),
        field('Formula', (() => {
          const el = h('input', { type: 'text', value: spec.formula || '', placeholder: 'e.g. B/A*100', 'data-testid': 'trend-formula', spellcheck: 'false' });
          el.addEventListener('input', () => { if (el.value.trim()) spec.formula = el.value.trim(); else delete spec.formula; });
          return el;
        })(), 'Combine series by letter')),
      h('label', { class: 'check' }, (() => {
        const el = h('input', { type: 'checkbox', checked: !!spec.compare, 'data-testid': 'trend-compare' });
        el.addEventListener('change', () => { if (el.checked) spec.compare = true; else delete spec.compare; });
        return el;
      })(), ' Compare with the previous period'));
  }

  function retentionSection(spec) {
    return h('fieldset', null, h('legend', null, 'Retention'),
      field('Cohort: persons who did', eventInput(spec.start, { 'data-testid': 'retention-start' })),
      field('Came back and did', eventInput(spec.return, { 'data-testid': 'retention-return' })),
      h('div', { class: 'inline' },
        field('Period', selectInput(INTERVALS3, spec.period || 'day', (v) => { spec.period = v; }, { 'data-testid': 'retention-period' })),
        field('Periods', numInput(spec.periods ?? 8, (v) => { spec.periods = v; }, { min: 1, max: 52, 'data-testid': 'retention-periods' }))),
      field('Cohorts', selectInput([['first_time', 'First time: by each person’s first start event'], ['recurring', 'Recurring: every period they did it']],
        spec.mode || 'first_time', (v) => { spec.mode = v; }, { 'data-testid': 'retention-mode' })));
  }

  function matchList(list, legend, prefix, min, emptyHint) {
    return h('fieldset', null, h('legend', null, legend),
      emptyHint && list.length === 0 ? h('p', { class: 'muted hint' }, emptyHint) : null,
      h('ol', { class: 'rows' }, list.map((s, i) => h('li', { class: 'row' },
        field(`Event ${i + 1}`, eventInput(s, { 'data-testid': `${prefix}-event-${i}` })),
        list.length > min ? removeBtn(`Remove event ${i + 1}`, () => { list.splice(i, 1); rerender(`${prefix}-add`); }, `${prefix}-remove-${i}`) : null))),
      list.length < 20 ? addBtn('Add event', () => { list.push({ event: '' }); rerender(`${prefix}-event-${list.length - 1}`); }, `${prefix}-add`) : null);
  }

  function stickinessSection(spec) {
    return [matchList(spec.series, 'Series', 'stickiness-series', 1),
      field('Interval', selectInput(INTERVALS3, spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'stickiness-interval' }))];
  }

  function lifecycleSection(spec) {
    return h('fieldset', null, h('legend', null, 'Lifecycle'),
      field('Event', eventInput(spec, { 'data-testid': 'lifecycle-event' })),
      field('Interval', selectInput(INTERVALS3, spec.interval || 'day', (v) => { spec.interval = v; }, { 'data-testid': 'lifecycle-interval' })));
  }

  function pathsSection(spec) {
    const dir = spec.start ? 'start' : spec.end ? 'end' : 'first';
    const point = spec.start || spec.end || { event: '' };
    return h('fieldset', null, h('legend', null, 'Paths'),
      field('Direction', selectInput([['start', 'Paths after an event'], ['end', 'Paths leading to an event'], ['first', 'From each person’s first event']], dir, (v) => {
        const ev = (spec.start || spec.end || {}).event || state.known[0] || '$pageview';
        delete spec.start;
        delete spec.end;
        if (v === 'start') spec.start = { event: ev };
        if (v === 'end') spec.end = { event: ev };
        rerender('paths-direction');
      }, { 'data-testid': 'paths-direction' })),
      dir === 'first' ? null : field(dir === 'start' ? 'Start event' : 'End event', plainEventInput(point.event, (v) => { point.event = v; }, { 'data-testid': 'paths-event' })),
      field('Steps', numInput(spec.steps ?? 5, (v) => { spec.steps = v; }, { min: 2, max: 10, 'data-testid': 'paths-steps' })),
      field('Only these events (comma separated, optional)', (() => {
        const el = h('input', { type: 'text', value: (spec.events || []).join(', '), 'data-testid': 'paths-events', spellcheck: 'false' });
        el.addEventListener('input', () => {
          const list = el.value.split(',').map((x) => x.trim()).filter(Boolean);
          if (list.length) spec.events = list; else delete spec.events;
        });
        return el;
      })()));
  }

  function conditions(set, legend, prefix, min) {
    const list = set.conditions;
    return h('fieldset', null, h('legend', null, legend),
      h('ol', { class: 'rows' }, list.map((c, i) => h('li', { class: 'row wrap' },
        field('Did', selectInput([['true', 'did'], ['false', 'did not do']], c.did === false ? 'false' : 'true', (v) => {
          if (v === 'false') { c.did = false; delete c.first_time; } else delete c.did;
          rerender(`${prefix}-did-${i}`);
        }, { 'data-testid': `${prefix}-did-${i}` })),
        field('Event', eventInput(c, { 'data-testid': `${prefix}-event-${i}` })),
        c.did === false ? null : h('label', { class: 'check' }, (() => {
          const el = h('input', { type: 'checkbox', checked: !!c.first_time, 'data-testid': `${prefix}-first-${i}` });
          el.addEventListener('change', () => { if (el.checked) c.first_time = true; else delete c.first_time; });
          return el;
        })(), ' for the first time in the period'),
        list.length > min ? removeBtn(`Remove condition ${i + 1}`, () => { list.splice(i, 1); rerender(`${prefix}-add`); }, `${prefix}-remove-${i}`) : null))),
      list.length < 10 ? addBtn('Add condition', () => { list.push({ event: '' }); rerender(`${prefix}-event-${list.length - 1}`); }, `${prefix}-add`) : null);
  }

  function kpiSection(spec) {
    spec.numerator = spec.numerator || { conditions: [] };
    spec.denominator = spec.denominator || { conditions: [] };
    return [
      conditions(spec.denominator, 'Denominator: persons who…', 'kpi-den', 1),
      conditions(spec.numerator, 'Numerator: of those, persons who also…', 'kpi-num', 0),
      field('Interval', selectInput(INTERVALS3, spec.interval || 'month', (v) => { spec.interval = v; }, { 'data-testid': 'kpi-interval' })),
    ];
  }

  function badDaysSection(spec) {
    spec.active = spec.active || [];
    return [
      matchList(spec.bad, 'Bad events', 'bad', 1),
      matchList(spec.active, 'Active events (none: any event makes a day active)', 'active', 0),
      field('Top persons to list', numInput(spec.top ?? 10, (v) => { spec.top = v; }, { min: 1, max: 1000, 'data-testid': 'bad-top' })),
    ];
  }

  function journeySection(spec) {
    const err = h('p', { class: 'error', role: 'alert', hidden: true });
    const ta = h('textarea', { rows: 6, spellcheck: 'false', 'data-testid': 'journey-stages', placeholder: 'Empty: the project’s stages (Settings)' });
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

  function rangeSection(spec) {
    const preset = presetOf(spec);
    const fromIn = h('input', { type: 'date', value: localDate(spec.from), 'data-testid': 'range-from' });
    const toIn = h('input', { type: 'date', value: spec.to ? localDate(new Date(Date.parse(spec.to) - 1).toISOString()) : '', 'data-testid': 'range-to' });
    const custom = h('div', { class: 'inline', hidden: !!preset }, field('From', fromIn), field('To (inclusive)', toIn));
    const setCustom = () => {
      if (fromIn.value) spec.from = fromLocalDate(fromIn.value);
      if (toIn.value) spec.to = fromLocalDate(toIn.value, 1);
    };
    fromIn.addEventListener('change', setCustom);
    toIn.addEventListener('change', setCustom);
    const presetSel = selectInput([...PRESETS, ['custom', 'Custom dates']], preset || 'custom', (v) => {
      if (v === 'custom') {
        custom.hidden = false;
        fromIn.focus();
        return;
      }
      Object.assign(spec, presetRange(v));
      fromIn.value = localDate(spec.from);
      toIn.value = localDate(new Date(Date.parse(spec.to) - 1).toISOString());
      custom.hidden = true;
    }, { 'data-testid': 'range-preset' });
    return h('fieldset', null, h('legend', null, 'Date range'), field('Range', presetSel), custom);
  }

  function filterValueText(f) {
    if (Array.isArray(f.value)) return f.value.join(', ');
    return f.value == null ? '' : String(f.value);
  }

  function parseFilterValue(op, text) {
    if (op === 'in') return text.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if ((op === 'gt' || op === 'lt') && text.trim() !== '' && !Number.isNaN(Number(text))) return Number(text);
    return text;
  }

  // Property suggestions: the project's event properties (dlProps), an
  // event's own (loaded once per event name) or person properties.
  const propLists = new Map();
  function propList(type, event) {
    if (type !== 'person' && !event) return dlProps;
    const key = type === 'person' ? 'person' : `event:${event}`;
    let dl = propLists.get(key);
    if (!dl) {
      dl = datalist(uid('dl-props'), []);
      dlHost.append(dl);
      propLists.set(key, dl);
      get(P(pid, `/properties${qs(type === 'person' ? { type: 'person' } : { event })}`), { signal: scope.signal }).then((props) => {
        clear(dl, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} ${type === 'person' ? 'persons' : 'events'}` })));
      }).catch(() => {});
    }
    return dl;
  }

  // filterRows edits holder.filters: the query's own filters (prefix '')
  // or those of a funnel step, a trend series or an exclusion (prefix
  // 'funnel-step-0-'…; eventOf names that event, for suggestions). Test
  // ids: `${prefix}filter-{type,property,op,value,remove}-${j}`.
  function filterRows(holder, prefix, eventOf) {
    const list = Array.isArray(holder.filters) ? holder.filters : [];
    const tid = (part, j) => `${prefix}filter-${part}-${j}`;
    const remove = (j) => removeBtn(`Remove filter ${j + 1}`, () => {
      list.splice(j, 1);
      if (!list.length) delete holder.filters;
      rerender(`${prefix}add-filter`);
    }, tid('remove', j));
    return list.map((f, j) => {
      if (f && f.type === 'cohort') {
        // Cohort filters come from the API or older saves: kept as they are.
        const what = f.cohort ? 'a cohort defined in the query' : `cohort ${f.value}`;
        return h('li', { class: 'row wrap' },
          h('p', { class: 'cohort-filter', 'data-testid': tid('cohort', j) }, `${f.op === 'not_in' ? 'Not in' : 'In'} ${what}`),
          remove(j));
      }
      const eventNow = () => (eventOf ? eventOf() : '');
      const dl = datalist(uid('dl-values'), []);
      const valueIn = h('input', { type: 'text', list: dl.id, value: filterValueText(f), autocomplete: 'off', 'data-testid': tid('value', j),
        placeholder: f.op === 'in' ? 'a, b, c' : '' });
      valueIn.addEventListener('input', () => { f.value = parseFilterValue(f.op, valueIn.value); });
      let timer = 0;
      let loaded = null;
      const loadValues = (now) => {
        clearTimeout(timer);
        if (!f.property || f.type === 'person') return;
        const ev = eventNow();
        const key = `${f.property}\n${ev}`;
        if (key === loaded) return;
        timer = setTimeout(() => {
          loaded = key;
          get(P(pid, `/property-values${qs({ property: f.property, event: ev })}`), { signal: scope.signal })
            .then((vals) => clear(dl, (vals || []).map((v) => h('option', { value: v.value, label: `${fmtNum(v.count)} events` }))))
            .catch(() => { loaded = null; });
        }, now ? 0 : 250);
      };
      valueIn.addEventListener('focus', () => loadValues(true));
      const propIn = propInput(f.property, (v) => { f.property = v; loadValues(); }, { 'data-testid': tid('property', j) });
      const setPropList = () => propIn.setAttribute('list', propList(f.type, eventNow()).id);
      setPropList();
      propIn.addEventListener('focus', setPropList); // the step's event may have changed
      const valueField = field('Value', valueIn);
      valueField.hidden = f.op === 'is_set';
      const row = h('li', { class: 'row wrap' },
        dl,
        field('Whose', selectInput([['event', 'Event property'], ['person', 'Person property']], f.type || 'event', (v) => {
          if (v === 'event') delete f.type; else f.type = v;
          setPropList();
          loaded = null;
          clear(dl);
          loadValues();
        }, { 'data-testid': tid('type', j) })),
        field('Property', propIn),
        field('Operator', selectInput(OPS, f.op || 'eq', (v) => {
          f.op = v;
          valueField.hidden = v === 'is_set';
          if (v === 'is_set') delete f.value;
          else f.value = parseFilterValue(v, valueIn.value);
          valueIn.placeholder = v === 'in' ? 'a, b, c' : '';
        }, { 'data-testid': tid('op', j) })),
        valueField,
        remove(j));
      loadValues();
      return row;
    });
  }

  const newFilter = (holder, prefix) => {
    const list = Array.isArray(holder.filters) ? holder.filters : [];
    holder.filters = list;
    list.push({ property: '', op: 'eq', value: '' });
    rerender(`${prefix}filter-property-${list.length - 1}`);
  };

  // subFilters: the filters of one step, series or exclusion, under it.
  function subFilters(holder, prefix, eventOf, what) {
    const rows = filterRows(holder, prefix, eventOf);
    return h('div', { class: 'sub-filters' },
      rows.length ? h('ol', { class: 'rows', 'aria-label': `Filters of ${what}` }, rows) : null,
      h('button', {
        type: 'button', class: 'btn small subtle', 'data-testid': `${prefix}add-filter`,
        'aria-label': `Add a filter to ${what}`, onclick: () => newFilter(holder, prefix),
      }, rows.length ? '+ Another filter' : '+ Filter'));
  }

  function filtersSection(spec) {
    const rows = filterRows(spec, '', null);
    return h('fieldset', null, h('legend', null, 'Filters'),
      rows.length ? h('ol', { class: 'rows' }, rows) : h('p', { class: 'muted hint' }, 'No filters: every matching event counts.'),
      addBtn('Add filter', () => newFilter(spec, ''), 'add-filter'));
  }

  // unitSection: what is counted, persons (the default) or the accounts
  // of a group type ("unit": "group:<type>").
  function unitSection(spec) {
    if (!KINDS.some(([k]) => k === spec.kind)) return null;
    const isGroup = typeof spec.unit === 'string' && spec.unit.startsWith('group:');
    const typeIn = h('input', { type: 'text', value: isGroup ? spec.unit.slice(6) : 'company', autocomplete: 'off', spellcheck: 'false', placeholder: 'company', 'data-testid': 'unit-group-type' });
    const typeField = field('Group type', typeIn, 'Accounts are the groups sent with $groupidentify (e.g. company).');
    typeField.hidden = !isGroup;
    const groupLabel = () => `Count accounts (group type ${typeIn.value.trim() || '…'})`;
    const sel = selectInput([['person', 'Count persons'], ['group', groupLabel()]], isGroup ? 'group' : 'person', (v) => {
      typeField.hidden = v !== 'group';
      if (v === 'group') {
        if (!typeIn.value.trim()) typeIn.value = 'company';
        spec.unit = `group:${typeIn.value.trim()}`;
        sel.options[1].textContent = groupLabel();
      } else {
        delete spec.unit;
      }
    }, { 'data-testid': 'unit' });
    typeIn.addEventListener('input', () => {
      sel.options[1].textContent = groupLabel();
      if (sel.value === 'group') spec.unit = `group:${typeIn.value.trim()}`;
    });
    return h('fieldset', null, h('legend', null, 'Counting'), field('What to count', sel), typeField);
  }

  function breakdownSection(spec) {
    if (!BREAKDOWN_KINDS.has(spec.kind)) return null;
    const b = spec.breakdown || {};
    const set = (prop, type) => {
      if (!prop) { delete spec.breakdown; return; }
      spec.breakdown = { property: prop };
      if (type && type !== 'event') spec.breakdown.type = type;
    };
    let prop = b.property || '';
    let type = b.type || 'event';
    return h('fieldset', null, h('legend', null, 'Breakdown'),
      h('div', { class: 'inline' },
        field('Property', propInput(prop, (v) => { prop = v; set(prop, type); }, { 'data-testid': 'breakdown-property', placeholder: spec.kind === 'journey' ? 'utm_source' : 'none' })),
        field('Whose', selectInput([['event', 'Event'], ['person', 'Person']], type, (v) => { type = v; set(prop, type); }, { 'data-testid': 'breakdown-type' }))));
  }

  function kindSection(spec) {
    switch (spec.kind) {
      case 'funnel': return funnelSection(spec);
      case 'trend': return trendSection(spec);
      case 'retention': return retentionSection(spec);
      case 'stickiness': return stickinessSection(spec);
      case 'lifecycle': return lifecycleSection(spec);
      case 'paths': return pathsSection(spec);
      case 'kpi': return kpiSection(spec);
      case 'bad_days': return badDaysSection(spec);
      case 'journey': return journeySection(spec);
      default: return h('p', { class: 'muted' }, `The builder has no form for “${spec.kind}”; it runs as saved.`);
    }
  }

  function renderForm() {
    const spec = state.spec;
    clear(form,
      kindPicker(),
      kindSection(spec),
      rangeSection(spec),
      unitSection(spec),
      filtersSection(spec),
      breakdownSection(spec),
      h('div', { class: 'form-actions run-bar' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'run-insight' }, 'Run'),
        formError));
  }

  // ---------------------------------------------------------------- run

  // markInvalid flags the control of the field a 400 names (the message
  // itself is in formError, next to Run).
  function markInvalid(err, kind) {
    const m = /invalid field "([^"]+)"/.exec((err && err.message) || '');
    const testid = m && fieldTestid(m[1], kind);
    const find = (t) => form.querySelector(`[data-testid="${CSS.escape(t)}"]`);
    // A cohort filter's row has no inputs: flag the row.
    const el = testid && (find(testid) || find(testid.replace(/filter-(?:property|op|value|type)-(\d+)$/, 'filter-cohort-$1')));
    if (!el) return;
    if (!formError.id) formError.id = uid('builder-error');
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', formError.id);
    const clearMark = () => { el.removeAttribute('aria-invalid'); el.removeAttribute('aria-describedby'); };
    el.addEventListener('input', clearMark, { once: true });
    el.addEventListener('change', clearMark, { once: true });
  }

  async function run() {
    setError(formError, null);
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
    }
    if (state.runCtrl) state.runCtrl.abort();
    const ctrl = new AbortController();
    state.runCtrl = ctrl;
    const spec = clone(state.spec);
    const runBtn = form.querySelector('[data-testid="run-insight"]');
    runBtn.disabled = true;
    resultHost.dataset.state = 'loading';
    resultHost.setAttribute('aria-busy', 'true');
    clear(resultHost, loading('Running…'));
    clear(personsHost);
    try {
      const res = await post(P(pid, '/query'), spec, { signal: AbortSignal.any([scope.signal, ctrl.signal]) });
      if (state.resultScope) state.resultScope.dispose();
      state.resultScope = new Scope();
      state.ran = spec;
      if (!state.id) ctx.replace(insightURL(pid, spec));
      nameInput.placeholder = autoName(spec);
      await renderResult(resultHost, spec, res, {
        scope: state.resultScope,
        onPersons: spec.kind === 'funnel' && !spec.breakdown ? (param) => showPersons(param, 0) : null,
        personHref: (id) => `#/p/${pid}/persons/${encodeURIComponent(id)}`,
        filename: `${(state.name || autoName(spec)).replace(/[^\w.-]+/g, '_').slice(0, 60)}.csv`,
      });
      resultHost.dataset.state = 'done';
      // On one-column layouts the result is below the form: bring it up.
      if (window.matchMedia('(max-width: 1000px)').matches) resultHost.scrollIntoView({ block: 'start' });
    } catch (err) {
      if (isAbort(err)) return;
      resultHost.dataset.state = 'error';
      clear(resultHost, h('p', { class: 'muted' }, 'The insight could not run:'), errorBox(err));
      setError(formError, err);
      markInvalid(err, spec.kind);
    } finally {
      if (state.runCtrl === ctrl) {
        runBtn.disabled = false;
        resultHost.removeAttribute('aria-busy');
      }
    }
  }

  // ---------------------------------------------------------------- persons

  const PAGE = 50;
  async function showPersons(param, offset) {
    const spec = state.ran;
    const [mode, nStr] = param.split(':');
    const n = Number(nStr);
    const stepName = (i) => (spec.steps[i - 1] ? spec.steps[i - 1].label || spec.steps[i - 1].event : `step ${i}`);
    // With unit group:<type> the list holds group keys, not person ids.
    const groups = typeof spec.unit === 'string' && spec.unit.startsWith('group:');
    const who = groups ? `Accounts (${spec.unit.slice(6)})` : 'Persons';
    const title = mode === 'dropped'
      ? `${who} who reached step ${n} (${stepName(n)}) but not step ${n + 1} (${stepName(n + 1)})`
      : `${who} who reached step ${n} (${stepName(n)})`;
    const heading = h('h2', { tabindex: '-1' }, title);
    const panel = h('section', { class: 'card persons-panel', 'data-testid': 'persons-panel', 'data-state': 'loading', 'aria-label': 'Persons' },
      h('div', { class: 'panel-head' }, heading,
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close the persons list', 'data-testid': 'persons-close', onclick: () => clear(personsHost) }, '✕')),
      loading('Loading persons…'));
    clear(personsHost, panel);
    heading.focus();
    try {
      const res = await post(P(pid, '/query'), { ...spec, persons: param, limit: PAGE, offset }, { signal: scope.signal });
      const list = (res.persons && res.persons.ids) || [];
      const total = res.persons ? res.persons.total : 0;
      const more = res.persons && res.persons.has_more;
      panel.lastChild.remove();
      panel.append(
        h('p', { class: 'muted', 'data-testid': 'persons-total' }, list.length
          ? `${fmtNum(offset + 1)}–${fmtNum(offset + list.length)} of ${fmtNum(total)}`
          : 'Nobody.'),
        h('ul', { class: 'person-ids', 'data-testid': 'persons-list' }, list.map((id) => h('li', null, groups
          ? h('span', { 'data-testid': 'group-key' }, String(id))
          : h('a', { href: `#/p/${pid}/persons/${encodeURIComponent(id)}`, 'data-testid': 'person-link' }, String(id))))),
        h('div', { class: 'pager' },
          h('button', { type: 'button', class: 'btn small', disabled: offset === 0, 'data-testid': 'persons-prev', onclick: () => showPersons(param, Math.max(0, offset - PAGE)) }, '← Previous'),
          h('button', { type: 'button', class: 'btn small', disabled: !more, 'data-testid': 'persons-next', onclick: () => showPersons(param, offset + PAGE) }, 'Next →')));
      panel.dataset.state = 'done';
    } catch (err) {
      if (isAbort(err)) return;
      panel.lastChild.remove();
      panel.append(errorBox(err));
      panel.dataset.state = 'error';
    }
  }

  // ---------------------------------------------------------------- save

  // save stores the insight (PUT when it is a saved one, unless asNew)
  // and returns its id.
  async function save(asNew = false) {
    setError(saveError, null);
    saveStatus.textContent = 'Saving…';
    const name = nameInput.value.trim() || autoName(state.spec);
    try {
      let ins;
      if (state.id && !asNew) {
        ins = await put(P(pid, `/insights/${state.id}`), { name, spec: state.spec });
      } else {
        ins = await post(P(pid, '/insights'), { name, spec: state.spec });
        state.id = String(ins.id);
        ctx.replace(`#/p/${pid}/insight/${ins.id}`);
      }
      state.name = name;
      nameInput.value = name;
      saveStatus.textContent = 'Saved.';
      return state.id;
    } catch (err) {
      if (isAbort(err)) return null;
      saveStatus.textContent = '';
      setError(saveError, err);
      return null;
    }
  }

  async function openDashPanel() {
    dashPanel.hidden = false;
    clear(dashPanel, loading('Loading dashboards…'));
    let dashboards = [];
    try {
      dashboards = await get(P(pid, '/dashboards'), { signal: scope.signal }) || [];
    } catch (err) {
      if (isAbort(err)) return;
      clear(dashPanel, errorBox(err));
      return;
    }
    const choice = select([...dashboards.map((d) => [String(d.id), d.name]), ['new', 'New dashboard…']], dashboards.length ? String(dashboards[0].id) : 'new', { 'data-testid': 'dashboard-choice' });
    const newName = h('input', { type: 'text', 'data-testid': 'new-dashboard-name', placeholder: 'Dashboard name', value: '' });
    const newField = field('New dashboard name', newName);
    newField.hidden = choice.value !== 'new';
    choice.addEventListener('change', () => { newField.hidden = choice.value !== 'new'; if (!newField.hidden) newName.focus(); });
    const err = errorBox();
    const done = h('p', { class: 'ok', role: 'status' });
    const addForm = h('form', { class: 'card inline-form', 'data-testid': 'add-to-dashboard-form' },
      h('h2', null, 'Add to dashboard'),
      field('Dashboard', choice),
      newField,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'add-to-dashboard-confirm' }, 'Add'),
        h('button', { type: 'button', class: 'btn', onclick: () => { dashPanel.hidden = true; } }, 'Cancel')),
      err, done);
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      if (choice.value === 'new' && !newName.value.trim()) {
        setError(err, 'Give the new dashboard a name.');
        newName.focus();
        return;
      }
      const id = await save();
      if (!id) return;
      try {
        let dashId;
        const tile = { insight_id: Number(id), width: 1 };
        if (choice.value === 'new') {
          // range "": tiles keep their insight's own dates.
          const d = await post(P(pid, '/dashboards'), { name: newName.value.trim(), range: '', refresh_seconds: 0, tiles: [tile] });
          dashId = d.id;
        } else {
          dashId = choice.value;
          const d = await get(P(pid, `/dashboards/${dashId}`), { signal: scope.signal });
          const tiles = (d.tiles || []).map((t) => ({ insight_id: t.insight_id, width: t.width || 1 }));
          if (!tiles.some((t) => String(t.insight_id) === String(id))) tiles.push(tile);
          await put(P(pid, `/dashboards/${dashId}`), { name: d.name, range: d.range || '', refresh_seconds: d.refresh_seconds || 0, tiles });
        }
        clear(done, 'Added. ', h('a', { href: `#/p/${pid}/dashboards/${dashId}`, 'data-testid': 'open-dashboard' }, 'Open the dashboard'));
      } catch (e2) {
        if (!isAbort(e2)) setError(err, e2);
      }
    });
    clear(dashPanel, addForm);
    choice.focus();
  }

  renderForm();
  if (autoRun) run();
}

// fixExclusions keeps exclusion steps valid after the steps changed
// (removed: the 1-based step taken out, 0 for none): 1 <= from_step <
// to_step <= steps, and the whole funnel for any-order funnels.
function fixExclusions(spec, removed = 0) {
  if (!Array.isArray(spec.exclusions)) return;
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
}

// fieldTestid names the form control of a field a 400 names (API errors
// read `invalid field "steps[0].filters[1].value": …`), or null.
export function fieldTestid(path, kind = '') {
  const filter = (prefix, rest) => {
    const m = /^filters\[(\d+)\]\.(property|op|value|type)$/.exec(rest);
    return m ? `${prefix}filter-${m[2] === 'type' ? 'type' : m[2]}-${m[1]}` : null;
  };
  let m;
  if ((m = /^steps\[(\d+)\]\.(.+)$/.exec(path))) {
    return m[2] === 'event' ? `funnel-step-event-${m[1]}` : filter(`funnel-step-${m[1]}-`, m[2]);
  }
  if ((m = /^exclusions\[(\d+)\]\.(.+)$/.exec(path))) {
    if (m[2] === 'event') return `funnel-exclusion-event-${m[1]}`;
    if (m[2] === 'from_step') return `funnel-exclusion-from-${m[1]}`;
    if (m[2] === 'to_step') return `funnel-exclusion-to-${m[1]}`;
    return filter(`funnel-exclusion-${m[1]}-`, m[2]);
  }
  if ((m = /^series\[(\d+)\]\.(.+)$/.exec(path))) {
    if (m[2] === 'event' || m[2] === 'math' || m[2] === 'property') return `trend-series-${m[2]}-${m[1]}`;
    return filter(`trend-series-${m[1]}-`, m[2]);
  }
  if (path.startsWith('filters[')) return filter('', path);
  switch (path) {
    case 'unit': return 'unit-group-type';
    case 'over_time': return 'funnel-over-time-interval';
    case 'window': return 'funnel-window-n';
    case 'order': return 'funnel-order';
    case 'formula': return 'trend-formula';
    case 'interval': return ['trend', 'stickiness', 'lifecycle', 'kpi'].includes(kind) ? `${kind}-interval` : null;
    case 'from': return 'range-preset';
    case 'to': return 'range-preset';
    case 'breakdown.property': return 'breakdown-property';
    default: return null;
  }
}

// normalize gives a spec from elsewhere (a URL, an old save) the lists the
// form edits, so a missing one does not break the page.
function normalize(spec) {
  if (!spec.kind) spec.kind = 'trend';
  const ev = () => ({ event: '' });
  switch (spec.kind) {
    case 'funnel': if (!Array.isArray(spec.steps) || !spec.steps.length) spec.steps = [ev(), ev()]; break;
    case 'trend': if (!Array.isArray(spec.series) || !spec.series.length) spec.series = [{ event: '', math: 'total' }]; break;
    case 'stickiness': if (!Array.isArray(spec.series) || !spec.series.length) spec.series = [ev()]; break;
    case 'retention': spec.start = spec.start || ev(); spec.return = spec.return || ev(); break;
    case 'bad_days': if (!Array.isArray(spec.bad) || !spec.bad.length) spec.bad = [ev()]; break;
    case 'kpi':
      spec.denominator = spec.denominator || { conditions: [ev()] };
      spec.numerator = spec.numerator || { conditions: [] };
      spec.denominator.conditions = spec.denominator.conditions || [];
      spec.numerator.conditions = spec.numerator.conditions || [];
      break;
    default:
  }
  if (spec.filters && !Array.isArray(spec.filters)) delete spec.filters;
  return spec;
}
