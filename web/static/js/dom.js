// Small DOM and formatting helpers shared by every page. No framework: pages
// build elements with h() and replace them wholesale when data changes.

// h('a', {href: '#/x', class: 'btn', onclick: fn, 'data-testid': 't'}, 'text', child…)
// Attributes: on* functions become listeners; true/false toggle boolean
// attributes; null/undefined/false children are skipped; arrays are flattened.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'class') {
        el.className = v;
      } else if (k === 'value' && 'value' in el) {
        el.value = v; // property, so selects and inputs show it
      } else if (k === 'checked' || k === 'selected') {
        el[k] = !!v;
      } else if (k === 'style' && typeof v === 'object') {
        for (const [sk, sv] of Object.entries(v)) {
          if (sk.startsWith('--')) el.style.setProperty(sk, sv); // custom properties
          else el.style[sk] = sv;
        }
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// clear(el, …children) empties el and adds the children.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;
// uid gives ids to tie <label for> to inputs built in loops.
export function uid(prefix = 'f') {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// field wraps a control with a visible label (every input gets one, for
// screen readers and for clicking).
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid();
  return h('div', { class: 'field' },
    h('label', { for: control.id }, labelText),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

// select(options, value, attrs): options are [value, label] pairs or strings.
export function select(options, value, attrs = {}) {
  const el = h('select', attrs);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    el.append(h('option', { value: v }, label));
  }
  el.value = value ?? '';
  return el;
}

// datalist builds a <datalist> of suggestions; items are {value, label}.
export function datalist(id, items) {
  const dl = h('datalist', { id });
  for (const it of items) dl.append(h('option', { value: it.value, label: it.label ?? it.value }));
  return dl;
}

// errorBox shows an API error in plain words next to what failed.
export function errorBox(err) {
  if (!err) return h('p', { class: 'error', role: 'alert', hidden: true });
  return h('p', { class: 'error', role: 'alert' }, messageOf(err));
}

export function setError(box, err) {
  box.hidden = !err;
  box.textContent = err ? messageOf(err) : '';
}

export function messageOf(err) {
  if (!err) return '';
  if (typeof err === 'string') return err;
  return err.message || String(err);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const nfInt = new Intl.NumberFormat();

export function fmtNum(v) {
  if (v == null || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? nfInt.format(v) : nf.format(v);
}

// fmtPct formats a ratio (0.071 → "7.1%").
export function fmtPct(ratio, digits = 1) {
  if (ratio == null || !Number.isFinite(ratio)) return '–';
  return `${(ratio * 100).toFixed(digits)}%`;
}

export function fmtDuration(seconds) {
  if (seconds == null) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}

export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}

// csvCell quotes a value for RFC 4180 CSV.
function csvCell(v) {
  if (v == null) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// downloadCSV saves columns + rows as a file, built in the browser.
export function downloadCSV(filename, columns, rows) {
  const text = [columns, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // Revoke later: revoking at once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// copyButton copies the text of getText() and says so on the button.
export function copyButton(getText, label = 'Copy', attrs = {}) {
  const btn = h('button', { type: 'button', class: 'btn small', ...attrs }, label);
  btn.addEventListener('click', async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const ta = h('textarea', { style: { position: 'fixed', opacity: '0' } });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { document.execCommand('copy'); } catch { /* nothing more to try */ }
      ta.remove();
    }
    btn.textContent = 'Copied';
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
  return btn;
}

// codeBlock is a <pre> with a copy button.
export function codeBlock(text, testid) {
  return h('div', { class: 'code' },
    h('pre', { 'data-testid': testid }, h('code', null, text)),
    copyButton(() => text, 'Copy', { 'aria-label': 'Copy code' }));
}

// Scope collects what a page started (fetches, charts, timers, event
// sources) so the router can stop all of it when the route changes.
export class Scope {
  constructor() {
    this.ctrl = new AbortController();
    this.cleanups = [];
    this.disposed = false;
  }
  get signal() { return this.ctrl.signal; }
  add(fn) {
    if (this.disposed) fn();
    else this.cleanups.push(fn);
    return fn;
  }
  interval(fn, ms) {
    const id = setInterval(fn, ms);
    this.add(() => clearInterval(id));
    return id;
  }
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.ctrl.abort();
    for (const fn of this.cleanups.splice(0).reverse()) {
      try { fn(); } catch (e) { console.error(e); }
    }
  }
}

// isAbort tells fetch cancellations (route changed) from real errors.
export function isAbort(err) {
  return err && (err.name === 'AbortError' || err.aborted);
}
