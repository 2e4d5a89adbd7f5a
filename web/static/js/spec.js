// Insight specs (SPEC §4, internal/insight): date ranges, the events a
// spec uses, actions in event pickers, and the URLs the builder is opened
// with. What differs by kind (defaults, names, tables) is in kinds/.

const DAY = 24 * 3600 * 1000;

export const PRESETS = [['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['90d', 'Last 90 days'], ['180d', 'Last 180 days']];

// presetRange('30d') → {from, to} ending now (rounded up to the minute so
// the range is stable within a minute and `to`, exclusive, covers now).
export function presetRange(preset, now = Date.now()) {
  const days = parseInt(preset, 10) || 30;
  const to = Math.ceil(now / 60000) * 60000;
  return { from: new Date(to - days * DAY).toISOString(), to: new Date(to).toISOString() };
}

// presetOf tells which preset a spec's range matches ('' for custom).
export function presetOf(spec) {
  if (!spec.from || !spec.to) return '';
  const days = (Date.parse(spec.to) - Date.parse(spec.from)) / DAY;
  const p = PRESETS.find(([v]) => Math.abs(parseInt(v, 10) - days) < 0.01);
  return p ? p[0] : '';
}

// withRange replaces from/to when a dashboard range ('7d'…) is set.
export function withRange(spec, range) {
  if (!range) return spec;
  return { ...spec, ...presetRange(range) };
}

// localDate formats an RFC 3339 time as YYYY-MM-DD in the browser's zone
// (for <input type=date>).
export function localDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// fromLocalDate('2026-01-05', 1) → RFC 3339 of local midnight (plus days).
export function fromLocalDate(s, plusDays = 0) {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

export function rangeText(spec) {
  const p = presetOf(spec);
  if (p) return PRESETS.find(([v]) => v === p)[1];
  if (!spec.from || !spec.to) return '';
  const to = new Date(Date.parse(spec.to) - 1);
  return `${localDate(spec.from)} – ${localDate(to.toISOString())}`;
}

// eventsOf lists the event names a spec uses, in order, to seed another
// kind when the user switches (kinds/index.js defaultSpec).
export function eventsOf(spec) {
  const out = [];
  const add = (e) => { if (e && !out.includes(e)) out.push(e); };
  // (paths' steps is a number, not a list)
  for (const s of Array.isArray(spec.steps) ? spec.steps : []) add(s && s.event);
  for (const s of Array.isArray(spec.series) ? spec.series : []) add(s && s.event);
  if (spec.start) add(spec.start.event);
  if (spec.return) add(spec.return.event);
  add(spec.event);
  if (spec.end) add(spec.end.event);
  for (const c of (spec.denominator && spec.denominator.conditions) || []) add(c.event);
  for (const c of (spec.numerator && spec.numerator.conditions) || []) add(c.event);
  for (const b of Array.isArray(spec.bad) ? spec.bad : []) add(b && b.event);
  return out;
}

// Actions (PostHog's named matchers) stand where an event can, as
// {"action": id}. The builder's event pickers offer them as
// "action #12 · Clicked buy".
const ACTION_PICK = /^action #(\d+)(?:\s|$)/;

// actionId is the id of the action a place names (null for an event).
export function actionId(x) {
  if (!x) return null;
  const a = x.action ?? x.action_id;
  if (a == null) return null;
  return typeof a === 'object' ? (a.id ?? null) : a;
}

// actionPick is how a picker shows an action.
export function actionPick(action) {
  return `action #${action.id} · ${action.name}`;
}

// pickText is what a picker shows for a place: its event, or its action
// (by name when the project's actions are known).
export function pickText(x, actions = []) {
  const id = actionId(x);
  if (id == null) return (x && x.event) || '';
  const a = actions.find((y) => String(y.id) === String(id));
  return a ? actionPick(a) : `action #${id}`;
}

// applyPick writes a picker's text into a place: an action when it reads
// "action #<id>…", else an event name.
export function applyPick(x, text) {
  const m = ACTION_PICK.exec(text);
  delete x.action;
  delete x.action_id;
  if (m) {
    delete x.event;
    x.action = Number(m[1]);
  } else {
    x.event = text;
  }
  return x;
}

export function insightURL(pid, spec) {
  return `#/p/${pid}/insight?spec=${encodeURIComponent(JSON.stringify(spec))}`;
}

// specOf returns a saved insight's spec as an object (tolerating a server
// that sends it as a JSON string).
export function specOf(insight) {
  const s = insight && insight.spec;
  if (typeof s === 'string') {
    try { return JSON.parse(s); } catch { return {}; }
  }
  return s || {};
}
