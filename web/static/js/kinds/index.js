// The insight kinds (internal/insight), one module each in this folder,
// and the functions that pick the module of a spec. The builder
// (js/builder.js) composes a kind's form with the shared sections, the
// result renderer (js/render.js) draws its tables and chart, tiles name it.
//
// A kind module's default export:
//
//   kind       the spec's "kind"
//   label      its name in the kind picker and on tiles
//   builder    true: the builder offers it (false: runs as saved, no form)
//   breakdown  true: it takes a breakdown (the others answer 400 to one)
//   chartType  'line' or 'bar': its chart can be drawn as line, area or
//              bar and starts as this; absent: one fixed chart
//   view       the result view it opens with: 'chart' (retention's chart
//              is a table already); absent: 'both'
//   defaults(seed) → the kind's own fields of a new runnable spec. seed:
//              events [e0, e1] (the events to start from: those of the
//              spec the user switched from, then the project's most
//              frequent), known (the project's events), used (the old
//              spec's), withFilters(event) → {event, filters?} (a step's
//              or series' own filters follow its event)
//   normalize(spec) → spec, changed in place: a spec from elsewhere (a URL,
//              an old save) gets the lists the form edits
//   form(fx, spec) → the kind's form sections (an element or a list);
//              fx is the form context (js/form.js): its controls, rerender
//   name(spec) → a readable default name
//   tables(spec, res, ctx) → table models (kinds/common.js table()), for
//              the table view and CSV; ctx: onPersons(param), personHref(id)
//   chart(spec, res, ctx) → {option, onClick?, extra?} (ECharts), {html}
//              (an element), or null for none; ctx: type (line, area,
//              bar), onPersons
//   summary(spec, res) → the big number above the chart, or null (optional)
//   persons(spec), personsTitle(spec, param, who) (optional): the builder
//              lists the persons behind a result (funnels)
//
// Everything but form, chart's html and summary is free of the DOM, so
// node --test checks defaults, normalize, name and tables (web/jstest/).

import { presetRange, eventsOf } from '../spec.js';
import { table } from './common.js';
import funnel from './funnel.js';
import trend from './trend.js';
import retention from './retention.js';
import stickiness from './stickiness.js';
import lifecycle from './lifecycle.js';
import paths from './paths.js';
import kpi from './kpi.js';
import badDays from './bad_days.js';
import journey from './journey.js';
import sql from './sql.js';

// KINDS in the kind picker's order.
export const KINDS = [funnel, trend, retention, stickiness, lifecycle, paths, kpi, badDays, journey, sql];

const BY_KIND = new Map(KINDS.map((k) => [k.kind, k]));

// kindOf is the module of a kind name (undefined for an unknown one).
export const kindOf = (kind) => BY_KIND.get(kind);

export function kindLabel(kind) {
  const k = kindOf(kind);
  return k ? k.label : kind;
}

// defaultSpec builds a runnable spec of kind, keeping the range, filters,
// unit and breakdown of base and reusing its events (or the project's most
// frequent ones, known).
export function defaultSpec(kind, base = {}, known = [], now = Date.now()) {
  const used = eventsOf(base);
  const pool = [...used, ...known.filter((e) => !used.includes(e) && e !== '$identify')];
  const e0 = pool[0] || '$pageview';
  const e1 = pool[1] || e0;
  const range = base.from && base.to ? { from: base.from, to: base.to } : presetRange('30d', now);
  const common = { ...range };
  const k = kindOf(kind);
  if (base.filters && base.filters.length) common.filters = base.filters;
  if (base.breakdown && k && k.breakdown) common.breakdown = base.breakdown;
  if (base.unit) common.unit = base.unit;
  const withFilters = (event) => {
    const rows = [...(Array.isArray(base.steps) ? base.steps : []), ...(Array.isArray(base.series) ? base.series : [])];
    const src = rows.find((s) => s && s.event === event && Array.isArray(s.filters) && s.filters.length);
    return src ? { event, filters: JSON.parse(JSON.stringify(src.filters)) } : { event };
  };
  return { kind, ...(k ? k.defaults({ events: [e0, e1], known, used, withFilters }) : {}), ...common };
}

// normalizeSpec gives a spec from elsewhere (a URL, an old save) what the
// form edits, so a missing list does not break the page (in place).
export function normalizeSpec(spec) {
  if (!spec.kind) spec.kind = 'trend';
  const k = kindOf(spec.kind);
  if (k) k.normalize(spec);
  if (spec.filters && !Array.isArray(spec.filters)) delete spec.filters;
  return spec;
}

// autoName gives an unsaved insight a readable default name.
export function autoName(spec) {
  const k = kindOf(spec.kind);
  return k ? k.name(spec) : spec.kind || 'Insight';
}

// tablesFor: the table models of a result (the kind the answer says, else
// the spec's).
export function tablesFor(spec, res, ctx = {}) {
  const k = kindOf(res.kind || spec.kind);
  return k ? k.tables(spec, res, ctx) : [table(null, ['Result'], [[JSON.stringify(res)]], ['text'])];
}

// chartFor: the chart of a result (see chart above), null for none.
export function chartFor(spec, res, ctx = {}) {
  const k = kindOf(res.kind || spec.kind);
  return k ? k.chart(spec, res, ctx) : null;
}

// summaryFor: the big number some kinds show, or null.
export function summaryFor(spec, res) {
  const k = kindOf(res.kind || spec.kind);
  return k && k.summary ? k.summary(spec, res) : null;
}
