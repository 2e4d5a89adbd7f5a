// Actions (#/p/{pid}/actions): PostHog's named event matchers. An action
// has steps, OR'd together; a step is an event name (usually
// $autocapture) with optional conditions on the clicked element's text,
// CSS selector, link target and the page URL. Actions can be used wherever
// an insight takes an event. A step can be made from a recent
// autocaptured click. The pure functions at the top are unit-tested with
// node --test (web/jstest/).

import { h, clear, field, select, errorBox, setError, loading, isAbort } from './dom.js';
import { get, post, put, del, P } from './api.js';
import { elementsOf, describeElement } from './eventline.js';
import { markField, clearMarks } from './form.js';

export const MATCHING = [['exact', 'equals'], ['contains', 'contains'], ['regex', 'matches regex']];
const STEP_EVENTS = [['$autocapture', 'Autocaptured click'], ['$pageview', 'Page view'], ['$rageclick', 'Rage click'], ['$dead_click', 'Dead click']];
const INTERACTIVE = new Set(['a', 'button', 'input', 'select', 'textarea', 'label', 'summary', 'option']);

// cssEscape writes a class or id so the selector parser reads it back
// (Tailwind's w-1/2 as w-1\/2).
export function cssEscape(s) {
  return String(s).replace(/[^A-Za-z0-9_\-\u0080-\uFFFF]/g, (c) => `\\${c}`);
}

// targetIndex is the element a person meant: the clicked one, or the
// nearest interactive ancestor of an icon or span inside it.
export function targetIndex(elements) {
  for (let i = 0; i < Math.min(elements.length, 4); i++) {
    if (INTERACTIVE.has(elements[i].tag)) return i;
  }
  return 0;
}

// elementSelector: tag#id, else tag.class.class; '' for no element.
function elementSelector(e) {
  if (!e) return '';
  const id = e.attrs.attr_id || e.attrs.attr__id;
  if (id) return `${e.tag}#${cssEscape(id)}`;
  return e.tag + e.classes.map((c) => `.${cssEscape(c)}`).join('');
}

// selectorOf suggests a selector for a click: its target element, under
// its parent ("div.card > button") when the target has no id or class.
export function selectorOf(elements) {
  if (!elements.length) return '';
  const i = targetIndex(elements);
  const e = elements[i];
  const own = elementSelector(e);
  const bare = !(e.attrs.attr_id || e.attrs.attr__id) && e.classes.length === 0;
  return bare && elements[i + 1] ? `${elementSelector(elements[i + 1])} > ${own}` : own;
}

// stepFromClick turns a recent click's properties into a step: its text,
// selector and page prefilled (the user trims what should not count).
export function stepFromClick(props) {
  const elements = elementsOf(props || {});
  const step = { event: '$autocapture' };
  const i = targetIndex(elements);
  const withText = elements.slice(0, i + 1).find((e) => e.text);
  if (withText) step.text = withText.text.trim();
  const sel = selectorOf(elements);
  if (sel) step.selector = sel;
  if (typeof props?.$current_url === 'string' && props.$current_url) step.url = props.$current_url;
  return step;
}

// cleanStep drops empty conditions and the matching of absent ones, so
// what is saved is what the form shows.
export function cleanStep(step) {
  const out = { event: (step.event || '').trim() };
  for (const k of ['text', 'href', 'url', 'selector', 'tag_name']) {
    const v = typeof step[k] === 'string' ? step[k].trim() : '';
    if (v) out[k] = v;
  }
  for (const k of ['text', 'href', 'url']) {
    if (out[k] && step[`${k}_matching`]) out[`${k}_matching`] = step[`${k}_matching`];
  }
  if (Array.isArray(step.filters) && step.filters.length) out.filters = step.filters;
  return out;
}

// stepSummary: "Autocaptured click where text equals 'Buy now' and …".
export function stepSummary(step) {
  const ev = (STEP_EVENTS.find(([v]) => v === step.event) || [])[1] || step.event || '?';
  const verb = (k, def) => (MATCHING.find(([v]) => v === (step[`${k}_matching`] || def)) || [])[1];
  const parts = [];
  if (step.text) parts.push(`text ${verb('text', 'exact')} '${step.text}'`);
  if (step.selector) parts.push(`element matches ${step.selector}`);
  if (step.tag_name) parts.push(`tag is ${step.tag_name}`);
  if (step.href) parts.push(`link ${verb('href', 'exact')} '${step.href}'`);
  if (step.url) parts.push(`URL ${verb('url', 'contains')} '${step.url}'`);
  if (step.filters && step.filters.length) parts.push(`${step.filters.length} filter${step.filters.length === 1 ? '' : 's'}`);
  return parts.length ? `${ev} where ${parts.join(' and ')}` : ev;
}

// ---------------------------------------------------------------- page

export default async function actionsPage(ctx) {
  const { pid, main, scope } = ctx;
  const listHost = h('div', null, loading('Loading actions…'));
  const editorHost = h('div');
  clear(main, h('div', { class: 'page-head' }, h('h1', null, 'Actions'),
    ctx.canWrite ? h('button', { type: 'button', class: 'btn primary', 'data-testid': 'new-action', onclick: () => edit(null) }, 'New action') : null),
  h('p', { class: 'muted' }, 'An action names what people do — “clicked Buy now”, “viewed pricing” — by the events and elements it matches. Use it in any insight where an event goes.'),
  editorHost, listHost);

  async function refresh() {
    try {
      const list = await get(P(pid, '/actions'), { signal: scope.signal }) || [];
      if (!list.length) {
        clear(listHost, h('p', { class: 'muted empty' }, 'No actions yet.'));
        return;
      }
      clear(listHost, h('ul', { class: 'dash-list', 'data-testid': 'action-list' }, list.map((a) => h('li', { class: 'card', 'data-testid': 'action-item' },
        h('strong', null, a.name), ' ',
        h('span', { class: 'muted small' }, `#${a.id}`),
        a.description ? h('p', { class: 'muted small' }, a.description) : null,
        h('ul', { class: 'small' }, (a.steps || []).map((st, i) => h('li', null, i > 0 ? 'or ' : '', stepSummary(st)))),
        h('div', { class: 'form-actions' },
          h('a', { class: 'btn small', href: `#/p/${pid}/insight?spec=${encodeURIComponent(JSON.stringify({ kind: 'trend', series: [{ action: a.id, math: 'total' }], interval: 'day' }))}` }, 'Trend'),
          ctx.canWrite ? h('button', { type: 'button', class: 'btn small', 'data-testid': 'edit-action', onclick: () => edit(a) }, 'Edit') : null,
          ctx.canWrite ? h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'delete-action', onclick: () => remove(a) }, 'Delete') : null)))));
    } catch (e) {
      if (!isAbort(e)) clear(listHost, errorBox(e));
    }
  }

  async function remove(a) {
    if (!window.confirm(`Delete the action “${a.name}”? Insights that use it will stop running.`)) return;
    try {
      await del(P(pid, `/actions/${a.id}`));
      refresh();
    } catch (e) {
      if (!isAbort(e)) clear(listHost, errorBox(e));
    }
  }

  function edit(a) {
    const draft = a ? JSON.parse(JSON.stringify({ name: a.name, description: a.description || '', steps: a.steps || [] }))
      : { name: '', description: '', steps: [{ event: '$autocapture' }] };
    if (!draft.steps.length) draft.steps.push({ event: '$autocapture' });
    const err = errorBox();
    const stepsHost = h('div', { 'data-field': 'steps' });
    const clicksHost = h('div', { class: 'clicks' });
    const nameIn = h('input', { type: 'text', required: true, value: draft.name, 'data-testid': 'action-name', 'data-field': 'name', placeholder: 'e.g. Clicked Buy now' });
    nameIn.addEventListener('input', () => { draft.name = nameIn.value; });
    const descIn = h('input', { type: 'text', value: draft.description, 'data-testid': 'action-description', 'data-field': 'description' });
    descIn.addEventListener('input', () => { draft.description = descIn.value; });
    const form = h('form', { class: 'card', 'data-testid': 'action-form' },
      h('h2', null, a ? `Edit “${a.name}”` : 'New action'),
      field('Name', nameIn), field('Description (optional)', descIn),
      stepsHost,
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn small', 'data-testid': 'add-step', onclick: () => { draft.steps.push({ event: '$autocapture' }); renderSteps(); } }, '+ Add step (or)'),
        h('button', { type: 'button', class: 'btn small', 'data-testid': 'from-click', onclick: () => showClicks() }, 'Define from a recent click')),
      clicksHost, err,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'save-action' }, 'Save'),
        h('button', { type: 'button', class: 'btn', onclick: () => clear(editorHost) }, 'Cancel')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      clearMarks(form);
      const body = { name: draft.name.trim(), description: draft.description.trim(), steps: draft.steps.map(cleanStep) };
      if (!body.name) { setError(err, 'Give the action a name.'); nameIn.focus(); return; }
      try {
        if (a) await put(P(pid, `/actions/${a.id}`), body);
        else await post(P(pid, '/actions'), body);
        clear(editorHost);
        refresh();
      } catch (e2) {
        if (isAbort(e2)) return;
        setError(err, e2);
        markField(form, e2.field, err); // the control of the field the 400 names
      }
    });

    // Step controls carry data-field, the body path they edit (steps[0].text).
    function text(step, i, k, label, testid) {
      const el = h('input', { type: 'text', value: step[k] || '', spellcheck: 'false', 'data-testid': testid, 'data-field': `steps[${i}].${k}` });
      el.addEventListener('input', () => { step[k] = el.value; });
      return field(label, el);
    }
    function matching(step, i, k, def, testid) {
      const el = select(MATCHING, step[`${k}_matching`] || def, { 'data-testid': testid, 'data-field': `steps[${i}].${k}_matching` });
      el.addEventListener('change', () => { step[`${k}_matching`] = el.value; });
      return field('Matching', el);
    }
    function renderSteps() {
      clear(stepsHost, draft.steps.map((st, i) => {
        const ev = h('input', { type: 'text', list: 'action-step-events', value: st.event || '', required: true, 'data-testid': `step-event-${i}`, 'data-field': `steps[${i}].event` });
        ev.addEventListener('input', () => { st.event = ev.value.trim(); });
        return h('fieldset', { class: 'step', 'data-testid': `action-step-${i}`, 'data-field': `steps[${i}]` },
          h('legend', null, i === 0 ? 'Step 1' : `Or step ${i + 1}`),
          h('datalist', { id: 'action-step-events' }, STEP_EVENTS.map(([v, l]) => h('option', { value: v, label: l }))),
          field('Event', ev),
          h('div', { class: 'inline' }, text(st, i, 'text', 'Element text', `step-text-${i}`), matching(st, i, 'text', 'exact', `step-text-matching-${i}`)),
          text(st, i, 'selector', 'CSS selector (tag, .class, #id, [attr="v"], :nth-child(n), descendant and >)', `step-selector-${i}`),
          h('div', { class: 'inline' }, text(st, i, 'href', 'Link target (href)', `step-href-${i}`), matching(st, i, 'href', 'exact', `step-href-matching-${i}`)),
          h('div', { class: 'inline' }, text(st, i, 'url', 'Page URL', `step-url-${i}`), matching(st, i, 'url', 'contains', `step-url-matching-${i}`)),
          draft.steps.length > 1 ? h('button', { type: 'button', class: 'btn small', 'data-testid': `remove-step-${i}`, onclick: () => { draft.steps.splice(i, 1); renderSteps(); } }, 'Remove step') : null);
      }));
    }

    async function showClicks() {
      clear(clicksHost, loading('Loading recent clicks…'));
      try {
        const clicks = await get(P(pid, '/recent-clicks'), { signal: scope.signal }) || [];
        if (!clicks.length) {
          clear(clicksHost, h('p', { class: 'muted' }, 'No autocaptured clicks yet. With posthog-js pointed at Journey, clicks show up here.'));
          return;
        }
        clear(clicksHost, h('ul', { class: 'rows', 'data-testid': 'recent-clicks' }, clicks.map((c, k) => {
          const step = stepFromClick(c);
          return h('li', { class: 'row wrap' },
            h('span', null, `clicked ${describeElement(elementsOf(c)) || 'an element'}`),
            h('span', { class: 'muted small' }, ` ${c.$current_url || ''}`),
            h('button', {
              type: 'button', class: 'btn small', 'data-testid': `use-click-${k}`,
              onclick: () => {
                const last = draft.steps[draft.steps.length - 1];
                const empty = last && !cleanStep(last).text && !cleanStep(last).selector && !cleanStep(last).url && !cleanStep(last).href;
                if (empty) draft.steps[draft.steps.length - 1] = step;
                else draft.steps.push(step);
                if (!draft.name.trim() && step.text) { draft.name = `Clicked ${step.text}`; nameIn.value = draft.name; }
                renderSteps();
                clear(clicksHost);
              },
            }, 'Use'));
        })));
      } catch (e) {
        if (!isAbort(e)) clear(clicksHost, errorBox(e));
      }
    }

    renderSteps();
    clear(editorHost, form);
    nameIn.focus();
  }

  await refresh();
  if (ctx.query && ctx.query.get && ctx.query.get('new') && ctx.canWrite) edit(null);
}
