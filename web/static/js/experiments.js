// Experiments (#/p/{pid}/experiments) and the wizard that creates one
// (#/p/{pid}/experiments/new): hypothesis and the journey stage it
// targets, the arms (a new flag with variants and weights, or an existing
// multivariate flag), primary / secondary / guardrail metrics, the
// analysis (method, significance, correction, CUPED, a layer), with the
// sample size and expected runtime of the primary metric estimated live
// (POST /experiments/estimate). The draft and the bodies are
// expmodel.js's; the results page is experiment.js.

import { h, clear, field, datalist, errorBox, setError, loading, fmtNum, fmtPct, fmtTime, isAbort, uid } from './dom.js';
import { get, post, P } from './api.js';
import { formContext, markField, clearMarks } from './form.js';
import {
  METHODS, CORRECTIONS, METRIC_KINDS, ROLES, STAGE_NAMES, newExperiment, newMetric, experimentBody, estimateBody, runtimeText,
  validateWeights, evenShares, slugKey, decisionText,
} from './expmodel.js';
import { firstErrorPerField } from './flagmodel.js';

export function statusBadge(e) {
  const cls = e.decision ? e.decision : e.status;
  return h('span', { class: `badge ${cls}`, 'data-testid': 'experiment-status' }, decisionText(e));
}

export default async function experimentsPage(ctx) {
  const { pid, main, scope } = ctx;
  const listHost = h('div', null, loading('Loading experiments…'));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Experiments'),
      h('div', { class: 'head-controls' },
        h('a', { class: 'btn', href: `#/p/${pid}/archive`, 'data-testid': 'open-archive' }, 'Learning archive'),
        ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/experiments/new`, 'data-testid': 'new-experiment' }, 'New experiment') : null)),
    h('p', { class: 'muted' }, 'A/B tests on feature flags: exposure is the $feature_flag_called event PostHog SDKs send when code reads the flag.'),
    listHost);
  let list;
  try {
    list = await get(P(pid, '/experiments'), { signal: scope.signal }) || [];
  } catch (e) {
    if (!isAbort(e)) clear(listHost, errorBox(e));
    return;
  }
  if (!list.length) {
    clear(listHost, h('section', { class: 'card empty-state', 'data-testid': 'experiments-empty' },
      h('h2', null, 'No experiments yet'),
      h('p', null, 'State a hypothesis, pick what should move, and let the statistics say whether it did.'),
      ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/experiments/new` }, 'Design the first experiment') : null));
    return;
  }
  clear(listHost, h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'experiment-list' },
    h('thead', null, h('tr', null, ['Experiment', 'Status', 'Flag', 'Stage', 'Started', 'Stopped'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, list.map((e) => h('tr', { 'data-testid': 'experiment-row' },
      h('th', { scope: 'row' }, h('a', { href: `#/p/${pid}/experiments/${e.id}`, 'data-testid': 'experiment-link' }, e.name),
        e.hypothesis ? h('div', { class: 'muted small hypothesis' }, e.hypothesis) : null),
      h('td', null, statusBadge(e)),
      h('td', null, e.flag_key ? h('code', null, e.flag_key) : '–'),
      h('td', null, e.stage || '–'),
      h('td', { class: 'muted small' }, e.started_at ? fmtTime(e.started_at) : '–'),
      h('td', { class: 'muted small' }, e.stopped_at ? fmtTime(e.stopped_at) : '–')))))));
}

// ---------------------------------------------------------------- wizard

const STEPS = [['hypothesis', 'Hypothesis'], ['variants', 'Variants'], ['metrics', 'Metrics'], ['analysis', 'Analysis'], ['review', 'Review']];

// stepOf names the wizard step holding a body field.
function stepOf(fieldPath) {
  const f = String(fieldPath || '');
  if (/^(name|hypothesis|stage)\b/.test(f)) return 'hypothesis';
  if (/^(variants|flag_key)\b/.test(f)) return 'variants';
  if (/^metrics\b/.test(f)) return 'metrics';
  return 'analysis';
}

export async function wizardPage(ctx) {
  const { pid, main, scope } = ctx;
  if (!ctx.canWrite) {
    clear(main, h('h1', null, 'New experiment'), h('p', { class: 'muted' }, 'Creating experiments needs the member role.'));
    return;
  }
  clear(main, h('h1', null, 'New experiment'), loading());
  const lists = { events: datalist(uid('dl-events'), []), props: datalist(uid('dl-props'), []), host: h('div', { hidden: true }) };
  const [events, flags, settings, layers] = await Promise.all([
    get(P(pid, '/events'), { signal: scope.signal }).catch(() => []),
    get(P(pid, '/flags'), { signal: scope.signal }).catch(() => []),
    get(P(pid, '/settings'), { signal: scope.signal }).catch(() => null),
    get(P(pid, '/layers'), { signal: scope.signal }).catch(() => []),
  ]);
  if (scope.disposed) return;
  clear(lists.events, (events || []).map((e) => h('option', { value: e.event, label: `${fmtNum(e.count)} in the last 30 days` })));
  get(P(pid, '/properties'), { signal: scope.signal }).then((props) => {
    clear(lists.props, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} events` })));
  }).catch(() => {});
  const stageNames = ((settings && settings.stages) || []).map((s) => s.name).filter(Boolean);
  const stages = stageNames.length ? stageNames : STAGE_NAMES;
  const mvFlags = (flags || []).filter((f) => f.filters && f.filters.multivariate && (f.filters.multivariate.variants || []).length >= 2);

  const d = newExperiment();
  if (ctx.query.get('flag')) { d.source = 'flag'; d.flag_key = ctx.query.get('flag'); }
  let keyTouched = false;
  let step = 'hypothesis';

  const form = h('form', { class: 'wizard', 'data-testid': 'experiment-wizard', novalidate: true });
  const formError = errorBox();
  formError.setAttribute('data-testid', 'wizard-error');
  const stepList = h('ol', { class: 'wizard-steps', 'aria-label': 'Steps' });
  const estimateHost = h('div', { class: 'estimate', 'data-testid': 'estimate', 'data-state': 'idle', 'aria-live': 'polite' });
  clear(main, lists.events, lists.props, lists.host,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/experiments` }, 'Experiments'), ' / '),
    h('div', { class: 'page-head' }, h('h1', null, 'New experiment')),
    stepList,
    h('div', { class: 'exp-layout' },
      h('div', null, form),
      h('aside', { class: 'exp-side' }, h('section', { class: 'card', 'aria-labelledby': 'estimate-h' },
        h('h2', { id: 'estimate-h' }, 'Sample size'),
        estimateInputs(),
        estimateHost))));

  const rerender = (focusTestid) => {
    const active = document.activeElement;
    const keep = focusTestid || (active && form.contains(active) ? active.getAttribute('data-testid') : null);
    renderForm();
    if (keep) {
      const el = form.querySelector(`[data-testid="${CSS.escape(keep)}"]`);
      if (el) el.focus();
    }
    scheduleEstimate();
  };
  const fx = formContext({ pid, scope, known: (events || []).map((e) => e.event), actions: [], lists, rerender });

  function estimateInputs() {
    const mde = h('input', { type: 'number', min: 0.1, max: 500, step: 'any', value: d.mde, class: 'narrow', 'data-testid': 'estimate-mde' });
    mde.addEventListener('input', () => { d.mde = mde.value === '' ? '' : Number(mde.value); scheduleEstimate(); });
    const power = h('select', { 'data-testid': 'estimate-power' }, [0.8, 0.9, 0.95].map((p) => h('option', { value: String(p) }, `${p * 100}%`)));
    power.value = String(d.power);
    power.addEventListener('change', () => { d.power = Number(power.value); scheduleEstimate(); });
    return h('div', { class: 'inline wrap' }, field('Smallest lift worth detecting (%)', mde), field('Power', power));
  }

  // -------------------------------------------------------------- steps

  function hypothesisStep() {
    const nameIn = fx.textInput('name', d.name, (v) => {
      d.name = v;
      if (!keyTouched && d.source === 'new') {
        d.flag_key = slugKey(v);
        const k = form.querySelector('[data-testid="exp-flag-key"]');
        if (k) k.value = d.flag_key;
      }
    }, { 'data-testid': 'exp-name', placeholder: 'Shorter checkout', required: true });
    const hyp = h('textarea', { rows: 3, 'data-testid': 'exp-hypothesis', 'data-field': 'hypothesis', placeholder: 'If we remove the address step, more visitors who add to cart will order, because…' });
    hyp.value = d.hypothesis;
    hyp.addEventListener('input', () => { d.hypothesis = hyp.value; });
    return h('section', { class: 'card', 'data-step': 'hypothesis' }, h('h2', null, 'What do you believe?'),
      field('Name', nameIn),
      field('Hypothesis', hyp, 'What you change, what should move, and why. It is kept in the learning archive with the result.'),
      field('Journey stage it targets', fx.selectInput('stage', [['', 'None'], ...stages.map((s) => [s, s])], d.stage, (v) => { d.stage = v; }, { 'data-testid': 'exp-stage' })));
  }

  function variantsStep() {
    const source = fx.selectInput('flag_key', [['new', 'Create a new flag with these variants'], ['flag', 'Use an existing multivariate flag']], d.source, (v) => {
      d.source = v;
      d.flag_key = v === 'new' ? slugKey(d.name) : (mvFlags[0] ? mvFlags[0].key : '');
      keyTouched = false;
      rerender('exp-source');
    }, { 'data-testid': 'exp-source' });
    let body;
    if (d.source === 'flag') {
      const chosen = mvFlags.find((f) => f.key === d.flag_key);
      body = [
        mvFlags.length ? field('Flag', fx.selectInput('flag_key', mvFlags.map((f) => [f.key, f.name ? `${f.key} — ${f.name}` : f.key]), d.flag_key,
          (v) => { d.flag_key = v; rerender('exp-flag'); }, { 'data-testid': 'exp-flag' }))
          : h('p', { class: 'muted' }, 'No multivariate flag yet: create one here, or in ', h('a', { href: `#/p/${pid}/flags/new` }, 'Flags'), '.'),
        chosen ? h('p', { class: 'small muted' }, 'Arms: ', chosen.filters.multivariate.variants.map((v) => `${v.key} ${v.rollout_percentage}%`).join(' / '),
          ' (the first is control).') : null];
    } else {
      const w = validateWeights(d.variants);
      const sumErr = w.errors.find((e) => e.field === 'variants');
      body = [
        field('Flag key', fx.textInput('flag_key', d.flag_key, (v) => { d.flag_key = v; keyTouched = true; }, { 'data-testid': 'exp-flag-key', placeholder: 'shorter-checkout' }),
          'Created off; starting the experiment turns it on. Your code reads it: posthog.getFeatureFlag(key).'),
        h('ol', { class: 'rows', 'aria-label': 'Variants', 'data-field': 'variants' }, d.variants.map((v, i) => h('li', { class: 'row wrap', 'data-field': `variants[${i}]` },
          field(i === 0 ? 'Control key' : `Treatment ${i} key`, fx.textInput(`variants[${i}].key`, v.key, (x) => { v.key = x; }, { 'data-testid': `exp-variant-key-${i}` })),
          field('Weight %', fx.numInput(`variants[${i}].weight`, v.weight, (x) => { v.weight = x; updateWeightSum(); }, { 'data-testid': `exp-variant-weight-${i}`, min: 0, max: 100, step: 'any', class: 'narrow' })),
          d.variants.length > 2 ? fx.removeBtn(`Remove variant ${i + 1}`, () => { d.variants.splice(i, 1); rerender('exp-variant-add'); }, `exp-variant-remove-${i}`) : null))),
        h('p', { class: `variant-sum${sumErr ? ' bad' : ''}`, 'data-testid': 'exp-weight-sum', role: 'status' }, `Total ${fmtNum(w.sum)}%`),
        h('div', { class: 'form-actions' },
          d.variants.length < 10 ? fx.addBtn('Add variant', () => { d.variants.push({ key: `test${d.variants.length}`, weight: 0 }); rerender(`exp-variant-key-${d.variants.length - 1}`); }, 'exp-variant-add') : null,
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'exp-variants-even', onclick: () => {
            evenShares(d.variants.length).forEach((p, i) => { d.variants[i].weight = p; });
            rerender('exp-variants-even');
          } }, 'Split evenly'))];
    }
    return h('section', { class: 'card', 'data-step': 'variants' }, h('h2', null, 'Who sees what'), field('Assignment', source), body);
  }

  function updateWeightSum() {
    const el = form.querySelector('[data-testid="exp-weight-sum"]');
    if (!el) return;
    const w = validateWeights(d.variants);
    el.textContent = `Total ${fmtNum(w.sum)}%`;
    el.classList.toggle('bad', w.errors.some((e) => e.field === 'variants'));
  }

  function metricRow(role, list, m, i) {
    const mp = `metrics.${role}[${i}]`;
    const tid = (part) => `metric-${role}-${i}-${part}`;
    const propField = field('Property', fx.propInput(`${mp}.property`, m.property, (v) => { m.property = v; }, { 'data-testid': tid('property'), placeholder: 'revenue' }));
    propField.hidden = !(m.kind === 'sum' || m.kind === 'mean');
    return h('li', { class: 'row wrap', 'data-field': mp, 'data-testid': tid('row') },
      field('Measure', fx.selectInput(`${mp}.kind`, METRIC_KINDS, m.kind, (v) => { m.kind = v; propField.hidden = !(v === 'sum' || v === 'mean'); scheduleEstimate(); }, { 'data-testid': tid('kind') })),
      field('Event', fx.plainEventInput(`${mp}.event`, m.event, (v) => { m.event = v; }, { 'data-testid': tid('event'), placeholder: 'order_completed' })),
      propField,
      field('Within', fx.textInput(`${mp}.window`, m.window, (v) => { m.window = v; }, { 'data-testid': tid('window'), placeholder: '7d', class: 'narrow' })),
      h('label', { class: 'check' }, fx.checkbox(`${mp}.lower_is_better`, m.lower_is_better, (v) => { m.lower_is_better = v; }, { 'data-testid': tid('lower') }), 'Lower is better'),
      role !== 'primary' || list.length > 1 ? fx.removeBtn(`Remove ${role} metric ${i + 1}`, () => { list.splice(i, 1); rerender(`metric-${role}-add`); }, tid('remove')) : null);
  }

  function metricsStep() {
    const hints = {
      primary: 'Decides the experiment. Corrected for multiple comparisons.',
      secondary: 'Watched to understand the result.',
      guardrail: 'Must not get worse: a significant move the wrong way is a warning.',
    };
    return h('section', { class: 'card', 'data-step': 'metrics' }, h('h2', null, 'What should move'),
      ROLES.map(([role, label]) => {
        const list = d.metrics[role];
        return h('fieldset', { 'data-field': `metrics.${role}` }, h('legend', null, `${label} metrics`),
          h('p', { class: 'muted hint' }, hints[role]),
          list.length ? h('ol', { class: 'rows' }, list.map((m, i) => metricRow(role, list, m, i))) : null,
          list.length < 10 ? fx.addBtn(`Add ${role} metric`, () => { list.push(newMetric()); rerender(`metric-${role}-${list.length - 1}-event`); }, `metric-${role}-add`) : null);
      }));
  }

  function analysisStep() {
    const alpha = fx.numInput('alpha', d.alpha, (v) => { d.alpha = v; }, { 'data-testid': 'exp-alpha', min: 0.001, max: 0.5, step: 'any', class: 'narrow' });
    const layerOpts = [['', 'No layer'], ...(layers || []).map((l) => [String(l.id), l.name])];
    const shareRow = h('div', { class: 'inline wrap', hidden: !d.layer },
      field('Layer share from %', fx.numInput('layer.from', d.layer_from, (v) => { d.layer_from = v; }, { 'data-testid': 'exp-layer-from', class: 'narrow', min: 0, max: 100 })),
      field('to %', fx.numInput('layer.to', d.layer_to, (v) => { d.layer_to = v; }, { 'data-testid': 'exp-layer-to', class: 'narrow', min: 0, max: 100 })));
    return h('section', { class: 'card', 'data-step': 'analysis' }, h('h2', null, 'How to decide'),
      h('div', { class: 'inline wrap' },
        field('Method', fx.selectInput('method', METHODS, d.method, (v) => { d.method = v; }, { 'data-testid': 'exp-method' })),
        field('Significance level (α)', alpha),
        field('Multiple-comparison correction', fx.selectInput('correction', CORRECTIONS, d.correction, (v) => { d.correction = v; }, { 'data-testid': 'exp-correction' }))),
      h('label', { class: 'check' }, fx.checkbox('cuped.enabled', d.cuped, (v) => { d.cuped = v; }, { 'data-testid': 'exp-cuped' }),
        'CUPED: use each person\'s behaviour before exposure to reduce variance'),
      field('Mutually exclusive layer', fx.selectInput('layer.id', layerOpts, d.layer, (v) => { d.layer = v; shareRow.hidden = !v; }, { 'data-testid': 'exp-layer' }),
        'Experiments in one layer never share a person when their shares do not overlap.'),
      shareRow);
  }

  function reviewStep() {
    const { body } = experimentBody(d);
    const arms = body.variants ? body.variants.map((v) => `${v.key} ${Math.round(v.weight * 1000) / 10}%`).join(' / ') : `the variants of flag ${body.flag_key}`;
    const metrics = ROLES.flatMap(([role]) => (body.metrics[role] || []).map((m) => `${role}: ${m.kind} of ${m.event || '?'}${m.property ? ` ${m.property}` : ''} within ${m.window || '7d'}`));
    return h('section', { class: 'card', 'data-step': 'review' }, h('h2', null, 'Review'),
      h('dl', { class: 'kv-list' },
        h('dt', null, 'Name'), h('dd', null, body.name || '–'),
        h('dt', null, 'Hypothesis'), h('dd', null, body.hypothesis || '–'),
        h('dt', null, 'Stage'), h('dd', null, body.stage || '–'),
        h('dt', null, 'Arms'), h('dd', null, arms),
        h('dt', null, 'Metrics'), h('dd', null, h('ul', null, metrics.map((m) => h('li', null, m)))),
        h('dt', null, 'Analysis'), h('dd', null, `${body.method}, α ${body.alpha}, correction ${body.correction}, CUPED ${body.cuped.enabled ? 'on' : 'off'}`)),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn', 'data-testid': 'exp-create', onclick: () => create(false) }, 'Save as draft'),
        h('button', { type: 'button', class: 'btn primary', 'data-testid': 'exp-create-start', onclick: () => create(true) }, 'Create and start')));
  }

  const builders = { hypothesis: hypothesisStep, variants: variantsStep, metrics: metricsStep, analysis: analysisStep, review: reviewStep };

  function renderForm() {
    clear(stepList, STEPS.map(([k, label], i) => h('li', { 'aria-current': k === step ? 'step' : null }, `${i + 1}. ${label}`)));
    const idx = STEPS.findIndex(([k]) => k === step);
    clear(form, builders[step](),
      h('div', { class: 'form-actions' },
        idx > 0 ? h('button', { type: 'button', class: 'btn', 'data-testid': 'wizard-back', onclick: () => go(STEPS[idx - 1][0]) }, 'Back') : null,
        idx < STEPS.length - 1 ? h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'wizard-next' }, 'Next') : null),
      formError);
  }

  function go(next) {
    step = next;
    setError(formError, null);
    rerender();
    const first = form.querySelector('input, textarea, select');
    if (first) first.focus();
  }

  function showErrors(errors) {
    const list = firstErrorPerField(errors);
    if (!list.length) return false;
    const where = stepOf(list[0].field);
    if (where !== step) { step = where; renderForm(); }
    setError(formError, list.filter((e) => stepOf(e.field) === where).map((e) => `${e.field}: ${e.msg}`).join(' · '));
    for (const e of list) markField(form, e.field, formError);
    const bad = form.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
    return true;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearMarks(form);
    setError(formError, null);
    const { errors } = experimentBody(d);
    const here = errors.filter((x) => stepOf(x.field) === step);
    if (showErrors(here)) return;
    const idx = STEPS.findIndex(([k]) => k === step);
    go(STEPS[Math.min(idx + 1, STEPS.length - 1)][0]);
  });

  async function create(start) {
    clearMarks(form);
    setError(formError, null);
    const { body, errors } = experimentBody(d);
    if (showErrors(errors)) return;
    const btns = form.querySelectorAll('[data-testid^="exp-create"]');
    btns.forEach((b) => { b.disabled = true; });
    try {
      const created = await post(P(pid, '/experiments'), body, { signal: scope.signal });
      if (start) await post(P(pid, `/experiments/${created.id}/start`), {}, { signal: scope.signal });
      ctx.navigate(`#/p/${pid}/experiments/${created.id}`);
    } catch (err) {
      if (isAbort(err)) return;
      if (err.field) {
        const where = stepOf(err.field);
        if (where !== step) { step = where; renderForm(); }
      }
      setError(formError, err);
      markField(form, err.field, formError);
    } finally {
      btns.forEach((b) => { b.disabled = false; });
    }
  }

  // -------------------------------------------------------------- estimate

  let timer = 0;
  let ctrl = null;
  scope.add(() => clearTimeout(timer));
  form.addEventListener('input', () => scheduleEstimate());
  form.addEventListener('change', () => scheduleEstimate());
  function scheduleEstimate() {
    clearTimeout(timer);
    timer = setTimeout(estimate, 400);
  }
  async function estimate() {
    const arms = d.source === 'flag'
      ? ((mvFlags.find((f) => f.key === d.flag_key) || { filters: { multivariate: { variants: [] } } }).filters.multivariate.variants.length || 2)
      : d.variants.length;
    const body = estimateBody(d, arms);
    if (!body) {
      estimateHost.dataset.state = 'idle';
      const m = d.metrics.primary[0];
      clear(estimateHost, h('p', { class: 'muted small' }, m && m.kind !== 'conversion'
        ? 'The estimate plans conversion metrics: make the first primary metric a conversion to see how many persons and days it needs.'
        : 'Give the primary metric an event to estimate how many persons and days the experiment needs.'));
      return;
    }
    if (ctrl) ctrl.abort();
    const mine = new AbortController();
    ctrl = mine;
    estimateHost.dataset.state = 'loading';
    try {
      const est = await post(P(pid, '/experiments/estimate'), body, { signal: AbortSignal.any([scope.signal, mine.signal]) });
      if (ctrl !== mine) return;
      estimateHost.dataset.state = 'done';
      const days = Number(est.days);
      clear(estimateHost,
        h('p', null, h('span', { class: 'big', 'data-testid': 'estimate-days', 'data-value': String(est.days) }, Number.isFinite(days) && days > 0 ? `${Math.ceil(days)} days` : '–')),
        h('p', { class: 'small', 'data-testid': 'estimate-text' }, runtimeText(est)),
        h('p', { class: 'muted small' }, `${est.baseline == null ? '–' : fmtPct(est.baseline)} of the persons active in the last 30 days converted; ${body.arms} arms; detecting a ${d.mde}% lift with ${Math.round(body.power * 100)}% power at α ${body.alpha}.`));
    } catch (err) {
      if (isAbort(err)) return;
      estimateHost.dataset.state = 'error';
      clear(estimateHost, errorBox(err));
    }
  }

  renderForm();
  estimate();
  const first = form.querySelector('[data-testid="exp-name"]');
  if (first) first.focus();
}
