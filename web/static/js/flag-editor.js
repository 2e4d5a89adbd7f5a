// The flag editor: #/p/{pid}/flags/new and #/p/{pid}/flags/{id}. A flag
// is PostHog's: condition sets (OR'd; the properties of one AND'd, with
// PostHog's operators, cohorts and other flags) each with a rollout
// share and an optional variant override, variants whose shares sum to
// 100, a JSON payload per value, an on/off switch and its history. The
// preview says which share of the last 30 days' persons the flag as
// drafted would match (POST /flags/preview), live as it is edited.
//
// The draft (flagmodel.js) is the single source of truth: controls write
// into it, structural changes rebuild the form (rerender), and Save turns
// it into PostHog's JSON. Controls carry data-field, the server's path of
// what they edit, so a 400 flags the right one (form.js markField).

import { h, clear, field, datalist, errorBox, setError, loading, fmtNum, fmtPct, fmtTime, isAbort, uid } from './dom.js';
import { get, post, api, del, P, qs } from './api.js';
import { formContext, markField, clearMarks } from './form.js';
import {
  OPERATORS, COHORT_OPERATORS, PROPERTY_TYPES, operatorKind, newDraft, draftFromFlag, flagBody, validateVariants,
  evenShares, validatePayload, rolloutSummary, firstErrorPerField, usageTotals,
} from './flagmodel.js';

const PLACEHOLDER = { list: 'pro, team', text: 'text', number: '10', range: '10, 20', date: '2026-01-31 or -7d', semver: '1.2.3', none: '' };

export default async function flagEditorPage(ctx) {
  const { pid, main, scope } = ctx;
  const idParam = ctx.params[1];
  const isNew = !idParam || idParam === 'new';
  clear(main, h('h1', null, isNew ? 'New flag' : 'Flag'), loading());

  const lists = { events: datalist(uid('dl-events'), []), props: datalist(uid('dl-person-props'), []), host: h('div', { hidden: true }) };
  get(P(pid, `/properties${qs({ type: 'person' })}`), { signal: scope.signal }).then((props) => {
    clear(lists.props, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} persons` })));
  }).catch(() => {});
  const cohortsP = get(P(pid, '/cohorts'), { signal: scope.signal }).catch(() => []);
  const flagsP = get(P(pid, '/flags'), { signal: scope.signal }).catch(() => []);

  let stored = null;
  let draft;
  try {
    if (!isNew) {
      stored = await get(P(pid, `/flags/${encodeURIComponent(idParam)}`), { signal: scope.signal });
      draft = draftFromFlag(stored);
    } else {
      draft = newDraft();
      const key = ctx.query.get('key');
      if (key) draft.key = key;
    }
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Flag'), errorBox(err.status === 404 ? 'This flag does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/flags` }, 'All flags')));
    return;
  }
  const [cohorts, allFlags] = await Promise.all([cohortsP, flagsP]);
  if (scope.disposed) return;
  const otherFlags = (allFlags || []).filter((f) => !stored || f.id !== stored.id);

  const form = h('form', { class: 'flag-form', 'data-testid': 'flag-form', novalidate: true });
  const formError = errorBox();
  formError.setAttribute('data-testid', 'flag-error');
  const saveStatus = h('span', { class: 'save-status', role: 'status', 'data-testid': 'flag-save-status' });
  const previewHost = h('div', { class: 'flag-preview', 'data-testid': 'flag-preview', 'data-state': 'idle', 'aria-live': 'polite' });
  const historyHost = h('div', { 'data-testid': 'flag-history-host' });
  const usageHost = h('div', { 'data-testid': 'flag-usage-host' });
  const title = h('h1', { 'data-testid': 'flag-title' }, isNew ? 'New flag' : `Flag ${draft.key}`);

  clear(main, lists.props, lists.host,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/flags` }, 'Feature flags'), ' / '),
    h('div', { class: 'page-head' }, title),
    h('div', { class: 'flag-layout' },
      h('div', { class: 'flag-main' }, form),
      h('aside', { class: 'flag-side' },
        h('section', { class: 'card', 'aria-labelledby': 'preview-h' },
          h('div', { class: 'card-head' }, h('h2', { id: 'preview-h' }, 'Rollout preview'),
            h('button', { type: 'button', class: 'btn small', 'data-testid': 'flag-preview-run', onclick: () => preview(true) }, 'Refresh')),
          previewHost),
        isNew ? null : h('section', { class: 'card', 'aria-labelledby': 'usage-h' }, h('h2', { id: 'usage-h' }, 'Usage, last 30 days'), usageHost),
        isNew ? null : h('section', { class: 'card', 'aria-labelledby': 'history-h' }, h('h2', { id: 'history-h' }, 'History'), historyHost))));

  const rerender = (focusTestid) => {
    const active = document.activeElement;
    const keep = focusTestid || (active && form.contains(active) ? active.getAttribute('data-testid') : null);
    renderForm();
    if (keep) {
      const el = form.querySelector(`[data-testid="${CSS.escape(keep)}"]`);
      if (el) el.focus();
    }
    schedulePreview();
  };
  const fx = formContext({ pid, scope, known: [], actions: [], lists, rerender });

  // ---------------------------------------------------------------- form

  function basics() {
    return h('section', { class: 'card' }, h('h2', null, 'Flag'),
      h('div', { class: 'inline wrap' },
        field('Key', fx.textInput('key', draft.key, (v) => { draft.key = v; }, { 'data-testid': 'flag-key', placeholder: 'new-checkout', required: true }),
          'What your code asks for: posthog.isFeatureEnabled(\'new-checkout\').'),
        field('Description', fx.textInput('name', draft.name, (v) => { draft.name = v; }, { 'data-testid': 'flag-name', placeholder: 'optional' }))),
      h('label', { class: 'check' }, fx.checkbox('active', draft.active, (v) => { draft.active = v; }, { 'data-testid': 'flag-active' }), 'On: evaluate the conditions below (off: everyone gets false)'),
      h('label', { class: 'check' }, fx.checkbox('ensure_experience_continuity', draft.ensure_experience_continuity, (v) => { draft.ensure_experience_continuity = v; },
        { 'data-testid': 'flag-continuity' }), 'Keep the value across login (bucket by the first, anonymous id)'));
  }

  const sumBox = h('p', { class: 'variant-sum', 'data-testid': 'variant-sum', 'data-field': 'filters.multivariate.variants', role: 'status' });
  function updateSum() {
    const v = validateVariants(draft.variants);
    const sumErr = v.errors.find((e) => e.field === 'filters.multivariate.variants');
    sumBox.textContent = `Total ${fmtNum(v.sum)}%${sumErr ? ` — ${sumErr.msg.replace(/^the shares/, 'shares')}` : ''}`;
    sumBox.classList.toggle('bad', !!sumErr);
    sumBox.dataset.sum = String(v.sum);
  }

  function variantsSection() {
    const kind = fx.selectInput('filters.multivariate', [['boolean', 'On or off (boolean)'], ['multivariate', 'Variants (multivariate)']],
      draft.multivariate ? 'multivariate' : 'boolean', (v) => { draft.multivariate = v === 'multivariate'; rerender('flag-type'); }, { 'data-testid': 'flag-type' });
    const path = 'filters.multivariate.variants';
    const rows = draft.multivariate ? draft.variants.map((v, i) => h('li', { class: 'row wrap', 'data-field': `${path}[${i}]`, 'data-testid': `variant-row-${i}` },
      field('Key', fx.textInput(`${path}[${i}].key`, v.key, (x) => { v.key = x; }, { 'data-testid': `variant-key-${i}`, placeholder: i === 0 ? 'control' : `test${i > 1 ? i : ''}` })),
      field('Description', fx.textInput(`${path}[${i}].name`, v.name, (x) => { v.name = x; }, { 'data-testid': `variant-name-${i}` })),
      field('Share %', fx.numInput(`${path}[${i}].rollout_percentage`, v.rollout_percentage, (x) => { v.rollout_percentage = x; updateSum(); },
        { 'data-testid': `variant-share-${i}`, min: 0, max: 100, step: 'any', class: 'narrow' })),
      draft.variants.length > 1 ? fx.removeBtn(`Remove variant ${v.key || i + 1}`, () => {
        const [gone] = draft.variants.splice(i, 1);
        if (gone) delete draft.payloads[gone.key];
        rerender('variant-add');
      }, `variant-remove-${i}`) : null)) : [];
    if (draft.multivariate) updateSum();
    return h('section', { class: 'card' }, h('h2', null, 'Served value'),
      field('What the flag returns', kind),
      draft.multivariate ? [
        h('ol', { class: 'rows', 'aria-label': 'Variants' }, rows),
        sumBox,
        h('div', { class: 'form-actions' },
          draft.variants.length < 20 ? fx.addBtn('Add variant', () => {
            draft.variants.push({ key: '', name: '', rollout_percentage: 0 });
            rerender(`variant-key-${draft.variants.length - 1}`);
          }, 'variant-add') : null,
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'variants-even', onclick: () => {
            evenShares(draft.variants.length).forEach((p, i) => { draft.variants[i].rollout_percentage = p; });
            rerender('variants-even');
          } }, 'Split evenly'))] : h('p', { class: 'muted hint' }, 'Matching persons get true, everyone else false.'));
  }

  function payloadsSection() {
    const keys = draft.multivariate ? draft.variants.map((v) => v.key).filter(Boolean) : ['true'];
    return h('section', { class: 'card' }, h('h2', null, 'Payloads'),
      h('p', { class: 'muted hint' }, 'Optional JSON sent with the value (posthog.getFeatureFlagPayload): copy, colours, limits.'),
      keys.map((k) => {
        const ta = h('textarea', { rows: 3, spellcheck: 'false', 'data-testid': `payload-${k}`, 'data-field': `filters.payloads.${k}`, placeholder: '{"button": "Buy now"}' });
        ta.value = draft.payloads[k] || '';
        const status = h('small', { class: 'hint', 'data-testid': `payload-status-${k}` });
        const check = () => {
          const r = validatePayload(ta.value);
          status.textContent = r.error ? r.error : r.empty ? 'No payload' : 'Valid JSON';
          status.classList.toggle('error-text', !!r.error);
          if (r.error) ta.setAttribute('aria-invalid', 'true');
          else ta.removeAttribute('aria-invalid');
        };
        ta.addEventListener('input', () => { draft.payloads[k] = ta.value; check(); });
        check();
        return h('div', { class: 'field' }, h('label', { for: ta.id || (ta.id = uid()) }, k === 'true' ? 'When true' : `Variant ${k}`), ta, status);
      }));
  }

  function propertyRow(cond, i, row, j) {
    const pp = `filters.groups[${i}].properties[${j}]`;
    const tid = (part) => `cond-${i}-${part}-${j}`;
    const typeSel = fx.selectInput(`${pp}.type`, PROPERTY_TYPES, row.type || 'person', (v) => {
      row.type = v;
      row.operator = v === 'cohort' ? 'in' : v === 'flag' ? 'flag_evaluates_to' : 'exact';
      row.key = v === 'cohort' ? 'id' : '';
      row.text = '';
      rerender(tid('type'));
    }, { 'data-testid': tid('type') });
    let parts;
    if (row.type === 'cohort') {
      const opts = (cohorts || []).map((c) => [String(c.id), c.name]);
      if (row.text && !opts.some(([v]) => v === row.text)) opts.push([row.text, `cohort ${row.text} (not found)`]);
      parts = [
        field('Operator', fx.selectInput(`${pp}.operator`, COHORT_OPERATORS, row.operator || 'in', (v) => { row.operator = v; }, { 'data-testid': tid('op') })),
        field('Cohort', opts.length ? fx.selectInput(`${pp}.value`, [['', 'Choose a cohort…'], ...opts], row.text, (v) => { row.text = v; }, { 'data-testid': tid('cohort') })
          : h('p', { class: 'muted small' }, 'This project has no cohorts yet.'))];
    } else if (row.type === 'flag') {
      const opts = otherFlags.map((f) => [f.key, f.key]);
      if (row.key && !opts.some(([v]) => v === row.key)) opts.push([row.key, `${row.key} (not found)`]);
      parts = [
        field('Flag', fx.selectInput(`${pp}.key`, [['', 'Choose a flag…'], ...opts], row.key, (v) => { row.key = v; }, { 'data-testid': tid('flag') })),
        field('Evaluates to', fx.textInput(`${pp}.value`, row.text, (v) => { row.text = v; }, { 'data-testid': tid('value'), placeholder: 'true, false or a variant' }))];
    } else {
      const kind = operatorKind(row.operator);
      const valueIn = fx.textInput(`${pp}.value`, row.text, (v) => { row.text = v; }, { 'data-testid': tid('value'), placeholder: PLACEHOLDER[kind] });
      const valueField = field('Value', valueIn);
      valueField.hidden = kind === 'none';
      parts = [
        field('Property', fx.propInput(`${pp}.key`, row.key, (v) => { row.key = v; }, { 'data-testid': tid('key'), placeholder: 'plan' })),
        field('Operator', fx.selectInput(`${pp}.operator`, OPERATORS.map(([v, l]) => [v, l]), row.operator || 'exact', (v) => {
          row.operator = v;
          const k = operatorKind(v);
          valueField.hidden = k === 'none';
          valueIn.placeholder = PLACEHOLDER[k];
        }, { 'data-testid': tid('op') })),
        valueField];
    }
    return h('li', { class: 'row wrap', 'data-field': pp, 'data-testid': `cond-${i}-row-${j}` },
      j > 0 ? h('span', { class: 'and', 'aria-hidden': 'true' }, 'and') : null,
      field('Match', typeSel), parts,
      fx.removeBtn(`Remove condition ${j + 1} of set ${i + 1}`, () => { cond.rows.splice(j, 1); rerender(`cond-${i}-add`); }, tid('remove')));
  }

  function conditionsSection() {
    const sets = draft.conditions.map((cond, i) => {
      const gp = `filters.groups[${i}]`;
      const variantOpts = [['', 'the variant split above'], ...draft.variants.map((v) => v.key).filter(Boolean).map((k) => [k, `always ${k}`])];
      return h('fieldset', { class: 'cond-set', 'data-field': gp, 'data-testid': `cond-set-${i}` },
        h('legend', null, i === 0 ? 'Condition set 1' : `Or condition set ${i + 1}`),
        cond.rows.length ? h('ol', { class: 'rows', 'aria-label': `Conditions of set ${i + 1}` }, cond.rows.map((row, j) => propertyRow(cond, i, row, j)))
          : h('p', { class: 'muted hint' }, 'No conditions: every person matches this set.'),
        fx.addBtn('Add condition', () => { cond.rows.push({ type: 'person', key: '', operator: 'exact', text: '' }); rerender(`cond-${i}-key-${cond.rows.length - 1}`); }, `cond-${i}-add`),
        h('div', { class: 'inline wrap' },
          field('Roll out to % of matching persons', fx.numInput(`${gp}.rollout_percentage`, cond.rollout_percentage, (v) => { cond.rollout_percentage = v; },
            { 'data-testid': `cond-${i}-rollout`, min: 0, max: 100, step: 'any', class: 'narrow' })),
          draft.multivariate ? field('Serve', fx.selectInput(`${gp}.variant`, variantOpts, cond.variant || '', (v) => { cond.variant = v; }, { 'data-testid': `cond-${i}-variant` })) : null),
        draft.conditions.length > 1 ? h('button', { type: 'button', class: 'btn small subtle', 'data-testid': `cond-${i}-remove-set`,
          onclick: () => { draft.conditions.splice(i, 1); rerender('cond-add-set'); } }, 'Remove this set') : null);
    });
    return h('section', { class: 'card', 'data-field': 'filters.groups' }, h('h2', null, 'Who gets it'),
      h('p', { class: 'muted hint' }, 'A person gets the flag when they match any condition set, and their bucket falls in its rollout.'),
      sets.length ? sets : h('p', { class: 'muted' }, 'No condition set: nobody gets the flag.'),
      fx.addBtn('Add condition set', () => { draft.conditions.push({ rows: [], rollout_percentage: 100, variant: '' }); rerender(`cond-${draft.conditions.length - 1}-add`); }, 'cond-add-set'));
  }

  function renderForm() {
    clear(form, basics(), variantsSection(), payloadsSection(), conditionsSection(),
      ctx.canWrite ? h('div', { class: 'form-actions save-row' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'flag-save' }, isNew ? 'Create flag' : 'Save'),
        stored ? h('button', { type: 'button', class: 'btn danger', 'data-testid': 'flag-delete', onclick: remove }, 'Delete') : null,
        saveStatus) : h('p', { class: 'muted' }, 'Changing flags needs the member role.'),
      formError);
  }

  // A refusal found before sending goes away once the draft is valid.
  let clientError = false;
  const recheck = () => {
    if (clientError && flagBody(draft).errors.length === 0) {
      clientError = false;
      setError(formError, null);
      clearMarks(form);
    }
    schedulePreview();
  };
  form.addEventListener('input', recheck);
  form.addEventListener('change', recheck);
  form.addEventListener('submit', (e) => { e.preventDefault(); save(); });

  // ---------------------------------------------------------------- save

  function showErrors(errors) {
    const list = firstErrorPerField(errors);
    clientError = true;
    setError(formError, list.map((e) => `${e.field}: ${e.msg}`).join(' · '));
    for (const e of list) markField(form, e.field, formError);
    const first = form.querySelector('[aria-invalid="true"]');
    if (first && first.focus) first.focus();
  }

  async function save() {
    setError(formError, null);
    clearMarks(form);
    saveStatus.textContent = '';
    clientError = false;
    const { body, errors } = flagBody(draft);
    if (errors.length) { showErrors(errors); return; }
    const btn = form.querySelector('[data-testid="flag-save"]');
    if (btn) btn.disabled = true;
    try {
      if (!stored) {
        const created = await post(P(pid, '/flags'), body, { signal: scope.signal });
        ctx.navigate(`#/p/${pid}/flags/${created.id}`);
        return;
      }
      stored = await api('PATCH', P(pid, `/flags/${stored.id}`), { ...body, version: stored.version }, { signal: scope.signal });
      draft.version = stored.version;
      title.textContent = `Flag ${stored.key}`;
      saveStatus.textContent = `Saved (version ${stored.version})`;
      loadHistory();
    } catch (err) {
      if (isAbort(err)) return;
      setError(formError, err.status === 409 && /version/.test(err.message) ? `${err.message}. Someone changed this flag; reload to see their version.` : err);
      markField(form, err.field, formError);
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  async function remove() {
    if (!window.confirm(`Delete the flag “${stored.key}”? SDKs will get false for it.`)) return;
    try {
      await del(P(pid, `/flags/${stored.id}`));
      ctx.navigate(`#/p/${pid}/flags`);
    } catch (err) {
      if (!isAbort(err)) setError(formError, err);
    }
  }

  // ---------------------------------------------------------------- preview

  let timer = 0;
  let previewCtrl = null;
  scope.add(() => clearTimeout(timer));
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(() => preview(false), 500);
  }

  async function preview(now) {
    clearTimeout(timer);
    const { body, errors } = flagBody(draft);
    const blocking = errors.filter((e) => e.field !== 'key');
    if (blocking.length) {
      previewHost.dataset.state = 'invalid';
      clear(previewHost, h('p', { class: 'muted' }, `Fix the flag to preview it: ${blocking[0].msg} (${blocking[0].field}).`));
      return;
    }
    if (previewCtrl) previewCtrl.abort();
    const ctrl = new AbortController();
    previewCtrl = ctrl;
    previewHost.dataset.state = 'loading';
    previewHost.setAttribute('aria-busy', 'true');
    if (now || !previewHost.querySelector('[data-testid="flag-preview-share"]')) clear(previewHost, loading('Evaluating recent persons…'));
    try {
      const res = await post(P(pid, '/flags/preview'), body, { signal: AbortSignal.any([scope.signal, ctrl.signal]) });
      if (previewCtrl !== ctrl) return;
      renderPreview(res);
      previewHost.dataset.state = 'done';
    } catch (err) {
      if (isAbort(err)) return;
      previewHost.dataset.state = 'error';
      clear(previewHost, errorBox(err));
    } finally {
      if (previewCtrl === ctrl) previewHost.removeAttribute('aria-busy');
    }
  }

  function renderPreview(res) {
    const variants = Object.entries(res.variants || {});
    const who = res.recent ? `of the ${fmtNum(res.sampled)} newest persons of the last ${res.window_days} days`
      : `of the ${fmtNum(res.sampled)} newest persons (none arrived in the last ${res.window_days} days)`;
    clear(previewHost,
      res.sampled === 0 ? h('p', { class: 'muted' }, 'No persons yet: send events to preview a rollout.') : null,
      h('p', { class: 'preview-share' },
        h('span', { class: 'big', 'data-testid': 'flag-preview-share', 'data-value': String(res.share) }, fmtPct(res.share)),
        ' ', h('span', { class: 'muted' }, who)),
      h('p', { class: 'small' }, h('span', { 'data-testid': 'flag-preview-matched', 'data-value': String(res.matched) }, fmtNum(res.matched)), ` would get the flag${draft.active ? '' : ' once it is on'}.`),
      variants.length ? h('table', { class: 'data compact', 'data-testid': 'flag-preview-variants' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Variant'), h('th', { scope: 'col', class: 'num' }, 'Persons'), h('th', { scope: 'col', class: 'num' }, 'Of matched'))),
        h('tbody', null, variants.map(([k, n]) => h('tr', null, h('th', { scope: 'row' }, k),
          h('td', { class: 'num', 'data-testid': 'flag-preview-variant-count', 'data-value': String(n) }, fmtNum(n)),
          h('td', { class: 'num' }, fmtPct(res.matched ? n / res.matched : 0)))))) : null,
      res.warning ? h('p', { class: 'notice small', 'data-testid': 'flag-preview-warning' }, res.warning) : null,
      h('p', { class: 'muted hint' }, 'An estimate: persons are bucketed by their person id here, by their distinct id in the SDKs; shares agree, individual persons may not.'));
  }

  // ---------------------------------------------------------------- history

  async function loadHistory() {
    if (!stored) return;
    clear(historyHost, loading('Loading history…'));
    try {
      const versions = await get(P(pid, `/flags/${stored.id}/versions`), { signal: scope.signal }) || [];
      const list = [...versions].reverse(); // newest first
      clear(historyHost, list.length ? h('ol', { class: 'history', 'data-testid': 'flag-history' }, list.map((v) => h('li', { 'data-testid': 'flag-version' },
        h('div', null, h('strong', null, `v${v.version}`), ' ', v.action, ' ', h('span', { class: 'muted small' }, `${fmtTime(v.at)}${v.user_id ? ` · user #${v.user_id}` : ' · API key'}`)),
        h('div', { class: 'small' }, `${v.active ? 'On' : 'Off'} · ${rolloutSummary(v)}`),
        h('details', null, h('summary', { class: 'small' }, 'Definition'), h('pre', { class: 'props' }, JSON.stringify({ key: v.key, name: v.name, active: v.active, filters: v.filters }, null, 2))))))
        : h('p', { class: 'muted' }, 'No history.'));
    } catch (err) {
      if (!isAbort(err)) clear(historyHost, errorBox(err));
    }
  }

  // ---------------------------------------------------------------- usage

  // loadUsage shows the $feature_flag_called calls SDKs reported per value.
  async function loadUsage() {
    if (!stored) return;
    clear(usageHost, loading('Loading usage…'));
    try {
      const res = await get(P(pid, `/flags/${stored.id}/usage?days=30`), { signal: scope.signal });
      const rows = usageTotals(res && res.usage);
      clear(usageHost, rows.length
        ? h('table', { class: 'data', 'data-testid': 'flag-usage' },
          h('thead', null, h('tr', null, h('th', null, 'Value'), h('th', { class: 'num' }, 'Calls'), h('th', { class: 'num' }, 'Persons, busiest day'))),
          h('tbody', null, rows.map((r) => h('tr', null, h('td', null, String(r.value)), h('td', { class: 'num' }, fmtNum(r.calls)), h('td', { class: 'num' }, fmtNum(r.peakPersons))))))
        : h('p', { class: 'muted' }, 'No $feature_flag_called events yet: SDKs send one when code reads the flag.'));
    } catch (err) {
      if (!isAbort(err)) clear(usageHost, errorBox(err));
    }
  }

  renderForm();
  loadHistory();
  loadUsage();
  preview(true);
  if (isNew) {
    const k = form.querySelector('[data-testid="flag-key"]');
    if (k) k.focus();
  }
}
