// Feature flags in the editor's terms, no DOM (node --test imports it):
// PostHog's operators, the editor's draft of a flag and its conversion to
// and from PostHog's flag JSON (what /flags takes and answers), variant
// shares that must sum to 100, and payloads that must be JSON. Errors
// name the same field paths as the server's 400s
// ("filters.groups[0].properties[1].value"), so the editor flags the same
// control for both.

// OPERATORS are PostHog's property operators: [operator, label, value kind].
// Value kinds: list (one or more values, comma separated), text, number,
// range ("min, max"), date (a date or a relative date like -7d), semver,
// none (no value).
export const OPERATORS = [
  ['exact', 'equals', 'list'],
  ['is_not', 'does not equal', 'list'],
  ['icontains', 'contains', 'text'],
  ['not_icontains', 'does not contain', 'text'],
  ['starts_with', 'starts with', 'text'],
  ['ends_with', 'ends with', 'text'],
  ['regex', 'matches regex', 'text'],
  ['not_regex', 'does not match regex', 'text'],
  ['gt', '>', 'number'],
  ['gte', '≥', 'number'],
  ['lt', '<', 'number'],
  ['lte', '≤', 'number'],
  ['between', 'between', 'range'],
  ['not_between', 'not between', 'range'],
  ['is_set', 'is set', 'none'],
  ['is_not_set', 'is not set', 'none'],
  ['is_date_before', 'date before', 'date'],
  ['is_date_after', 'date after', 'date'],
  ['is_date_exact', 'date is', 'date'],
  ['semver_eq', 'version =', 'semver'],
  ['semver_neq', 'version ≠', 'semver'],
  ['semver_gt', 'version >', 'semver'],
  ['semver_gte', 'version ≥', 'semver'],
  ['semver_lt', 'version <', 'semver'],
  ['semver_lte', 'version ≤', 'semver'],
  ['semver_tilde', 'version ~', 'semver'],
  ['semver_caret', 'version ^', 'semver'],
  ['semver_wildcard', 'version matches', 'semver'],
];

export const COHORT_OPERATORS = [['in', 'in cohort'], ['not_in', 'not in cohort']];

// PROPERTY_TYPES are what a condition can test.
export const PROPERTY_TYPES = [['person', 'Person property'], ['cohort', 'Cohort'], ['flag', 'Another flag']];

const KEY_RE = /^[A-Za-z0-9_-]{1,400}$/;

// validKey mirrors flags.ValidKey: 1 to 400 letters, digits, '-' or '_'.
export function validKey(s) {
  return typeof s === 'string' && KEY_RE.test(s);
}

export function operatorKind(op) {
  const o = OPERATORS.find(([v]) => v === (op || 'exact'));
  return o ? o[2] : 'text';
}

export function operatorLabel(op, type) {
  if (type === 'cohort') return op === 'not_in' ? 'not in cohort' : 'in cohort';
  if (type === 'flag') return 'evaluates to';
  const o = OPERATORS.find(([v]) => v === (op || 'exact'));
  return o ? o[1] : op;
}

// valueText shows a stored property value in the row's text input.
export function valueText(prop) {
  const v = prop ? prop.value : undefined;
  if (v == null) return '';
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (prop.operator === 'is_set' || prop.operator === 'is_not_set') return '';
  return String(v);
}

const splitList = (text) => String(text ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');

// parseValue reads a row's text for an operator: {value} or {error}.
export function parseValue(op, text) {
  const t = String(text ?? '').trim();
  switch (operatorKind(op)) {
    case 'none':
      return { value: op }; // PostHog sends the operator's name
    case 'list': {
      const list = splitList(t);
      return list.length ? { value: list } : { error: 'give a value (several: comma separated)' };
    }
    case 'number': {
      const n = Number(t);
      return t !== '' && Number.isFinite(n) ? { value: n } : { error: 'must be a number' };
    }
    case 'range': {
      const parts = splitList(t).map(Number);
      if (parts.length !== 2 || !parts.every(Number.isFinite)) return { error: 'must be two numbers: min, max' };
      if (parts[0] > parts[1]) return { error: 'min must not be above max' };
      return { value: parts };
    }
    default:
      return t ? { value: t } : { error: 'give a value' };
  }
}

// rowFromProperty turns a stored PostHog property into an editor row.
export function rowFromProperty(p) {
  const type = p.type === 'cohort' || p.type === 'flag' ? p.type : 'person';
  if (type === 'cohort') return { type, key: 'id', operator: p.operator === 'not_in' ? 'not_in' : 'in', text: p.value == null ? '' : String(p.value), negation: !!p.negation };
  if (type === 'flag') return { type, key: p.key || '', operator: 'flag_evaluates_to', text: p.value == null ? '' : String(p.value), negation: !!p.negation };
  return { type, key: p.key || '', operator: p.operator || 'exact', text: valueText(p), negation: !!p.negation };
}

// normalizeProperty turns an editor row into PostHog's property: {prop}
// or {error: {field, msg}} with field the server's path of the part at
// fault (path is the property's own, e.g. filters.groups[0].properties[1]).
export function normalizeProperty(row, path) {
  const fail = (part, msg) => ({ error: { field: part ? `${path}.${part}` : path, msg } });
  const type = row.type || 'person';
  let prop;
  if (type === 'cohort') {
    const id = String(row.text ?? '').trim();
    if (!id) return fail('value', 'choose a cohort');
    prop = { key: 'id', type: 'cohort', operator: row.operator === 'not_in' ? 'not_in' : 'in', value: /^\d+$/.test(id) ? Number(id) : id };
  } else if (type === 'flag') {
    const key = String(row.key ?? '').trim();
    if (!key) return fail('key', 'choose the flag this depends on');
    const t = String(row.text ?? '').trim();
    if (!t) return fail('value', 'give true, false or a variant key');
    prop = { key, type: 'flag', operator: 'flag_evaluates_to', value: t === 'true' ? true : t === 'false' ? false : t };
  } else {
    const key = String(row.key ?? '').trim();
    if (!key) return fail('key', 'give the person property');
    const op = row.operator || 'exact';
    const v = parseValue(op, row.text);
    if (v.error) return fail('value', v.error);
    prop = { key, type: 'person', operator: op, value: v.value };
  }
  if (row.negation) prop.negation = true;
  return { prop };
}

// normalizeCondition turns an editor condition set into PostHog's group
// at index i: {group, errors}.
export function normalizeCondition(cond, i, multivariate) {
  const path = `filters.groups[${i}]`;
  const errors = [];
  const properties = [];
  (cond.rows || []).forEach((row, j) => {
    const r = normalizeProperty(row, `${path}.properties[${j}]`);
    if (r.error) errors.push(r.error);
    else properties.push(r.prop);
  });
  let rollout = cond.rollout_percentage;
  if (rollout === '' || rollout == null) rollout = 100;
  rollout = Number(rollout);
  if (!Number.isFinite(rollout) || rollout < 0 || rollout > 100) {
    errors.push({ field: `${path}.rollout_percentage`, msg: 'must be a percentage from 0 to 100' });
    rollout = 100;
  }
  const group = { properties, rollout_percentage: rollout, variant: multivariate && cond.variant ? cond.variant : null };
  return { group, errors };
}

// sumShares adds rollout percentages as PostHog's validation does, with
// the float noise of 33.33 + 33.33 + 33.34 taken out.
export function sumShares(variants) {
  const s = (variants || []).reduce((a, v) => a + Number(v.rollout_percentage || 0), 0);
  return Math.round(s * 1e6) / 1e6;
}

// validateVariants checks a multivariate flag's variants: {ok, sum,
// errors: [{field, msg, index?}]}.
export function validateVariants(variants) {
  const path = 'filters.multivariate.variants';
  const errors = [];
  if (!Array.isArray(variants) || variants.length === 0) {
    return { ok: false, sum: 0, errors: [{ field: path, msg: 'a multivariate flag needs at least one variant' }] };
  }
  const seen = new Set();
  variants.forEach((v, i) => {
    const key = String(v.key ?? '').trim();
    if (!key) errors.push({ field: `${path}[${i}].key`, index: i, msg: 'give the variant a key' });
    else if (!validKey(key)) errors.push({ field: `${path}[${i}].key`, index: i, msg: "a key is letters, digits, '-' or '_'" });
    else if (seen.has(key)) errors.push({ field: `${path}[${i}].key`, index: i, msg: `“${key}” is used twice` });
    seen.add(key);
    const p = Number(v.rollout_percentage);
    if (v.rollout_percentage === '' || v.rollout_percentage == null || !Number.isFinite(p) || p < 0 || p > 100) {
      errors.push({ field: `${path}[${i}].rollout_percentage`, index: i, msg: 'a share is a percentage from 0 to 100' });
    }
  });
  const sum = sumShares(variants);
  if (!errors.some((e) => e.field.endsWith('rollout_percentage')) && Math.abs(sum - 100) > 1e-9) {
    errors.push({ field: path, msg: `the shares must sum to 100%, not ${sum}%` });
  }
  return { ok: errors.length === 0, sum, errors };
}

// evenShares splits 100 into n whole percentages (the first get the rest):
// 3 → [34, 33, 33].
export function evenShares(n) {
  if (n <= 0) return [];
  const base = Math.floor(100 / n);
  const rest = 100 - base * n;
  return Array.from({ length: n }, (_, i) => base + (i < rest ? 1 : 0));
}

// validatePayload reads a payload's text: {empty} when blank, {json} (the
// compact text PostHog stores as a JSON string) or {error}.
export function validatePayload(text) {
  const t = String(text ?? '').trim();
  if (!t) return { empty: true };
  try {
    const v = JSON.parse(t);
    return { json: JSON.stringify(v) };
  } catch (e) {
    return { error: `not valid JSON: ${e.message}` };
  }
}

// payloadText shows a stored payload (a string holding JSON) pretty.
export function payloadText(stored) {
  if (stored == null) return '';
  const s = typeof stored === 'string' ? stored : JSON.stringify(stored);
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}

// newDraft is an empty flag: boolean, everyone, on.
export function newDraft() {
  return {
    key: '', name: '', active: true, ensure_experience_continuity: false,
    multivariate: false,
    variants: [{ key: 'control', name: '', rollout_percentage: 50 }, { key: 'test', name: '', rollout_percentage: 50 }],
    conditions: [{ rows: [], rollout_percentage: 100, variant: '' }],
    payloads: {},
    version: 0,
  };
}

// draftFromFlag turns a flag as the API answers it into an editor draft.
export function draftFromFlag(f) {
  const fs = f.filters || {};
  const mv = fs.multivariate && Array.isArray(fs.multivariate.variants) && fs.multivariate.variants.length ? fs.multivariate : null;
  const payloads = {};
  for (const [k, v] of Object.entries(fs.payloads || {})) payloads[k] = payloadText(v);
  return {
    key: f.key || '', name: f.name || '', active: f.active !== false,
    ensure_experience_continuity: !!f.ensure_experience_continuity,
    multivariate: !!mv,
    variants: mv ? mv.variants.map((v) => ({ key: v.key, name: v.name || '', rollout_percentage: v.rollout_percentage }))
      : newDraft().variants,
    conditions: (fs.groups || []).map((g) => ({
      rows: (g.properties || []).map(rowFromProperty),
      rollout_percentage: g.rollout_percentage == null ? 100 : g.rollout_percentage,
      variant: g.variant || '',
    })),
    payloads,
    version: f.version || 0,
  };
}

// flagBody turns a draft into PostHog's flag JSON: {body, errors}; errors
// (one per field) are what the server would refuse, found before sending.
export function flagBody(draft) {
  const errors = [];
  const key = String(draft.key ?? '').trim();
  if (!key) errors.push({ field: 'key', msg: 'give the flag a key (what the code asks for)' });
  else if (!validKey(key)) errors.push({ field: 'key', msg: "a key is letters, digits, '-' or '_'" });
  const filters = { groups: [], payloads: {} };
  let variantKeys = [];
  if (draft.multivariate) {
    const v = validateVariants(draft.variants);
    errors.push(...v.errors);
    filters.multivariate = {
      variants: (draft.variants || []).map((x) => {
        const out = { key: String(x.key ?? '').trim(), rollout_percentage: Number(x.rollout_percentage) };
        if (x.name && String(x.name).trim()) out.name = String(x.name).trim();
        return out;
      }),
    };
    variantKeys = filters.multivariate.variants.map((x) => x.key);
  } else {
    filters.multivariate = null;
  }
  (draft.conditions || []).forEach((c, i) => {
    const r = normalizeCondition(c, i, draft.multivariate);
    if (r.group.variant && !variantKeys.includes(r.group.variant)) {
      errors.push({ field: `filters.groups[${i}].variant`, msg: `“${r.group.variant}” is not one of the variants` });
      r.group.variant = null;
    }
    errors.push(...r.errors);
    filters.groups.push(r.group);
  });
  const payloadKeys = draft.multivariate ? variantKeys : ['true'];
  for (const k of payloadKeys) {
    const p = validatePayload((draft.payloads || {})[k]);
    if (p.error) errors.push({ field: `filters.payloads.${k}`, msg: p.error });
    else if (p.json !== undefined) filters.payloads[k] = p.json;
  }
  const body = {
    key, name: String(draft.name ?? '').trim(), active: !!draft.active,
    ensure_experience_continuity: !!draft.ensure_experience_continuity, filters,
  };
  return { body, errors };
}

// propertySummary: "plan equals pro, team", "in cohort 3", "beta evaluates to true".
export function propertySummary(p, cohortName = (id) => `cohort ${id}`) {
  if (p.type === 'cohort') return `${p.operator === 'not_in' ? 'not in' : 'in'} ${cohortName(p.value)}`;
  if (p.type === 'flag') return `flag ${p.key} is ${String(p.value)}`;
  const kind = operatorKind(p.operator);
  const v = kind === 'none' ? '' : ` ${valueText(p)}`;
  return `${p.negation ? 'not ' : ''}${p.key} ${operatorLabel(p.operator)}${v}`;
}

// rolloutSummary: a one-line description of who gets a flag.
export function rolloutSummary(f) {
  const fs = f.filters || {};
  const groups = fs.groups || [];
  const variants = (fs.multivariate && fs.multivariate.variants) || [];
  const who = groups.length === 0 ? 'nobody (no condition set)'
    : groups.map((g) => {
      const cond = (g.properties || []).map((p) => propertySummary(p)).join(' and ') || 'everyone';
      const r = g.rollout_percentage == null ? 100 : g.rollout_percentage;
      return r === 100 ? cond : `${r}% of ${cond}`;
    }).join('; or ');
  const split = variants.length ? ` · ${variants.map((v) => `${v.key} ${v.rollout_percentage}%`).join(' / ')}` : '';
  return `${who}${split}`;
}

// firstErrorPerField keeps one message per field, in order.
export function firstErrorPerField(errors) {
  const seen = new Set();
  return errors.filter((e) => (seen.has(e.field) ? false : (seen.add(e.field), true)));
}

// usageTotals sums a flag's usage answer (GET /flags/{id}/usage: a trend
// of $feature_flag_called by value, series "calls" and "persons") into one
// row per value reported, most called first: calls over the range and the
// persons of the busiest day.
export function usageTotals(usage) {
  const rows = new Map();
  for (const s of (usage && usage.series) || []) {
    const value = s.breakdown_value ?? '';
    const row = rows.get(value) || { value, calls: 0, peakPersons: 0 };
    const points = s.points || [];
    if (String(s.label).startsWith('calls')) row.calls += points.reduce((a, p) => a + (p.value || 0), 0);
    else row.peakPersons = Math.max(row.peakPersons, ...points.map((p) => p.value || 0));
    rows.set(value, row);
  }
  return [...rows.values()].sort((a, b) => b.calls - a.calls || String(a.value).localeCompare(String(b.value)));
}
