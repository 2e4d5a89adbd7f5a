// Pure helpers of the voice-of-customer pages (feedback.js, themes.js,
// surveys.js, survey-editor.js, survey.js and the home page's VoC part):
// the inbox's filters as URL and API queries, the item editor's PATCH
// body, the ranking's columns and formula, the survey editor's draft and
// PostHog survey body (with hints under the server's field paths) and the
// results' NPS/CSAT series and segments. No DOM: node --test runs them
// (web/jstest/vocmodel.test.mjs).

export const STATUSES = [['new', 'New'], ['planned', 'Planned'], ['in_progress', 'In progress'], ['done', 'Done'], ['declined', 'Declined']];
export const PRIORITIES = [['low', 'Low'], ['normal', 'Normal'], ['high', 'High'], ['urgent', 'Urgent']];
export const SOURCES = { widget: 'Widget', api: 'API', survey: 'Survey', email: 'Email', csv: 'CSV import', webhook: 'Help desk' };

export const statusText = (s) => (STATUSES.find(([k]) => k === s) || [s, s || '–'])[1];
export const priorityText = (p) => (PRIORITIES.find(([k]) => k === p) || [p, p || '–'])[1];
export const sourceText = (s) => SOURCES[s] || s || '–';

// ---------------------------------------------------------------- inbox

// The inbox's filters, in the page's hash query and the API's query alike.
const FILTER_KEYS = ['q', 'status', 'theme', 'tag'];

// inboxFilters reads the page's query (URLSearchParams or a plain object),
// keeping only values the API takes: a known status, a theme id or
// "none", a tag of at most 50 bytes, a search of at most 200 characters.
export function inboxFilters(query) {
  const get = (k) => String((query && (typeof query.get === 'function' ? query.get(k) : query[k])) ?? '').trim();
  const f = { q: get('q').slice(0, 200), status: get('status'), theme: get('theme'), tag: get('tag').toLowerCase() };
  if (!STATUSES.some(([s]) => s === f.status)) f.status = '';
  if (f.theme !== 'none' && !/^[1-9]\d{0,17}$/.test(f.theme)) f.theme = '';
  if (new TextEncoder().encode(f.tag).length > 50) f.tag = '';
  return f;
}

// inboxQuery is the query string of filters ('' when none), for the
// page's hash and for GET /feedback.
export function inboxQuery(f, extra = {}) {
  const u = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f && f[k]) u.set(k, f[k]);
  for (const [k, v] of Object.entries(extra)) if (v != null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

// hasFilters says whether any filter is set (the empty state differs).
export const hasFilters = (f) => FILTER_KEYS.some((k) => f && f[k]);

// parseTags reads a tag list as typed: comma or newline separated, trimmed,
// lower-cased, deduplicated, in order (the server's own normalisation).
export function parseTags(text) {
  const out = [];
  for (const t of String(text || '').split(/[,\n]/)) {
    const v = t.trim().toLowerCase();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

// itemPatch is the PATCH body of the fields the editor changed (null when
// none did), with the hints of the server's bounds.
export function itemPatch(item, edit) {
  const body = {};
  const errors = [];
  if (edit.status !== undefined && edit.status !== item.status) body.status = edit.status;
  if (edit.priority !== undefined && edit.priority !== item.priority) body.priority = edit.priority;
  if (edit.assignee_id !== undefined && Number(edit.assignee_id || 0) !== Number(item.assignee_id || 0)) body.assignee_id = Number(edit.assignee_id || 0);
  if (edit.theme_id !== undefined && Number(edit.theme_id || 0) !== Number(item.theme_id || 0)) body.theme_id = Number(edit.theme_id || 0);
  if (edit.tags !== undefined) {
    const tags = Array.isArray(edit.tags) ? edit.tags : parseTags(edit.tags);
    if (tags.length > 20) errors.push({ field: 'tags', msg: 'At most 20 tags.' });
    tags.forEach((t, i) => { if (new TextEncoder().encode(t).length > 50) errors.push({ field: `tags[${i}]`, msg: 'A tag is at most 50 bytes.' }); });
    if (tags.join('\n') !== (item.tags || []).join('\n')) body.tags = tags;
  }
  return { body: Object.keys(body).length ? body : null, errors };
}

// commentText checks a note or reply before it is sent.
export function commentError(text) {
  const t = String(text || '').trim();
  if (!t) return 'Write something first.';
  if (new TextEncoder().encode(t).length > 10000) return 'At most 10 000 bytes.';
  return '';
}

// timeToText says how long something took (first response, resolution)
// between two RFC 3339 times; '' when one is missing.
export function timeBetween(from, to) {
  if (!from || !to) return '';
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  if (!Number.isFinite(s) || s < 0) return '';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 129600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

// deliveryView says how a reply's delivery to the customer stands, from
// GET /feedback/{id}'s replies[].delivery (the state of its send in the
// durable schedule; absent when it has none): a short label, the badge's
// class, a detail (attempts, the last error, clipped) and the time to
// show beside it (sent at, or the next attempt of a retry; '' for none).
export function deliveryView(d) {
  if (!d || !d.state) {
    return { label: 'Not sent', cls: 'stopped', detail: 'No customer channel was set up (PUT /api/v1/feedback/notify), or it is still being scheduled.', at: '' };
  }
  const n = Number(d.attempts) || 0;
  const tries = `${n} attempt${n === 1 ? '' : 's'}`;
  const why = clipText(d.last_error || '', 200);
  switch (d.state) {
    case 'sent': return { label: 'Delivered', cls: 'running', detail: `after ${tries}`, at: d.sent_at || '' };
    case 'pending':
      return n
        ? { label: 'Retrying', cls: 'paused', detail: `${tries} failed${why ? `: ${why}` : ''}; next attempt`, at: d.next_attempt_at || '' }
        : { label: 'Queued', cls: 'paused', detail: 'due', at: d.next_attempt_at || '' };
    case 'sending': return { label: 'Sending', cls: 'paused', detail: n ? `attempt ${n + 1}` : '', at: '' };
    case 'failed': return { label: 'Failed', cls: 'bad', detail: why || `after ${tries}`, at: '' };
    case 'cancelled': return { label: 'Not sent', cls: 'stopped', detail: why || 'cancelled', at: '' };
    case 'held_out': return { label: 'Held out', cls: 'stopped', detail: 'in a control group: not sent', at: '' };
    default: return { label: d.state, cls: '', detail: why, at: '' };
  }
}

function clipText(s, n) {
  const t = String(s);
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

// slaRows are the SLA history of GET /feedback/sla as the inbox shows it:
// per priority with items, each clock's measured items within target
// (of all measured, with their share and the median business time) and
// the open breaches of both clocks.
export function slaRows(sla) {
  return ((sla && sla.priorities) || []).filter((p) => p.items > 0).map((p) => ({
    priority: p.priority, label: priorityText(p.priority), items: p.items,
    first: clockText(p.first_response), resolve: clockText(p.resolve),
    open: ((p.first_response && p.first_response.open_breached) || 0) + ((p.resolve && p.resolve.open_breached) || 0),
  }));
}

function clockText(c) {
  if (!c || !c.measured) return { text: 'none yet', met: 0, breached: 0 };
  const met = c.measured - (c.breached || 0);
  const median = c.median_s == null ? '' : ` · median ${businessTime(c.median_s)}`;
  return { text: `${met} of ${c.measured} within target (${Math.round((100 * met) / c.measured)} %)${median}`, met, breached: c.breached || 0 };
}

// businessTime writes seconds of business time: minutes under an hour,
// else hours with one decimal.
export function businessTime(s) {
  if (s == null || !Number.isFinite(s) || s < 0) return '–';
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

// ---------------------------------------------------------------- themes

// The ranking's sorts (the API's), what each column means, and its label.
export const THEME_SORTS = [
  ['impact', 'Impact'], ['persons', 'Persons'], ['accounts', 'Accounts'], ['revenue', 'Revenue'], ['bad_days', 'Bad days'],
  ['votes', 'Votes'], ['recent', 'Recent'], ['trend', 'Trend'],
];
export const themeSort = (s) => (THEME_SORTS.some(([k]) => k === s) ? s : 'impact');

// formulaTerms splits the API's formula into its weighted terms
// ("0.25·persons/max_persons" …) for the page to list; the whole text
// stays available. Unknown shapes give [].
export function formulaTerms(formula) {
  const m = /\(([^)]*)\)/.exec(String(formula || ''));
  if (!m) return [];
  return m[1].split(' + ').map((t) => t.trim()).filter(Boolean).map((t) => {
    const [w, what] = t.split('·');
    return { weight: Number(w), term: what || t };
  }).filter((t) => Number.isFinite(t.weight));
}

// scoreShare is a theme's score as a share of the top one (for bars).
export function scoreShare(themes, t) {
  const max = Math.max(0, ...themes.map((x) => x.score || 0));
  return max > 0 ? (t.score || 0) / max : 0;
}

// fmtMoney shows a revenue sum without a currency (the property has none).
export function fmtMoney(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: v >= 100 ? 0 : 2 }).format(v);
}

// mergeTargets are the themes a theme may merge into: the others, unmerged.
export const mergeTargets = (themes, id) => themes.filter((t) => t.id !== id && !t.merged_into);

// ---------------------------------------------------------------- surveys

// Question kinds of the editor, each a PostHog question type with fixed
// fields: NPS is a 0–10 rating, CSAT a 1–5 one.
export const QUESTION_KINDS = [
  ['nps', 'NPS (0–10)'], ['csat', 'CSAT (1–5)'], ['rating', 'Rating'], ['open', 'Open text'],
  ['single_choice', 'Single choice'], ['multiple_choice', 'Multiple choice'], ['link', 'Link'],
];
export const SURVEY_TYPES = [['popover', 'Popover'], ['widget', 'Feedback button (widget)'], ['api', 'API (your own UI)']];
export const MATCH_TYPES = [['icontains', 'contains'], ['exact', 'is exactly'], ['is_not', 'is not'], ['not_icontains', 'does not contain'], ['regex', 'matches regex'], ['not_regex', 'does not match regex']];
export const SCHEDULES = [['once', 'Once per person'], ['recurring', 'Again every few days'], ['always', 'Every time the conditions hold']];

let qSeq = 0;
// newQuestion is a question of kind with its defaults.
export function newQuestion(kind = 'open') {
  qSeq += 1;
  const q = { kind, id: '', question: '', optional: false, scale: 5, display: 'number', lower: '', upper: '', choices: '', open_choice: false, link: '', button: '', key: `q${qSeq}` };
  if (kind === 'nps') Object.assign(q, { question: 'How likely are you to recommend us to a friend?', scale: 10, lower: 'Unlikely', upper: 'Very likely' });
  if (kind === 'csat') Object.assign(q, { question: 'How satisfied are you?', scale: 5, lower: 'Very dissatisfied', upper: 'Very satisfied' });
  if (kind === 'single_choice' || kind === 'multiple_choice') q.choices = 'Yes\nNo';
  return q;
}

// newSurvey is an empty editor draft.
export function newSurvey() {
  return {
    name: '', description: '', type: 'popover', questions: [newQuestion('nps')],
    url: '', url_match: 'icontains', events: '', cohort: '', flag: '', flag_variant: '', wait_days: '30',
    start: 'draft', start_at: '', end_at: '', schedule: 'once', iteration_count: '', iteration_days: '', responses_limit: '',
    thank_you: true,
  };
}

const bytes = (s) => new TextEncoder().encode(String(s || '')).length;

// questionBody is the PostHog question of an editor question.
function questionBody(q, i, errors) {
  const at = `questions[${i}]`;
  const out = { type: q.kind === 'nps' || q.kind === 'csat' ? 'rating' : q.kind, question: String(q.question || '').trim() };
  if (q.id) out.id = q.id;
  if (!out.question) errors.push({ field: `${at}.question`, msg: 'Write the question.' });
  if (q.optional) out.optional = true;
  if (q.button && q.kind !== 'link') out.buttonText = q.button;
  switch (q.kind) {
    case 'nps': Object.assign(out, { display: 'number', scale: 10 }); break;
    case 'csat': Object.assign(out, { display: q.display === 'emoji' ? 'emoji' : 'number', scale: 5 }); break;
    case 'rating': {
      const display = q.display === 'emoji' ? 'emoji' : 'number';
      const scale = Number(q.scale);
      const ok = display === 'emoji' ? [2, 3, 5] : [3, 5, 7, 10];
      if (!ok.includes(scale)) errors.push({ field: `${at}.scale`, msg: `A ${display} rating has a scale of ${ok.join(', ')}.` });
      Object.assign(out, { display, scale });
      break;
    }
    case 'single_choice':
    case 'multiple_choice': {
      const choices = String(q.choices || '').split('\n').map((c) => c.trim()).filter(Boolean);
      if (choices.length < 2 || choices.length > 50) errors.push({ field: `${at}.choices`, msg: 'Give 2 to 50 choices, one a line.' });
      else if (new Set(choices).size !== choices.length) errors.push({ field: `${at}.choices`, msg: 'Each choice once.' });
      out.choices = choices;
      if (q.open_choice) out.hasOpenChoice = true;
      break;
    }
    case 'link':
      if (!/^(https?:\/\/[^\s/]+\S*|mailto:\S+)$/i.test(String(q.link || '').trim())) errors.push({ field: `${at}.link`, msg: 'An http(s) or mailto link.' });
      out.link = String(q.link || '').trim();
      if (q.button) out.buttonText = q.button;
      break;
    default:
  }
  if (q.kind === 'nps' || q.kind === 'csat' || q.kind === 'rating') {
    if (q.lower) out.lowerBoundLabel = q.lower;
    if (q.upper) out.upperBoundLabel = q.upper;
  }
  return out;
}

// intField reads a whole number in [lo, hi] or '' (absent).
function intField(v, lo, hi, field, msg, errors) {
  const s = String(v ?? '').trim();
  if (s === '') return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    errors.push({ field, msg });
    return undefined;
  }
  return n;
}

// surveyBody is the POST /surveys body (PostHog's survey JSON) of a
// draft, with hints under the server's field paths. now is for "start now".
export function surveyBody(d, now = new Date()) {
  const errors = [];
  const body = { name: String(d.name || '').trim(), type: d.type || 'popover' };
  if (!body.name) errors.push({ field: 'name', msg: 'Name the survey.' });
  else if (bytes(body.name) > 400) errors.push({ field: 'name', msg: 'At most 400 bytes.' });
  if (d.description) body.description = d.description;
  if (!d.questions || !d.questions.length) errors.push({ field: 'questions', msg: 'Add a question.' });
  body.questions = (d.questions || []).map((q, i) => questionBody(q, i, errors));

  const cond = {};
  if (String(d.url || '').trim()) {
    cond.url = String(d.url).trim();
    cond.urlMatchType = d.url_match || 'icontains';
  }
  const events = String(d.events || '').split(',').map((e) => e.trim()).filter(Boolean);
  if (events.length) cond.events = { repeatedActivation: false, values: events.map((name) => ({ name })) };
  const wait = intField(d.wait_days, 0, 3650, 'conditions.seenSurveyWaitPeriodInDays', 'Days from 0 to 3650.', errors);
  if (wait !== undefined) cond.seenSurveyWaitPeriodInDays = wait;
  if (d.cohort) cond.cohort = Number(d.cohort);
  if (d.flag) {
    body.linked_flag_key = d.flag;
    if (d.flag_variant) cond.linkedFlagVariant = d.flag_variant;
  } else if (d.flag_variant) errors.push({ field: 'conditions.linkedFlagVariant', msg: 'Pick the flag first.' });
  body.conditions = Object.keys(cond).length ? cond : null;

  if (d.start === 'now') body.start_date = now.toISOString();
  else if (d.start === 'at') {
    const t = Date.parse(d.start_at);
    if (!Number.isFinite(t)) errors.push({ field: 'start_date', msg: 'Pick when it starts.' });
    else body.start_date = new Date(t).toISOString();
  }
  if (d.end_at) {
    const t = Date.parse(d.end_at);
    if (!Number.isFinite(t)) errors.push({ field: 'end_date', msg: 'Not a date.' });
    else if (body.start_date && t < Date.parse(body.start_date)) errors.push({ field: 'end_date', msg: 'It ends before it starts.' });
    else body.end_date = new Date(t).toISOString();
  }
  body.schedule = d.schedule || 'once';
  if (body.schedule === 'recurring') {
    const n = intField(d.iteration_count, 1, 500, 'iteration_count', 'How many times: 1 to 500.', errors);
    const days = intField(d.iteration_days, 1, 3650, 'iteration_frequency_days', 'Every 1 to 3650 days.', errors);
    if (n === undefined && !errors.some((e) => e.field === 'iteration_count')) errors.push({ field: 'iteration_count', msg: 'How many times: 1 to 500.' });
    if (days === undefined && !errors.some((e) => e.field === 'iteration_frequency_days')) errors.push({ field: 'iteration_frequency_days', msg: 'Every 1 to 3650 days.' });
    if (n !== undefined) body.iteration_count = n;
    if (days !== undefined) body.iteration_frequency_days = days;
  }
  const limit = intField(d.responses_limit, 1, 1 << 30, 'responses_limit', 'A whole number of responses, at least 1.', errors);
  if (limit !== undefined) body.responses_limit = limit;
  body.appearance = { displayThankYouMessage: !!d.thank_you, thankYouMessageHeader: 'Thank you!' };
  return { body, errors };
}

// surveyPatch is the PATCH body of a stored survey's draft: every field the
// editor owns (null removes one), never start_date of a started survey
// unless the editor set one (the server refuses taking it away).
export function surveyPatch(d, stored, now = new Date()) {
  const { body, errors } = surveyBody(d, now);
  const patch = { ...body };
  for (const k of ['description', 'linked_flag_key', 'end_date', 'iteration_count', 'iteration_frequency_days', 'responses_limit']) {
    if (!(k in patch)) patch[k] = null;
  }
  if (!('start_date' in body)) {
    if (stored && stored.start_date) delete patch.start_date; // started: keep its date
    else patch.start_date = null;
  }
  return { body: patch, errors };
}

// kindOf infers the editor's kind of a stored question.
export function kindOf(q) {
  if (q.type === 'rating' && q.scale === 10 && (q.display || 'number') === 'number') return 'nps';
  if (q.type === 'rating' && q.scale === 5) return 'csat';
  return q.type;
}

function localInput(iso) {
  const t = Date.parse(iso || '');
  if (!Number.isFinite(t)) return '';
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// draftFromSurvey is the editor's draft of a stored survey.
export function draftFromSurvey(s) {
  const c = s.conditions || {};
  const d = newSurvey();
  Object.assign(d, {
    name: s.name || '', description: s.description || '', type: s.type || 'popover',
    questions: (s.questions || []).map((q) => ({
      ...newQuestion(kindOf(q)), id: q.id || '', question: q.question || '', optional: !!q.optional,
      scale: q.scale || 5, display: q.display || 'number', lower: q.lowerBoundLabel || '', upper: q.upperBoundLabel || '',
      choices: (q.choices || []).join('\n'), open_choice: !!q.hasOpenChoice, link: q.link || '',
      button: q.buttonText || '',
    })),
    url: c.url || '', url_match: c.urlMatchType || 'icontains',
    events: ((c.events && c.events.values) || []).map((e) => e.name).join(', '),
    cohort: c.cohort ? String(c.cohort) : '', flag: s.linked_flag_key || '', flag_variant: c.linkedFlagVariant || '',
    wait_days: c.seenSurveyWaitPeriodInDays == null ? '' : String(c.seenSurveyWaitPeriodInDays),
    start: s.start_date ? 'at' : 'draft', start_at: localInput(s.start_date), end_at: localInput(s.end_date),
    schedule: s.schedule || 'once', iteration_count: s.iteration_count ? String(s.iteration_count) : '',
    iteration_days: s.iteration_frequency_days ? String(s.iteration_frequency_days) : '',
    responses_limit: s.responses_limit ? String(s.responses_limit) : '',
    thank_you: !(s.appearance && s.appearance.displayThankYouMessage === false),
  });
  return d;
}

// surveySummary says what a survey asks and to whom, in a line.
export function surveySummary(s) {
  const kinds = (s.questions || []).map((q) => (QUESTION_KINDS.find(([k]) => k === kindOf(q)) || [0, q.type])[1]);
  const c = s.conditions || {};
  const who = [];
  if (c.url) who.push(`on pages whose URL ${(MATCH_TYPES.find(([k]) => k === (c.urlMatchType || 'icontains')) || [0, 'matches'])[1]} “${c.url}”`);
  if (c.events && c.events.values && c.events.values.length) who.push(`after ${c.events.values.map((e) => e.name).join(' or ')}`);
  if (c.cohort) who.push('to a cohort');
  if (s.linked_flag_key) who.push(`with flag ${s.linked_flag_key}${c.linkedFlagVariant ? `=${c.linkedFlagVariant}` : ''}`);
  const wait = c.seenSurveyWaitPeriodInDays;
  return `${kinds.join(', ') || 'No questions'} · ${who.length ? who.join(', ') : 'everyone'}${wait ? ` · at most one survey per ${wait} days` : ''}`;
}

// npsQuestion and csatQuestion find the first question of that kind.
export const npsQuestion = (s) => (s.questions || []).find((q) => kindOf(q) === 'nps') || null;
export const csatQuestion = (s) => (s.questions || []).find((q) => kindOf(q) === 'csat') || null;

// projectNPSSurvey picks the survey whose NPS the home page shows: the
// running one started last, else the one started last; null when none
// asks NPS.
export function projectNPSSurvey(surveys) {
  const withNPS = (surveys || []).filter((s) => npsQuestion(s) && s.start_date);
  withNPS.sort((a, b) => (b.status === 'running') - (a.status === 'running') || Date.parse(b.start_date) - Date.parse(a.start_date) || b.id - a.id);
  return withNPS[0] || null;
}

// scoreSeries is a question's score per period of a results answer
// (kind 'nps' or 'csat'): the periods' dates and one line per segment
// (one line, "All", without a breakdown; at most maxLines segments, in the
// server's order, most respondents first), each value null where no one
// answered.
export function scoreSeries(results, questionId, kind = 'nps', maxLines = 8) {
  const lines = new Map();
  const categories = [];
  for (const p of (results && results.series) || []) {
    const name = p.segment == null ? 'All' : segmentName(p.segment);
    if (!lines.has(name)) {
      if (lines.size >= maxLines) continue;
      lines.set(name, []);
    }
    const day = String(p.period).slice(0, 10);
    if (!categories.includes(day)) categories.push(day);
    const q = (p.questions || []).find((x) => x.id === questionId);
    const sc = q && q[kind];
    const n = sc ? (kind === 'nps' ? sc.promoters + sc.passives + sc.detractors : sc.total) : 0;
    lines.get(name)[categories.indexOf(day)] = n > 0 ? sc.score : null;
  }
  return {
    categories,
    lines: [...lines].map(([name, vals]) => ({ name, values: categories.map((_, i) => (vals[i] === undefined ? null : vals[i])) })),
  };
}

const segmentName = (s) => (s === '$none' ? '(not set)' : s === '$other' ? '(other)' : s);

// segmentRows are a results answer's segments with the question's score.
export function segmentRows(results, questionId, kind = 'nps') {
  return ((results && results.segments) || []).map((s) => {
    const q = (s.questions || []).find((x) => x.id === questionId) || {};
    const score = q[kind];
    return { segment: segmentName(s.segment), respondents: s.respondents, answered: q.answered || 0, score: score ? score.score : null };
  });
}

// trendText compares the last two scores of a series ('' when fewer).
export function trendText(values) {
  const v = (values || []).filter((x) => x != null);
  if (v.length < 2) return '';
  const d = Math.round((v[v.length - 1] - v[v.length - 2]) * 10) / 10;
  return d === 0 ? 'no change' : `${d > 0 ? '+' : '−'}${Math.abs(d)} since the period before`;
}

// ---------------------------------------------------------------- home

// themesByStage places the home page's themes (each with its stage index,
// -1 when its persons reached no stage in the range) beside the stages:
// an array per stage, and the rest.
export function themesByStage(stageCount, themes) {
  const by = Array.from({ length: stageCount }, () => []);
  const rest = [];
  for (const t of themes || []) {
    if (Number.isInteger(t.stage_index) && t.stage_index >= 0 && t.stage_index < stageCount) by[t.stage_index].push(t);
    else rest.push(t);
  }
  return { by, rest };
}
