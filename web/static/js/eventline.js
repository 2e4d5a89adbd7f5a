// One readable line for the events the browser SDKs capture on their own
// ("clicked button 'Buy now'"), so a feed of $autocapture events says
// what people did. Pure functions (no DOM), unit-tested with node --test.

const MAX_LABEL = 60;

// Elements that people click; a click on an icon or a span inside one is
// described as a click on it.
const INTERACTIVE = new Set(['a', 'button', 'input', 'select', 'textarea', 'label', 'summary', 'option']);
const NOUNS = { a: 'link', img: 'image', select: 'dropdown', textarea: 'text area', summary: 'disclosure' };

// parseElementsChain reads PostHog's $elements_chain: elements from the
// clicked one outwards, separated by ";", each `tag.class1.class2:` then
// attributes `name="value"` with `\"` inside values.
export function parseElementsChain(chain) {
  if (typeof chain !== 'string' || chain === '') return [];
  return splitOutsideQuotes(chain, ';').map(parseElement).filter((e) => e.tag);
}

function splitOutsideQuotes(s, sep) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter(Boolean);
}

function parseElement(s) {
  // The selector ends at the ':' that starts the attributes (classes such
  // as "hover:underline" have colons too).
  const m = /:(?=[\w-]*=")/.exec(s);
  const colon = m ? m.index : -1;
  const selector = colon >= 0 ? s.slice(0, colon) : s;
  const [tag, ...classes] = selector.split('.');
  const attrs = {};
  const re = /([\w\-:]+)="((?:\\.|[^"\\])*)"/g;
  for (const m of (colon >= 0 ? s.slice(colon + 1) : '').matchAll(re)) {
    attrs[m[1]] = m[2].replace(/\\(.)/g, '$1');
  }
  return { tag: tag.trim().toLowerCase(), classes: classes.filter(Boolean), text: attrs.text || '', attrs };
}

// elementsOf reads an event's elements: $elements_chain, else the
// $elements array older posthog-js versions send.
export function elementsOf(props) {
  const chain = parseElementsChain(props.$elements_chain);
  if (chain.length || !Array.isArray(props.$elements)) return chain;
  return props.$elements.filter((e) => e && typeof e === 'object').map((e) => {
    const attrs = {};
    for (const [k, v] of Object.entries(e)) if (typeof v === 'string') attrs[k] = v;
    if (e.attr__href && !attrs.href) attrs.href = e.attr__href;
    return {
      tag: String(e.tag_name || '').toLowerCase(),
      classes: Array.isArray(e.classes) ? e.classes.map(String) : [],
      text: typeof e.$el_text === 'string' ? e.$el_text : (typeof e.text === 'string' ? e.text : ''),
      attrs,
    };
  }).filter((e) => e.tag);
}

// target is the index of the element a person meant: the clicked one, or
// the nearest interactive ancestor of an icon or a span.
function target(elements) {
  for (let i = 0; i < Math.min(elements.length, 4); i++) {
    if (INTERACTIVE.has(elements[i].tag) || isButtonRole(elements[i])) return i;
  }
  return 0;
}

function isButtonRole(e) {
  return ['button', 'link', 'menuitem', 'tab'].includes(e.attrs.attr__role || e.attrs.role);
}

// label names the target by its text, else its accessible name, else the
// text of what was clicked inside it, else (links) where it goes.
function label(e, inside) {
  const a = e.attrs;
  let text = e.text || a['attr__aria-label'] || a.attr__title || a.attr__alt || a.attr__placeholder || a.attr__name || '';
  if (!text) text = (inside.find((x) => x.text) || {}).text || '';
  if (!text && noun(e) === 'button') text = a.attr__value || ''; // <input type=submit> shows its value
  if (!text && e.tag === 'a') text = a.href || a.attr__href || '';
  return clip(text.replace(/\s+/g, ' ').trim());
}

function clip(s) {
  return s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s;
}

function noun(e) {
  if (e.tag === 'input') {
    const type = (e.attrs.attr__type || 'text').toLowerCase();
    return ['submit', 'button', 'reset'].includes(type) ? 'button' : ['checkbox', 'radio'].includes(type) ? type : 'input';
  }
  return NOUNS[e.tag] || e.tag;
}

// describeElement: "button 'Buy now'", "link '/cart'", "div".
export function describeElement(elements) {
  if (!elements.length) return '';
  const i = target(elements);
  const e = elements[i];
  const l = label(e, elements.slice(0, i));
  return l ? `${noun(e)} '${l}'` : noun(e);
}

const VERBS = { click: 'clicked', submit: 'submitted', change: 'changed' };

function autocapture(p) {
  const what = describeElement(elementsOf(p));
  const verb = VERBS[p.$event_type] || (p.$event_type ? String(p.$event_type) : 'clicked');
  return what ? `${verb} ${what}` : '';
}

function withElement(prefix, p) {
  const what = describeElement(elementsOf(p));
  return what ? `${prefix} ${what}` : prefix;
}

// Web vitals, in posthog-js's property names; CLS has no unit.
const VITALS = ['LCP', 'FCP', 'INP', 'CLS'];

function webVitals(p) {
  const parts = [];
  for (const name of VITALS) {
    const v = Number(p[`$web_vitals_${name}_value`]);
    if (p[`$web_vitals_${name}_value`] == null || !Number.isFinite(v)) continue;
    parts.push(name === 'CLS' ? `CLS ${round(v, 3)}` : `${name} ${v >= 1000 ? `${round(v / 1000, 2)} s` : `${Math.round(v)} ms`}`);
  }
  return parts.join(' · ');
}

function round(v, digits) {
  return String(Number(v.toFixed(digits)));
}

function exception(p) {
  const first = Array.isArray(p.$exception_list) ? p.$exception_list[0] : null;
  const type = (first && first.type) || p.$exception_type || 'Error';
  const msg = (first && first.value) || p.$exception_message || '';
  return clip(msg ? `${type}: ${msg}` : String(type));
}

function page(verb, p) {
  const where = p.$pathname || p.$current_url || p.$screen_name || '';
  return where ? `${verb} ${clip(String(where))}` : '';
}

// describeEvent is a short line saying what the event was, or '' when its
// name says it all.
export function describeEvent(e) {
  const p = (e && e.properties) || {};
  switch (e && e.event) {
    case '$autocapture': return autocapture(p);
    case '$rageclick': return withElement('rage-clicked', p);
    case '$dead_click': return withElement('dead click on', p);
    case '$web_vitals': return webVitals(p);
    case '$exception': return exception(p);
    case '$pageview': return page('viewed', p);
    case '$pageleave': return page('left', p);
    case '$screen': return page('viewed screen', p);
  }
  return '';
}
