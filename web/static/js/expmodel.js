// Experiments in the pages' terms, no DOM (node --test imports it): the
// wizard's draft and the body it posts (/experiments, /experiments/
// estimate), results as rows to show (effects, intervals, p-values or
// chances to win, verdicts), the geometry of a confidence-interval bar,
// exposures as chart series, and the learning archive's query string.
// Field paths in errors are the server's (variants[1].weight,
// metrics.primary[0].event), so both mark the same control.

import { validKey, evenShares, sumShares } from './flagmodel.js';

export const METHODS = [['frequentist', 'Frequentist (t-test)'], ['bayesian', 'Bayesian (chance to win)'], ['sequential', 'Sequential (peek any time)']];
export const CORRECTIONS = [['holm', 'Holm'], ['bh', 'Benjamini–Hochberg'], ['none', 'None']];
export const METRIC_KINDS = [['conversion', 'Conversion (did it)'], ['count', 'Count per person'], ['sum', 'Sum of a property'], ['mean', 'Mean of a property']];
export const ROLES = [['primary', 'Primary'], ['secondary', 'Secondary'], ['guardrail', 'Guardrail']];
export const OUTCOMES = [['', 'Any outcome'], ['won', 'Won'], ['lost', 'Lost'], ['inconclusive', 'Inconclusive']];
export const DECISIONS = [['won', 'Won: ship a variant'], ['lost', 'Lost: keep control'], ['inconclusive', 'Inconclusive']];
export const STAGE_NAMES = ['Reach', 'Acquisition', 'Activation', 'Retention', 'Loyalty'];

export function newMetric(event = '') {
  return { name: '', kind: 'conversion', event, property: '', window: '7d', lower_is_better: false };
}

export function newExperiment() {
  return {
    name: '', hypothesis: '', stage: '',
    source: 'new', flag_key: '',
    variants: [{ key: 'control', weight: 50 }, { key: 'test', weight: 50 }],
    metrics: { primary: [newMetric()], secondary: [], guardrail: [] },
    method: 'frequentist', alpha: 0.05, correction: 'holm', cuped: true,
    layer: '', layer_from: 0, layer_to: 100,
    mde: 5, power: 0.8,
  };
}

// slugKey suggests a flag key from a name: "New checkout!" → "new-checkout".
export function slugKey(name) {
  return String(name ?? '').toLowerCase().normalize('NFKD').replace(/[^\w\s-]/g, '').trim()
    .replace(/[\s_]+/g, '-').replace(/-+/g, '-').slice(0, 60);
}

// metricBody turns a metric draft into an insight.ExperimentMetric (with
// lower_is_better): {metric, errors}; path is metrics.<role>[i].
export function metricBody(m, path) {
  const errors = [];
  const kind = m.kind || 'conversion';
  const out = { kind };
  const event = String(m.event ?? '').trim();
  if (!event) errors.push({ field: `${path}.event`, msg: 'give the event this metric counts' });
  out.event = event;
  if (m.name && String(m.name).trim()) out.name = String(m.name).trim();
  if (kind === 'sum' || kind === 'mean') {
    const p = String(m.property ?? '').trim();
    if (!p) errors.push({ field: `${path}.property`, msg: `a ${kind} needs the numeric property it adds up` });
    out.property = p;
  }
  const w = String(m.window ?? '').trim();
  if (w) {
    if (!/^\d+(\.\d+)?[mhdw]$/.test(w)) errors.push({ field: `${path}.window`, msg: 'a window is like 24h, 7d or 2w' });
    out.window = w;
  }
  if (m.lower_is_better) out.lower_is_better = true;
  return { metric: out, errors };
}

// validateWeights checks the arms of a new flag (percentages summing to
// 100): errors name variants[i].key / .weight, or variants.
export function validateWeights(variants) {
  const errors = [];
  if (!Array.isArray(variants) || variants.length < 2) {
    return { ok: false, sum: sumShares([]), errors: [{ field: 'variants', msg: 'a control and at least one treatment are needed' }] };
  }
  const seen = new Set();
  variants.forEach((v, i) => {
    const key = String(v.key ?? '').trim();
    if (!key) errors.push({ field: `variants[${i}].key`, msg: 'give the variant a key' });
    else if (!validKey(key)) errors.push({ field: `variants[${i}].key`, msg: "a key is letters, digits, '-' or '_'" });
    else if (seen.has(key)) errors.push({ field: `variants[${i}].key`, msg: `“${key}” is used twice` });
    seen.add(key);
    const w = Number(v.weight);
    if (v.weight === '' || v.weight == null || !Number.isFinite(w) || w <= 0 || w > 100) errors.push({ field: `variants[${i}].weight`, msg: 'a weight is a share above 0 and up to 100%' });
  });
  const sum = sumShares(variants.map((v) => ({ rollout_percentage: v.weight })));
  if (!errors.some((e) => e.field.endsWith('.weight')) && Math.abs(sum - 100) > 1e-9) {
    errors.push({ field: 'variants', msg: `the weights must sum to 100%, not ${sum}%` });
  }
  return { ok: errors.length === 0, sum, errors };
}

export { evenShares };

// experimentBody turns the wizard's draft into the POST /experiments
// body: {body, errors}.
export function experimentBody(d) {
  const errors = [];
  const name = String(d.name ?? '').trim();
  if (!name) errors.push({ field: 'name', msg: 'give the experiment a name' });
  const body = { name, hypothesis: String(d.hypothesis ?? '').trim(), stage: String(d.stage ?? '').trim() };
  // flag_key is the flag run on, or (with variants) the one to create.
  const flagKey = String(d.flag_key ?? '').trim();
  if (!flagKey) errors.push({ field: 'flag_key', msg: d.source === 'flag' ? 'choose the flag the experiment runs on' : 'give the key of the flag to create' });
  else if (!validKey(flagKey)) errors.push({ field: 'flag_key', msg: "a key is letters, digits, '-' or '_'" });
  body.flag_key = flagKey;
  if (d.source !== 'flag') {
    const w = validateWeights(d.variants);
    errors.push(...w.errors);
    body.variants = (d.variants || []).map((v) => ({ key: String(v.key ?? '').trim(), weight: Number(v.weight) / 100 }));
  }
  body.metrics = {};
  for (const [role] of ROLES) {
    body.metrics[role] = (d.metrics[role] || []).map((m, i) => {
      const r = metricBody(m, `metrics.${role}[${i}]`);
      errors.push(...r.errors);
      return r.metric;
    });
  }
  if (!body.metrics.primary.length) errors.push({ field: 'metrics.primary', msg: 'at least one primary metric decides the experiment' });
  body.method = d.method || 'frequentist';
  const alpha = Number(d.alpha);
  if (!Number.isFinite(alpha) || alpha <= 0 || alpha > 0.5) errors.push({ field: 'alpha', msg: 'a significance level is above 0 and at most 0.5' });
  body.alpha = alpha;
  body.correction = d.correction || 'holm';
  body.cuped = { enabled: d.cuped !== false };
  if (d.layer) {
    const from = Number(d.layer_from) / 100;
    const to = Number(d.layer_to) / 100;
    if (!(from >= 0 && from < 1)) errors.push({ field: 'layer.from', msg: 'a share start is 0 to under 100%' });
    if (!(to > from && to <= 1)) errors.push({ field: 'layer.to', msg: 'a share end is above its start and at most 100%' });
    body.layer = { id: Number(d.layer), from, to };
  }
  return { body, errors };
}

// estimateBody is the POST /experiments/estimate body for the draft's
// first primary metric, or null while it cannot be estimated (the server
// plans conversion metrics only). On an existing flag, its exposures are
// the traffic.
export function estimateBody(d, arms) {
  const m = (d.metrics.primary || [])[0];
  if (!m || (m.kind || 'conversion') !== 'conversion') return null;
  const r = metricBody(m, 'metrics.primary[0]');
  if (r.errors.length) return null;
  const { lower_is_better: _lower, ...metric } = r.metric;
  const mde = Number(d.mde) / 100;
  const alpha = Number(d.alpha);
  const power = Number(d.power);
  if (!(mde > 0) || !(alpha > 0 && alpha < 1) || !(power > 0 && power < 1)) return null;
  const out = { metric, mde, relative: true, arms: Math.max(2, arms || (d.variants || []).length || 2), alpha, power };
  const key = String(d.flag_key ?? '').trim();
  if (d.source === 'flag' && validKey(key)) out.flag_key = key;
  return out;
}

const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

// runtimeText reads an /estimate answer: {per_arm, days, daily_users, baseline}.
export function runtimeText(est) {
  if (!est) return '';
  const per = Number(est.per_arm);
  const days = est.days;
  if (!Number.isFinite(per) || per <= 0) return 'The metric has no variance to detect a change in yet.';
  const need = `${nf0.format(Math.ceil(per))} persons per variant`;
  if (days == null || !Number.isFinite(Number(days)) || !(Number(est.daily_users) > 0)) return `${need}; no recent traffic to tell how long that takes.`;
  const d = Math.ceil(Number(days));
  return `${need}: about ${d} day${d === 1 ? '' : 's'} at ${nf0.format(Number(est.daily_users))} persons a day.`;
}

// ---------------------------------------------------------------- results

const sign = (x) => (x > 0 ? '+' : x < 0 ? '−' : '±');
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

// fmtValue shows a metric's arm mean: a conversion as a percentage.
export function fmtValue(kind, v) {
  if (!isNum(v)) return '–';
  if (kind === 'conversion') return `${(v * 100).toFixed(2)}%`;
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(Math.abs(v) >= 10 ? 1 : 3);
}

// fmtEffect shows an effect: relative as a signed percentage, a
// conversion's absolute difference in percentage points.
export function fmtEffect(kind, v, relative) {
  if (!isNum(v)) return '–';
  const a = Math.abs(v);
  if (relative) return `${sign(v)}${(a * 100).toFixed(1)}%`;
  if (kind === 'conversion') return `${sign(v)}${(a * 100).toFixed(2)} pp`;
  return `${sign(v)}${a >= 100 ? a.toFixed(0) : a.toFixed(a >= 10 ? 1 : 3)}`;
}

export function fmtP(p) {
  if (!isNum(p)) return '–';
  if (p < 0.0001) return '< 0.0001';
  return p.toFixed(4);
}

// verdictOf: win (significantly better), loss (significantly worse),
// inconclusive, or none (the data cannot say, c.error says why).
export function verdictOf(c) {
  if (c.error) return 'none';
  if (!c.significant) return 'inconclusive';
  return c.better ? 'win' : 'loss';
}

export const VERDICT_TEXT = { win: 'Better', loss: 'Worse', inconclusive: 'Not significant', none: 'Cannot tell' };

// resultRow formats one comparison (experiment.Comparison) for the table.
export function resultRow(c, res = {}) {
  const relative = !!res.relative;
  const bayes = res.method === 'bayesian';
  const ci = Array.isArray(c.ci) ? c.ci : [null, null];
  const end = (x) => (x == null ? '∞' : fmtEffect(c.kind, x, relative));
  return {
    metric: c.metric,
    variant: c.variant,
    control: fmtValue(c.kind, c.control_mean),
    treatment: fmtValue(c.kind, c.treatment_mean),
    n: `${nf0.format(c.n_control || 0)} / ${nf0.format(c.n_treatment || 0)}`,
    effect: fmtEffect(c.kind, c.effect, relative),
    ci: c.error || (c.ci == null) ? '–' : `[${ci[0] == null ? '−∞' : end(ci[0])}, ${ci[1] == null ? '+∞' : end(ci[1])}]`,
    stat: bayes ? (isNum(c.chance_to_win) ? `${(c.chance_to_win * 100).toFixed(1)}%` : '–') : fmtP(c.p_value_adjusted ?? c.p_value),
    statLabel: bayes ? 'Chance to win' : (res.correction && res.correction !== 'none' ? 'p (adjusted)' : 'p-value'),
    verdict: verdictOf(c),
    error: c.error || '',
  };
}

// ciDomain is the half-width of a symmetric scale around 0 that holds
// every finite interval end and effect of the comparisons (with a margin).
export function ciDomain(comps) {
  let m = 0;
  for (const c of comps || []) {
    for (const x of [...(Array.isArray(c.ci) ? c.ci : []), c.effect]) if (isNum(x)) m = Math.max(m, Math.abs(x));
  }
  return m > 0 ? m * 1.1 : 1;
}

// ciGeometry places an interval on a bar of width 100 whose middle (50)
// is no change: {lo, hi, mid, zero, openLo, openHi} in percent of the
// width, clamped to it (an infinite end runs to the edge and is "open").
export function ciGeometry(ci, effect, half) {
  const h = half > 0 ? half : 1;
  const pos = (x) => Math.min(100, Math.max(0, 50 + (x / h) * 50));
  const lo = Array.isArray(ci) ? ci[0] : null;
  const hi = Array.isArray(ci) ? ci[1] : null;
  return {
    lo: isNum(lo) ? pos(lo) : 0,
    hi: isNum(hi) ? pos(hi) : 100,
    mid: isNum(effect) ? pos(effect) : null,
    zero: 50,
    openLo: !isNum(lo) || lo < -h,
    openHi: !isNum(hi) || hi > h,
  };
}

// allComparisons lists a result's comparisons with their role.
export function allComparisons(res) {
  const m = (res && res.metrics) || {};
  const out = [];
  for (const [role] of ROLES) for (const c of m[role] || []) out.push({ ...c, role });
  return out;
}

// exposureSeries: persons exposed per variant, by day, cumulative or not.
export function exposureSeries(res, cumulative = true) {
  const days = (res && res.days) || [];
  const series = ((res && res.variants) || []).map((v) => {
    let acc = 0;
    const data = days.map((_, i) => {
      const n = (v.exposures || [])[i] || 0;
      acc += n;
      return cumulative ? acc : n;
    });
    return { name: v.key, data };
  });
  return { days, series };
}

// srmText explains a sample ratio mismatch: what was expected and seen.
export function srmText(res) {
  const s = (res && res.srm) || {};
  const vs = (res && res.variants) || [];
  const parts = vs.map((v, i) => `${v.key} ${nf0.format(v.exposed || 0)} (expected ${nf0.format(Math.round((s.expected || [])[i] || 0))})`);
  return `Sample ratio mismatch (p = ${fmtP(s.p_value)}): ${parts.join(', ')}. Assignment or exposure logging is broken; do not trust these results until it is fixed.`;
}

// ---------------------------------------------------------------- archive

export const ARCHIVE_KEYS = ['q', 'metric', 'event', 'outcome', 'stage'];

// archiveQuery builds the /archive query string from filters (trimmed,
// empty ones left out, always in the same order): '?q=checkout&outcome=won'.
export function archiveQuery(f = {}) {
  const u = new URLSearchParams();
  for (const k of ARCHIVE_KEYS) {
    const v = f[k] == null ? '' : String(f[k]).trim();
    if (v) u.set(k, v);
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

// archiveFilters reads them back from a URLSearchParams (the page's hash).
export function archiveFilters(params) {
  const out = {};
  for (const k of ARCHIVE_KEYS) out[k] = (params && params.get && params.get(k)) || '';
  return out;
}

// decisionText: "Won — shipped test", "Lost", "Inconclusive", "Running".
export function decisionText(e) {
  const d = e.decision;
  if (!d) return e.status === 'running' ? 'Running' : e.status === 'stopped' ? 'Stopped, undecided' : 'Draft';
  const label = { won: 'Won', lost: 'Lost', inconclusive: 'Inconclusive' }[d] || d;
  return e.shipped_variant ? `${label} — shipped ${e.shipped_variant}` : label;
}
