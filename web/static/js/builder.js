// The insight builder: #/p/{pid}/insight?spec=<json> or #/p/{pid}/insight/{id}.
// The spec object is the single source of truth: inputs write into it,
// structural changes (add/remove rows, kind switch) rebuild the form, and
// Run posts it to /query as is. The form is the kind's (kinds/<kind>.js,
// built with the form context of form.js) between the shared sections; a
// new insight opens with the default one (a trend of the project's most
// frequent event, last 30 days) already running.

import { h, clear, field, select, datalist, errorBox, setError, loading, fmtNum, Scope, isAbort, uid } from './dom.js';
import { get, post, put, P } from './api.js';
import { renderResult } from './render.js';
import { loadECharts } from './charts.js';
import { presetRange, insightURL, specOf, actionPick } from './spec.js';
import { KINDS, kindOf, defaultSpec, normalizeSpec, autoName } from './kinds/index.js';
import { formContext, rangeSection, unitSection, filtersSection, breakdownSection, markField, clearMarks } from './form.js';

const clone = (x) => JSON.parse(JSON.stringify(x));

export default async function builderPage(ctx) {
  const { pid, main, scope } = ctx;
  const savedId = ctx.params[1] || null;
  const state = {
    id: savedId,
    name: '',
    spec: null,
    ran: null, // the spec of the result on screen (persons lists re-run it)
    resultScope: null,
    runCtrl: null,
  };

  clear(main, h('h1', null, savedId ? 'Insight' : 'New insight'), loading());
  loadECharts().catch(() => {}); // every result but retention's is a chart
  scope.add(() => state.resultScope && state.resultScope.dispose());

  // Event and property suggestions load in the background; the form works
  // without them (inputs accept any name).
  const lists = { events: datalist(uid('dl-events'), []), props: datalist(uid('dl-props'), []), host: h('div', { hidden: true }) };
  const eventsP = get(P(pid, '/events'), { signal: scope.signal }).catch(() => []);
  const actionsP = get(P(pid, '/actions'), { signal: scope.signal }).catch(() => []);
  get(P(pid, '/properties'), { signal: scope.signal }).then((props) => {
    clear(lists.props, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} events` })));
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
  if (state.spec) normalizeSpec(state.spec);
  if (state.spec && (!state.spec.from || !state.spec.to)) Object.assign(state.spec, presetRange('30d'));

  const [events, actions] = await Promise.all([eventsP, actionsP]);
  if (scope.disposed) return;
  const known = (events || []).map((e) => e.event); // most frequent first
  clear(lists.events, (events || []).map((e) => h('option', { value: e.event, label: `${fmtNum(e.count)} in the last 30 days` })),
    (actions || []).map((a) => h('option', { value: actionPick(a), label: 'action' })));
  // A new insight starts as the default one, and runs (below).
  if (!state.spec) state.spec = defaultSpec('trend', {}, known);

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
    lists.events, lists.props, lists.host,
    h('div', { class: 'page-head' }, h('h1', null, savedId ? 'Insight' : 'New insight')),
    h('div', { class: 'builder' },
      form,
      h('section', { class: 'builder-main', 'aria-label': 'Result' }, saveBar, saveError, dashPanel, h('div', { class: 'card' }, resultHost), personsHost)));

  // ---------------------------------------------------------------- form

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
  const fx = formContext({ pid, scope, known, actions: actions || [], lists, rerender });

  function kindPicker() {
    return h('fieldset', { class: 'kind-picker' },
      h('legend', null, 'Insight type'),
      h('div', { class: 'kinds', role: 'group', 'data-field': 'kind' }, KINDS.filter((k) => k.builder).map(({ kind, label }) => h('button', {
        type: 'button',
        class: 'kind',
        'aria-pressed': String(state.spec.kind === kind),
        'data-testid': `kind-${kind}`,
        onclick: () => {
          if (state.spec.kind === kind) return;
          state.spec = defaultSpec(kind, state.spec, known);
          nameInput.placeholder = autoName(state.spec);
          rerender(`kind-${kind}`);
        },
      }, label))));
  }

  function renderForm() {
    const spec = normalizeSpec(state.spec); // the lists the forms edit (a kind switch's defaults too)
    const kind = kindOf(spec.kind);
    clear(form,
      kindPicker(),
      kind ? kind.form(fx, spec) : h('p', { class: 'muted' }, `The builder has no form for “${spec.kind}”; it runs as saved.`),
      rangeSection(fx, spec),
      kind && kind.builder ? unitSection(fx, spec) : null,
      filtersSection(fx, spec),
      kind && kind.breakdown ? breakdownSection(fx, spec) : null,
      h('div', { class: 'form-actions run-bar' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'run-insight' }, 'Run'),
        formError));
  }

  // ---------------------------------------------------------------- run

  async function run() {
    setError(formError, null);
    clearMarks(form);
    if (state.runCtrl) state.runCtrl.abort();
    const ctrl = new AbortController();
    state.runCtrl = ctrl;
    const spec = clone(state.spec);
    const kind = kindOf(spec.kind);
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
        onPersons: kind && kind.persons && kind.persons(spec) ? (param) => showPersons(param, 0) : null,
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
      // The 400 names the spec path it refuses; its control is flagged,
      // the message is in formError, next to Run.
      markField(form, err.field, formError);
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
    // With unit group:<type> the list holds group keys, not person ids.
    const groups = typeof spec.unit === 'string' && spec.unit.startsWith('group:');
    const who = groups ? `Accounts (${spec.unit.slice(6)})` : 'Persons';
    const heading = h('h2', { tabindex: '-1' }, kindOf(spec.kind).personsTitle(spec, param, who));
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
    clearMarks(form);
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
      // A refused spec names its field under "spec.": flag its control.
      if (err.field && err.field.startsWith('spec.')) markField(form, err.field.slice(5), saveError);
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
  run(); // a saved, linked or default insight: the chart shows at once
}
