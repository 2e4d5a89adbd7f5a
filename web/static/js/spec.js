// Insight specs (SPEC §4, internal/insight): date ranges, defaults for each
// kind, readable names, and the URLs the builder is opened with.

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
// kind when the user switches.
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

// Kinds that accept a breakdown (the others answer 400 to one).
export const BREAKDOWN_KINDS = new Set(['funnel', 'trend', 'retention', 'journey']);

// defaultSpec builds a runnable spec of kind, keeping the range and filters
// of base and reusing its events (or the project's most frequent ones).
export function defaultSpec(kind, base = {}, known = []) {
  const used = eventsOf(base);
  const pool = [...used, ...known.filter((e) => !used.includes(e) && e !== '$identify')];
  const e0 = pool[0] || '$pageview';
  const e1 = pool[1] || e0;
  const range = base.from && base.to ? { from: base.from, to: base.to } : presetRange('30d');
  const common = { ...range };
  if (base.filters && base.filters.length) common.filters = base.filters;
  if (base.breakdown && BREAKDOWN_KINDS.has(kind)) common.breakdown = base.breakdown;
  if (base.unit) common.unit = base.unit;
  // A funnel step's or trend series' own filters follow its event
  // between the two kinds.
  const withFilters = (event) => {
    const rows = [...(Array.isArray(base.steps) ? base.steps : []), ...(Array.isArray(base.series) ? base.series : [])];
    const src = rows.find((s) => s && s.event === event && Array.isArray(s.filters) && s.filters.length);
    return src ? { event, filters: JSON.parse(JSON.stringify(src.filters)) } : { event };
  };
  switch (kind) {
    case 'funnel':
      return { kind, steps: [withFilters(e0), withFilters(e1)], window: '14d', order: 'ordered', ...common };
    case 'trend':
      return { kind, series: [{ ...withFilters(e0), math: 'total' }], interval: 'day', ...common };
    case 'retention':
      return { kind, start: { event: e0 }, return: { event: e1 }, period: 'week', periods: 8, mode: 'first_time', ...common };
    case 'stickiness':
      return { kind, series: [{ event: e0 }], interval: 'day', ...common };
    case 'lifecycle':
      return { kind, event: e0, interval: 'day', ...common };
    case 'paths':
      return { kind, start: { event: e0 }, steps: 5, ...common };
    case 'kpi':
      return {
        kind,
        denominator: { conditions: [{ event: e0, first_time: true }] },
        numerator: { conditions: [{ event: e1 }] },
        interval: 'month',
        ...common,
      };
    case 'bad_days': {
      const bad = known.includes('$exception') ? '$exception' : (used.includes('$exception') ? '$exception' : e0);
      return { kind, bad: [{ event: bad }], ...common };
    }
    case 'journey':
      return { kind, ...common };
    default:
      return { kind, ...common };
  }
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

// autoName gives an unsaved insight a readable default name.
export function autoName(spec) {
  const ev = (x) => (x && (x.event || (actionId(x) != null ? `action #${actionId(x)}` : ''))) || '?';
  switch (spec.kind) {
    case 'funnel': return `Funnel: ${(spec.steps || []).map(ev).join(' → ')}`;
    case 'trend': return `Trend: ${(spec.series || []).map((s) => `${s.math && s.math !== 'total' ? `${s.math.toUpperCase()} ` : ''}${ev(s)}`).join(', ')}`;
    case 'retention': return `Retention: ${ev(spec.start)} → ${ev(spec.return)} (${spec.period || 'day'})`;
    case 'stickiness': return `Stickiness: ${(spec.series || []).map(ev).join(', ')}`;
    case 'lifecycle': return `Lifecycle: ${ev(spec)}`;
    case 'paths': return spec.end ? `Paths to ${ev(spec.end)}` : spec.start ? `Paths from ${ev(spec.start)}` : 'Paths';
    case 'kpi': return 'KPI';
    case 'bad_days': return `Bad days: ${(spec.bad || []).map(ev).join(', ')}`;
    case 'journey': return 'Customer journey';
    default: return spec.kind || 'Insight';
  }
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
