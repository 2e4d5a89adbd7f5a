// The insight form's context (fx): the controls every kind's form is built
// from, the filter rows, and the sections all kinds share (date range,
// counting unit, filters, breakdown). A kind's form(fx, spec) gets it
// instead of reaching into the builder's state.
//
// Every control writes into the spec as the user types (the spec is the
// single source of truth) and carries data-field: the spec paths it edits,
// space separated ("steps[1].event steps[1].action …"), built from the
// same index variables as the control. A 400 names a path (err.field) and
// markField (below) finds its control by it. Structural changes (a row
// added or removed) call fx.rerender(focusTestid), which rebuilds the form.

import { h, clear, field, select, datalist, fmtNum, uid } from './dom.js';
import { get, P, qs } from './api.js';
import { PRESETS, presetRange, presetOf, localDate, fromLocalDate, pickText, applyPick } from './spec.js';

const OPS = [['eq', 'equals'], ['neq', 'does not equal'], ['contains', 'contains'], ['gt', 'greater than'], ['lt', 'less than'], ['is_set', 'is set'], ['in', 'is one of']];

// at joins a spec path and a key: at('steps[1]', 'event') → 'steps[1].event',
// at('', 'filters') → 'filters'.
export const at = (path, key) => (path ? `${path}.${key}` : key);

// placeFields are the fields an event picker edits at place path: the
// event, or the action (either spelling).
export const placeFields = (path) => ['event', 'action', 'action_id'].map((k) => at(path, k)).join(' ');

// fieldPrefixes lists where to look for the control of a path, best
// first: the path, then each enclosing one ('steps[1].filters[0].value' →
// …, 'steps[1].filters[0]', 'steps[1].filters', 'steps[1]', 'steps').
export function fieldPrefixes(path) {
  const out = [];
  let p = typeof path === 'string' ? path : '';
  while (p) {
    out.push(p);
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
  return out;
}

// markField flags the controls under root that edit path (or, when none
// does, the nearest enclosing element of a prefix: a cohort filter's row
// for its value), pointing them at the message in describedBy. It returns
// the flagged elements; editing one clears its flag.
export function markField(root, path, describedBy) {
  for (const p of fieldPrefixes(path)) {
    const els = [...root.querySelectorAll(`[data-field~="${CSS.escape(p)}"]`)];
    if (!els.length) continue;
    if (!describedBy.id) describedBy.id = uid('field-error');
    for (const el of els) {
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', describedBy.id);
      const clearMark = () => { el.removeAttribute('aria-invalid'); el.removeAttribute('aria-describedby'); };
      el.addEventListener('input', clearMark, { once: true });
      el.addEventListener('change', clearMark, { once: true });
    }
    return els;
  }
  return [];
}

// clearMarks removes every flag markField set under root.
export function clearMarks(root) {
  for (const el of root.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-describedby');
  }
}

// filterValueText shows a filter's value in its text input.
export function filterValueText(f) {
  if (Array.isArray(f.value)) return f.value.join(', ');
  return f.value == null ? '' : String(f.value);
}

// parseFilterValue reads the text input back: a list for "in", a number
// for gt/lt when it is one.
export function parseFilterValue(op, text) {
  if (op === 'in') return text.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if ((op === 'gt' || op === 'lt') && text.trim() !== '' && !Number.isNaN(Number(text))) return Number(text);
  return text;
}

// formContext builds fx for one builder page. opts: pid, scope (its
// requests die with the page), known (event names, most frequent first),
// actions (the project's), lists {events, props, host} (the page's
// datalists and where to add per-event ones), rerender(focusTestid).
export function formContext({ pid, scope, known = [], actions = [], lists, rerender }) {
  const fx = { pid, known, actions, rerender };
  const withField = (path, attrs) => (path ? { 'data-field': path, ...attrs } : attrs);

  fx.pickText = (x) => pickText(x, actions);

  // plainEventInput edits an event name only (paths' start and end).
  fx.plainEventInput = (path, value, set, attrs = {}) => {
    const el = h('input', withField(path, { type: 'text', list: lists.events.id, value: value || '', autocomplete: 'off', spellcheck: 'false', required: true, ...attrs }));
    el.addEventListener('input', () => set(el.value.trim()));
    return el;
  };
  // eventInput edits the event or action (see applyPick) of the place x
  // at spec path path ('' for the spec itself).
  fx.eventInput = (path, x, attrs = {}) => {
    const el = fx.plainEventInput('', pickText(x, actions), (v) => applyPick(x, v), attrs);
    el.setAttribute('data-field', placeFields(path));
    return el;
  };
  fx.propInput = (path, value, set, attrs = {}) => {
    const el = h('input', withField(path, { type: 'text', list: lists.props.id, value: value || '', autocomplete: 'off', spellcheck: 'false', ...attrs }));
    el.addEventListener('input', () => set(el.value.trim()));
    return el;
  };
  fx.textInput = (path, value, set, attrs = {}) => {
    const el = h('input', withField(path, { type: 'text', value: value || '', spellcheck: 'false', ...attrs }));
    el.addEventListener('input', () => set(el.value.trim()));
    return el;
  };
  fx.numInput = (path, value, set, attrs = {}) => {
    const el = h('input', withField(path, { type: 'number', value: value ?? '', inputmode: 'numeric', ...attrs }));
    el.addEventListener('input', () => set(el.value === '' ? undefined : Number(el.value)));
    return el;
  };
  fx.selectInput = (path, options, value, set, attrs = {}) => {
    const el = select(options, value, withField(path, attrs));
    el.addEventListener('change', () => set(el.value));
    return el;
  };
  fx.checkbox = (path, checked, set, attrs = {}) => {
    const el = h('input', withField(path, { type: 'checkbox', checked: !!checked, ...attrs }));
    el.addEventListener('change', () => set(el.checked));
    return el;
  };
  fx.removeBtn = (label, onclick, testid) => h('button', { type: 'button', class: 'icon-btn', 'aria-label': label, title: label, 'data-testid': testid, onclick }, '✕');
  fx.addBtn = (label, onclick, testid) => h('button', { type: 'button', class: 'btn small', 'data-testid': testid, onclick }, `+ ${label}`);

  // eventList edits a list of event places at path (stickiness series,
  // bad days' bad and active events); min rows stay.
  fx.eventList = (list, path, legend, testPrefix, min, emptyHint) => h('fieldset', { 'data-field': path }, h('legend', null, legend),
    emptyHint && list.length === 0 ? h('p', { class: 'muted hint' }, emptyHint) : null,
    h('ol', { class: 'rows' }, list.map((s, i) => h('li', { class: 'row', 'data-field': `${path}[${i}]` },
      field(`Event ${i + 1}`, fx.eventInput(`${path}[${i}]`, s, { 'data-testid': `${testPrefix}-event-${i}` })),
      list.length > min ? fx.removeBtn(`Remove event ${i + 1}`, () => { list.splice(i, 1); rerender(`${testPrefix}-add`); }, `${testPrefix}-remove-${i}`) : null))),
    list.length < 20 ? fx.addBtn('Add event', () => { list.push({ event: '' }); rerender(`${testPrefix}-event-${list.length - 1}`); }, `${testPrefix}-add`) : null);

  // Property suggestions: the project's event properties (lists.props), an
  // event's own (loaded once per event name) or person properties.
  const propLists = new Map();
  const propList = (type, event) => {
    if (type !== 'person' && !event) return lists.props;
    const key = type === 'person' ? 'person' : `event:${event}`;
    let dl = propLists.get(key);
    if (!dl) {
      dl = datalist(uid('dl-props'), []);
      lists.host.append(dl);
      propLists.set(key, dl);
      get(P(pid, `/properties${qs(type === 'person' ? { type: 'person' } : { event })}`), { signal: scope.signal }).then((props) => {
        clear(dl, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} ${type === 'person' ? 'persons' : 'events'}` })));
      }).catch(() => {});
    }
    return dl;
  };

  // filterRows edits holder.filters, holder at spec path path: the
  // query's own filters (path '', testPrefix '') or those of a funnel
  // step, a trend series or an exclusion (path 'steps[0]', testPrefix
  // 'funnel-step-0-'…; eventOf names that event, for suggestions). Test
  // ids: `${testPrefix}filter-{type,property,op,value,remove}-${j}`.
  fx.filterRows = (holder, path, testPrefix, eventOf) => {
    const list = Array.isArray(holder.filters) ? holder.filters : [];
    const tid = (part, j) => `${testPrefix}filter-${part}-${j}`;
    const remove = (j) => fx.removeBtn(`Remove filter ${j + 1}`, () => {
      list.splice(j, 1);
      if (!list.length) delete holder.filters;
      rerender(`${testPrefix}add-filter`);
    }, tid('remove', j));
    return list.map((f, j) => {
      const fp = at(path, `filters[${j}]`);
      if (f && f.type === 'cohort') {
        // Cohort filters come from the API or older saves: kept as they are.
        const what = f.cohort ? 'a cohort defined in the query' : `cohort ${f.value}`;
        return h('li', { class: 'row wrap', 'data-field': fp },
          h('p', { class: 'cohort-filter', 'data-testid': tid('cohort', j) }, `${f.op === 'not_in' ? 'Not in' : 'In'} ${what}`),
          remove(j));
      }
      const eventNow = () => (eventOf ? eventOf() : '');
      const dl = datalist(uid('dl-values'), []);
      const valueIn = h('input', { type: 'text', list: dl.id, value: filterValueText(f), autocomplete: 'off', 'data-testid': tid('value', j),
        'data-field': `${fp}.value`, placeholder: f.op === 'in' ? 'a, b, c' : '' });
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
      const propIn = fx.propInput(`${fp}.property`, f.property, (v) => { f.property = v; loadValues(); }, { 'data-testid': tid('property', j) });
      const setPropList = () => propIn.setAttribute('list', propList(f.type, eventNow()).id);
      setPropList();
      propIn.addEventListener('focus', setPropList); // the step's event may have changed
      const valueField = field('Value', valueIn);
      valueField.hidden = f.op === 'is_set';
      const row = h('li', { class: 'row wrap', 'data-field': fp },
        dl,
        field('Whose', fx.selectInput(`${fp}.type`, [['event', 'Event property'], ['person', 'Person property']], f.type || 'event', (v) => {
          if (v === 'event') delete f.type; else f.type = v;
          setPropList();
          loaded = null;
          clear(dl);
          loadValues();
        }, { 'data-testid': tid('type', j) })),
        field('Property', propIn),
        field('Operator', fx.selectInput(`${fp}.op`, OPS, f.op || 'eq', (v) => {
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
  };

  fx.newFilter = (holder, testPrefix) => {
    const list = Array.isArray(holder.filters) ? holder.filters : [];
    holder.filters = list;
    list.push({ property: '', op: 'eq', value: '' });
    rerender(`${testPrefix}filter-property-${list.length - 1}`);
  };

  // subFilters: the filters of one step, series or exclusion, under it.
  fx.subFilters = (holder, path, testPrefix, eventOf, what) => {
    const rows = fx.filterRows(holder, path, testPrefix, eventOf);
    return h('div', { class: 'sub-filters', 'data-field': at(path, 'filters') },
      rows.length ? h('ol', { class: 'rows', 'aria-label': `Filters of ${what}` }, rows) : null,
      h('button', {
        type: 'button', class: 'btn small subtle', 'data-testid': `${testPrefix}add-filter`,
        'aria-label': `Add a filter to ${what}`, onclick: () => fx.newFilter(holder, testPrefix),
      }, rows.length ? '+ Another filter' : '+ Filter'));
  };

  return fx;
}

// ---------------------------------------------------------------- shared sections

export function rangeSection(fx, spec) {
  const preset = presetOf(spec);
  const fromIn = h('input', { type: 'date', value: localDate(spec.from), 'data-testid': 'range-from', 'data-field': 'from' });
  const toIn = h('input', { type: 'date', value: spec.to ? localDate(new Date(Date.parse(spec.to) - 1).toISOString()) : '', 'data-testid': 'range-to', 'data-field': 'to' });
  const custom = h('div', { class: 'inline', hidden: !!preset }, field('From', fromIn), field('To (inclusive)', toIn));
  const setCustom = () => {
    if (fromIn.value) spec.from = fromLocalDate(fromIn.value);
    if (toIn.value) spec.to = fromLocalDate(toIn.value, 1);
  };
  fromIn.addEventListener('change', setCustom);
  toIn.addEventListener('change', setCustom);
  const presetSel = fx.selectInput('from to', [...PRESETS, ['custom', 'Custom dates']], preset || 'custom', (v) => {
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

// unitSection: what is counted, persons (the default) or the accounts
// of a group type ("unit": "group:<type>").
export function unitSection(fx, spec) {
  const isGroup = typeof spec.unit === 'string' && spec.unit.startsWith('group:');
  const typeIn = h('input', { type: 'text', value: isGroup ? spec.unit.slice(6) : 'company', autocomplete: 'off', spellcheck: 'false', placeholder: 'company', 'data-testid': 'unit-group-type', 'data-field': 'unit' });
  const typeField = field('Group type', typeIn, 'Accounts are the groups sent with $groupidentify (e.g. company).');
  typeField.hidden = !isGroup;
  const groupLabel = () => `Count accounts (group type ${typeIn.value.trim() || '…'})`;
  const sel = fx.selectInput('unit', [['person', 'Count persons'], ['group', groupLabel()]], isGroup ? 'group' : 'person', (v) => {
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

export function filtersSection(fx, spec) {
  const rows = fx.filterRows(spec, '', '', null);
  return h('fieldset', { 'data-field': 'filters' }, h('legend', null, 'Filters'),
    rows.length ? h('ol', { class: 'rows' }, rows) : h('p', { class: 'muted hint' }, 'No filters: every matching event counts.'),
    fx.addBtn('Add filter', () => fx.newFilter(spec, ''), 'add-filter'));
}

export function breakdownSection(fx, spec) {
  const b = spec.breakdown || {};
  const set = (prop, type) => {
    if (!prop) { delete spec.breakdown; return; }
    spec.breakdown = { property: prop };
    if (type && type !== 'event') spec.breakdown.type = type;
  };
  let prop = b.property || '';
  let type = b.type || 'event';
  return h('fieldset', { 'data-field': 'breakdown' }, h('legend', null, 'Breakdown'),
    h('div', { class: 'inline' },
      field('Property', fx.propInput('breakdown.property', prop, (v) => { prop = v; set(prop, type); }, { 'data-testid': 'breakdown-property', placeholder: spec.kind === 'journey' ? 'utm_source' : 'none' })),
      field('Whose', fx.selectInput('breakdown.type', [['event', 'Event'], ['person', 'Person']], type, (v) => { type = v; set(prop, type); }, { 'data-testid': 'breakdown-type' }))));
}
