// Campaigns in the pages' terms, no DOM (node --test imports it): the
// editor's draft and the body it posts (POST /campaigns) or patches
// (PATCH /campaigns/{id}), Go durations read and written, hints found
// before sending (under the server's own field paths, variants[1].url,
// goal.within, so a 400 and a hint mark the same control), and the
// report, its lift with the confidence interval and the golden-time
// report as text and chart series.

export const STATUSES = [['draft', 'Draft'], ['active', 'Active'], ['paused', 'Paused'], ['stopped', 'Stopped']];
export const KINDS = [['triggered', 'Triggered reminder'], ['broadcast', 'Broadcast to a cohort']];
export const CHANNELS = [['webhook', 'Webhook'], ['email', 'Email'], ['web_push', 'Web Push']];
export const URGENCIES = [['', 'Default'], ['very-low', 'Very low'], ['low', 'Low'], ['normal', 'Normal'], ['high', 'High']];

const STATUS_TEXT = Object.fromEntries(STATUSES);
const KIND_TEXT = { triggered: 'Triggered', broadcast: 'Broadcast' };
const CHANNEL_TEXT = Object.fromEntries(CHANNELS);

// The server's limits (package campaign), in seconds where durations.
const HOUR = 3600;
const DAY = 24 * HOUR;
export const LIMITS = {
  name: 200, variants: 10, variantName: 100, subject: 998, body: 64 << 10, url: 2048,
  window: 90 * DAY, delay: 30 * DAY, reeligible: 366 * DAY, pushTTL: 28 * DAY, sendRate: 100000, cap: 1000,
};

// ---------------------------------------------------------------- durations

const UNIT_S = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: HOUR };

// parseGoDuration reads a Go duration ("24h", "1h30m", "90s", "0") as
// seconds; null when it is not one (Go has no days: "3d" is null).
export function parseGoDuration(text) {
  let s = String(text ?? '').trim();
  if (s === '') return null;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  const re = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_S[m[2]];
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== s.length) return null;
  return sign * total;
}

// goDuration writes seconds as Go does, without zero parts: 86400 →
// "24h", 5400 → "1h30m", 90 → "1m30s", 0 → "0s".
export function goDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  let s = Math.round(Math.abs(seconds) * 1000) / 1000;
  const sign = seconds < 0 ? '-' : '';
  if (s === 0) return '0s';
  const h = Math.floor(s / HOUR);
  s -= h * HOUR;
  const m = Math.floor(s / 60);
  s = Math.round((s - m * 60) * 1000) / 1000;
  return sign + (h ? `${h}h` : '') + (m ? `${m}m` : '') + (s ? `${s}s` : '');
}

// normalizeDuration reads what a person types into a duration field: a
// Go duration, or days and weeks ("3d", "2w", "1d12h") which Go lacks,
// written back as hours. {value} (the Go duration to send, '' for an
// empty field) or {error}.
export function normalizeDuration(text) {
  const t = String(text ?? '').trim();
  if (!t) return { value: '' };
  if (parseGoDuration(t) != null) return { value: t };
  const dw = /^(?:(\d+)w)?(?:(\d+)d)?(.*)$/.exec(t);
  if (dw && (dw[1] || dw[2])) {
    const rest = dw[3] === '' ? 0 : parseGoDuration(dw[3]);
    if (rest != null && rest >= 0) {
      return { value: goDuration(Number(dw[1] || 0) * 7 * DAY + Number(dw[2] || 0) * DAY + rest) };
    }
  }
  return { error: 'a duration is like 30s, 90m, 24h or 3d' };
}

// humanDuration shows a Go duration in words: "72h" → "3 days", "90m" →
// "1.5 hours", "30s" → "30 seconds".
export function humanDuration(text) {
  const s = parseGoDuration(text);
  if (s == null) return String(text ?? '');
  const unit = (n, w) => `${Math.round(n * 10) / 10} ${w}${Math.round(n * 10) / 10 === 1 ? '' : 's'}`;
  if (s === 0) return 'no wait';
  if (s < 60) return unit(s, 'second');
  if (s < HOUR) return unit(s / 60, 'minute');
  if (s < 2 * DAY && s % DAY !== 0) return unit(s / HOUR, 'hour');
  if (s % (7 * DAY) === 0) return unit(s / (7 * DAY), 'week');
  return unit(s / DAY, 'day');
}

// ---------------------------------------------------------------- draft

export function newVariant(i) {
  return { name: String.fromCharCode(65 + i), weight: 50, subject: '', body: '', url: '' };
}

// newDraft is an empty campaign of a kind: a reminder 24 h after the
// trigger with a 10 % holdout, on a webhook, in two variants.
export function newDraft(kind = 'triggered') {
  return {
    name: '', kind: kind === 'broadcast' ? 'broadcast' : 'triggered', activate: false,
    trigger: { event: '', filters: [] },
    trigger_mode: 'event', trigger_cohort: '',
    goal: { event: '', filters: [], match: '', within: '72h' },
    wait_mode: 'delay', delay: '24h', min_delay: '1h',
    holdout: 10,
    channel: { type: 'webhook', url: '', secret: '', from: '', reply_to: '', subject: '', ttl: '', urgency: '' },
    variants: [newVariant(0), newVariant(1)],
    cap_on: false, cap_count: 1, cap_per: '24h',
    quiet_on: false, quiet_start: '22:00', quiet_end: '08:00',
    reeligible_after: '', send_rate: '',
    attribution: '72h',
    cohort: '', at: '',
  };
}

const pad = (n) => String(n).padStart(2, '0');

// localDateTime writes an RFC 3339 time as a datetime-local input's value
// (the browser's zone): '2026-03-01T09:30'.
export function localDateTime(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// fromLocalDateTime reads it back as an RFC 3339 UTC time ('' stays '').
export function fromLocalDateTime(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

const round2 = (x) => Math.round(x * 1e4) / 1e2;
const copyFilters = (fs) => (Array.isArray(fs) ? fs.map((f) => ({ ...f })) : []);

// draftFromCampaign is the editor's draft of a campaign as answered (its
// weights and holdout as percentages; the secret is never answered, so
// it stays empty: "keep the stored one").
export function draftFromCampaign(c) {
  const d = newDraft(c.kind);
  d.name = c.name || '';
  if (c.trigger) d.trigger = { event: c.trigger.event || '', filters: copyFilters(c.trigger.filters) };
  if (c.trigger && c.trigger.cohort) { d.trigger_mode = 'cohort'; d.trigger_cohort = String(c.trigger.cohort); }
  if (c.goal) d.goal = { event: c.goal.event || '', filters: copyFilters(c.goal.filters), match: c.goal.match || '', within: c.goal.within || '' };
  if (c.wait) {
    d.wait_mode = c.wait.best_time ? 'best_time' : 'delay';
    d.delay = c.wait.best_time ? '24h' : (c.wait.delay || '');
    d.min_delay = c.wait.best_time ? (c.wait.min_delay || '') : '1h';
  }
  d.holdout = round2(Number(c.holdout) || 0);
  const ch = c.channel || {};
  d.channel = { ...newDraft().channel, ...Object.fromEntries(Object.entries(ch).filter(([, v]) => v != null)), secret: '' };
  d.variants = (c.variants || []).map((v) => ({ name: v.name || '', weight: round2(Number(v.weight) || 0), subject: v.subject || '', body: v.body || '', url: v.url || '' }));
  if (!d.variants.length) d.variants = [newVariant(0)];
  const a = c.audience || {};
  if (a.frequency_cap) { d.cap_on = true; d.cap_count = a.frequency_cap.count; d.cap_per = a.frequency_cap.per || ''; }
  if (a.quiet_hours) { d.quiet_on = true; d.quiet_start = a.quiet_hours.start || ''; d.quiet_end = a.quiet_hours.end || ''; }
  d.reeligible_after = a.reeligible_after || '';
  d.send_rate = a.send_rate ? a.send_rate : '';
  d.attribution = c.attribution || '';
  if (c.broadcast) {
    d.cohort = c.broadcast.cohort ? String(c.broadcast.cohort) : '';
    d.at = c.broadcast.at ? localDateTime(c.broadcast.at) : '';
  }
  return d;
}

// durationField checks one duration of the draft in [lo, hi] seconds
// and returns the Go duration to send ('' when empty and optional).
function durationField(errors, field, text, lo, hi, required, what) {
  const n = normalizeDuration(text);
  if (n.error) { errors.push({ field, msg: n.error }); return ''; }
  if (!n.value) {
    if (required) errors.push({ field, msg: `give ${what}` });
    return '';
  }
  const s = parseGoDuration(n.value);
  if (s < lo || s > hi) errors.push({ field, msg: `${what} is from ${humanDuration(goDuration(lo))} to ${humanDuration(goDuration(hi))}` });
  return n.value;
}

// filtersBody keeps a filter list's complete rows; a row without a
// property is an error at its path.
function filtersBody(errors, path, filters) {
  const out = [];
  (filters || []).forEach((f, i) => {
    if (f.type !== 'cohort' && !String(f.property ?? '').trim()) {
      errors.push({ field: `${path}[${i}].property`, msg: 'give the filter a property, or remove it' });
    }
    const { ...copy } = f;
    if (copy.type === 'event' || copy.type === '') delete copy.type;
    if (copy.op === 'is_set') delete copy.value;
    out.push(copy);
  });
  return out;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const isHTTP = (u) => /^https?:\/\/[^/\s]+/i.test(u);
const trim = (s) => String(s ?? '').trim();

function channelBody(errors, ch) {
  const type = ch.type || 'webhook';
  const out = { type };
  if (type === 'webhook') {
    const url = trim(ch.url);
    if (!url) errors.push({ field: 'channel.url', msg: 'give the URL messages are POSTed to' });
    else if (!isHTTP(url)) errors.push({ field: 'channel.url', msg: 'a webhook URL starts with https:// (or http://)' });
    out.url = url;
    const secret = trim(ch.secret);
    if (secret) {
      if (!/^whsec_[A-Za-z0-9+/=]+$/.test(secret)) errors.push({ field: 'channel.secret', msg: 'a secret is whsec_ and base64 (leave it empty to get one)' });
      out.secret = secret;
    }
  } else if (type === 'email') {
    const from = trim(ch.from);
    if (!from) errors.push({ field: 'channel.from', msg: 'give the From address (Shop <news@shop.example>)' });
    else if (!/@/.test(from)) errors.push({ field: 'channel.from', msg: 'an address has an @' });
    out.from = from;
    if (trim(ch.reply_to)) out.reply_to = trim(ch.reply_to);
    if (trim(ch.subject)) out.subject = trim(ch.subject);
  } else if (type === 'web_push') {
    const ttl = durationField(errors, 'channel.ttl', ch.ttl, 0, LIMITS.pushTTL, false, 'a time to live');
    if (ttl) out.ttl = ttl;
    if (ch.urgency) out.urgency = ch.urgency;
  } else {
    errors.push({ field: 'channel.type', msg: 'choose webhook, email or Web Push' });
  }
  return out;
}

function variantsBody(errors, d) {
  const list = d.variants || [];
  if (!list.length) errors.push({ field: 'variants', msg: 'a campaign needs at least one message' });
  if (list.length > LIMITS.variants) errors.push({ field: 'variants', msg: `at most ${LIMITS.variants} variants` });
  const seen = new Set();
  const type = d.channel.type;
  const weights = list.map((v) => Number(v.weight));
  const out = list.map((v, i) => {
    const p = `variants[${i}]`;
    const name = trim(v.name);
    if (name.length > LIMITS.variantName) errors.push({ field: `${p}.name`, msg: `at most ${LIMITS.variantName} characters` });
    if (name && seen.has(name)) errors.push({ field: `${p}.name`, msg: `“${name}” is used twice` });
    seen.add(name);
    const w = weights[i];
    if (v.weight === '' || v.weight == null || !Number.isFinite(w) || w < 0) errors.push({ field: `${p}.weight`, msg: 'a weight is a number, 0 or more' });
    const subject = String(v.subject ?? '');
    const body = String(v.body ?? '');
    const url = trim(v.url);
    if (/[\r\n]/.test(subject)) errors.push({ field: `${p}.subject`, msg: 'a subject is one line' });
    if (type === 'email' && !subject.trim() && !trim(d.channel.subject)) errors.push({ field: `${p}.subject`, msg: 'an email needs a subject (here or on the channel)' });
    if (type === 'email' && !body.trim()) errors.push({ field: `${p}.body`, msg: 'an email needs a body' });
    if (type === 'web_push' && !subject.trim() && !body.trim()) errors.push({ field: `${p}.body`, msg: 'a push needs a title or a text' });
    if (body.length > LIMITS.body) errors.push({ field: `${p}.body`, msg: 'at most 64 KiB' });
    if (url && !isHTTP(url)) errors.push({ field: `${p}.url`, msg: 'a link is an absolute http(s) URL (templates allowed: https://shop.example/item/{{item}})' });
    const o = { name, weight: Number.isFinite(w) ? w : 0 };
    if (subject.trim()) o.subject = subject.trim();
    if (body) o.body = body;
    if (url) o.url = url;
    if (!name) delete o.name; // the server names it A, B, …
    return o;
  });
  return out;
}

function audienceBody(errors, d) {
  const a = {};
  if (d.cap_on) {
    const count = Number(d.cap_count);
    if (!Number.isInteger(count) || count < 1 || count > LIMITS.cap) errors.push({ field: 'audience.frequency_cap.count', msg: `a cap is 1 to ${LIMITS.cap} messages` });
    const per = durationField(errors, 'audience.frequency_cap.per', d.cap_per, 1, LIMITS.window, true, 'the window of the cap');
    a.frequency_cap = { count, per };
  }
  if (d.quiet_on) {
    const start = trim(d.quiet_start);
    const end = trim(d.quiet_end);
    if (!HHMM.test(start)) errors.push({ field: 'audience.quiet_hours.start', msg: 'a time is HH:MM (22:00)' });
    if (!HHMM.test(end)) errors.push({ field: 'audience.quiet_hours.end', msg: 'a time is HH:MM (08:00)' });
    a.quiet_hours = { start, end };
  }
  const re = durationField(errors, 'audience.reeligible_after', d.reeligible_after, 0, LIMITS.reeligible, false, 're-eligibility');
  if (re) a.reeligible_after = re;
  if (d.send_rate !== '' && d.send_rate != null) {
    const r = Number(d.send_rate);
    if (!Number.isFinite(r) || r < 0 || r > LIMITS.sendRate) errors.push({ field: 'audience.send_rate', msg: `a send rate is 0 (no cap) to ${LIMITS.sendRate} a second` });
    if (r) a.send_rate = r;
  }
  return a;
}

// campaignBody turns the draft into the POST /campaigns body: {body,
// errors: [{field, msg}]}, the fields the server's.
export function campaignBody(d) {
  const errors = [];
  const name = trim(d.name);
  if (!name) errors.push({ field: 'name', msg: 'give the campaign a name' });
  else if (name.length > LIMITS.name) errors.push({ field: 'name', msg: `at most ${LIMITS.name} characters` });
  const body = { name, kind: d.kind };
  if (d.kind === 'broadcast') {
    const cohort = Number(d.cohort);
    if (!d.cohort || !Number.isInteger(cohort) || cohort <= 0) errors.push({ field: 'broadcast.cohort', msg: 'choose the cohort to message' });
    body.broadcast = { cohort };
    if (d.at) {
      const at = fromLocalDateTime(d.at);
      if (!at) errors.push({ field: 'broadcast.at', msg: 'give a date and time, or leave it empty to send on activation' });
      else body.broadcast.at = at;
    }
  } else if (d.trigger_mode === 'cohort') {
    const cohort = Number(d.trigger_cohort);
    if (!d.trigger_cohort || !Number.isInteger(cohort) || cohort <= 0) errors.push({ field: 'trigger.cohort', msg: 'choose the cohort whose new members get the message' });
    body.trigger = { cohort };
  } else {
    const event = trim(d.trigger.event);
    if (!event) errors.push({ field: 'trigger.event', msg: 'give the event that starts the reminder (added_to_cart)' });
    body.trigger = { event };
    const tf = filtersBody(errors, 'trigger.filters', d.trigger.filters);
    if (tf.length) body.trigger.filters = tf;
    if (d.wait_mode === 'best_time') {
      body.wait = { best_time: true };
      const min = durationField(errors, 'wait.min_delay', d.min_delay, 0, LIMITS.delay, false, 'the minimum delay');
      if (min) body.wait.min_delay = min;
    } else {
      body.wait = { delay: durationField(errors, 'wait.delay', d.delay, 0, LIMITS.delay, true, 'the delay (0s: at once)') };
    }
  }
  const goalEvent = trim(d.goal.event);
  if (goalEvent || d.kind !== 'broadcast') {
    if (!goalEvent) errors.push({ field: 'goal.event', msg: 'give the conversion event (order_completed)' });
    const goal = { event: goalEvent };
    const gf = filtersBody(errors, 'goal.filters', d.goal.filters);
    if (gf.length) goal.filters = gf;
    if (d.kind !== 'broadcast' && d.trigger_mode !== 'cohort' && trim(d.goal.match)) goal.match = trim(d.goal.match);
    const within = durationField(errors, 'goal.within', d.goal.within, 1, LIMITS.window, false, 'the goal window');
    if (within) goal.within = within;
    body.goal = goal;
  }
  const holdout = Number(d.holdout);
  if (d.holdout === '' || d.holdout == null || !Number.isFinite(holdout) || holdout < 0 || holdout >= 100) {
    errors.push({ field: 'holdout', msg: 'a holdout is a share from 0 to under 100%' });
  }
  body.holdout = Number.isFinite(holdout) ? Math.round(holdout * 1e4) / 1e6 : 0;
  body.channel = channelBody(errors, d.channel);
  body.variants = variantsBody(errors, d);
  body.audience = audienceBody(errors, d);
  const attribution = durationField(errors, 'attribution', d.attribution, 1, LIMITS.window, false, 'the attribution window');
  if (attribution) body.attribution = attribution;
  if (d.activate) body.status = 'active';
  return { body, errors };
}

// Top-level fields of a definition the editor owns: a PATCH names every
// one, null for those the draft has not (their default applies), so the
// stored campaign becomes the draft (the status is the page's actions').
const PATCH_FIELDS = ['name', 'kind', 'trigger', 'goal', 'wait', 'holdout', 'channel', 'variants', 'audience', 'attribution', 'broadcast'];

// patchBody is the PATCH /campaigns/{id} body of the draft: {body, errors}.
export function patchBody(d) {
  const { body, errors } = campaignBody({ ...d, activate: false });
  const out = {};
  for (const k of PATCH_FIELDS) out[k] = k in body ? body[k] : null;
  return { body: out, errors };
}

// weightShares are the variants' shares in percent as the server
// normalises weights (all zero: equal shares).
export function weightShares(variants) {
  const w = (variants || []).map((v) => Math.max(0, Number(v.weight) || 0));
  const sum = w.reduce((a, b) => a + b, 0);
  if (!w.length) return [];
  return sum > 0 ? w.map((x) => round2(x / sum)) : w.map(() => round2(1 / w.length));
}

// ---------------------------------------------------------------- summaries

export const statusText = (s) => STATUS_TEXT[s] || s || '–';
export const kindText = (k) => KIND_TEXT[k] || k || '–';
export const channelText = (t) => CHANNEL_TEXT[t] || t || '–';

// waitText: "24 hours after the trigger", "at the best time, at least 1
// hour after", "when activated" / "at <time>" for a broadcast.
export function waitText(c, fmtTime = (t) => t) {
  if (c.kind === 'broadcast') {
    const at = c.broadcast && c.broadcast.at;
    return at ? `at ${fmtTime(at)}` : 'when activated';
  }
  const w = c.wait || {};
  if (w.best_time) return `at the person's best time${w.min_delay && parseGoDuration(w.min_delay) ? `, at least ${humanDuration(w.min_delay)} after the trigger` : ''}`;
  return parseGoDuration(w.delay) ? `${humanDuration(w.delay)} after the trigger` : 'at once after the trigger';
}

// triggerText: "added_to_cart (1 filter)", "cohort Loyal buyers".
export function triggerText(c, cohortName = (id) => `cohort ${id}`) {
  if (c.kind === 'broadcast') return c.broadcast ? cohortName(c.broadcast.cohort) : '–';
  const t = c.trigger || {};
  if (t.cohort) return `entering ${cohortName(t.cohort)}`;
  const n = (t.filters || []).length;
  return `${t.event || '–'}${n ? ` (${n} filter${n === 1 ? '' : 's'})` : ''}`;
}

// goalText: "order_completed with the same item within 3 days".
export function goalText(c) {
  const g = c.goal;
  if (!g || !g.event) return 'none';
  return `${g.event}${g.match ? ` with the same ${g.match}` : ''}${g.within && c.kind !== 'broadcast' ? ` within ${humanDuration(g.within)}` : ''}`;
}

// ---------------------------------------------------------------- report

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const sign = (x) => (x > 0 ? '+' : x < 0 ? '−' : '±');

// fmtRate shows a rate: two decimals under 10 % (CTRs are small), one above.
export function fmtRate(r) {
  if (!isNum(r)) return '–';
  const p = r * 100;
  return `${p.toFixed(Math.abs(p) < 10 ? 2 : 1)}%`;
}

// fmtLift shows a lift: absolute in percentage points, relative in percent.
export function fmtLift(x, relative = false) {
  if (!isNum(x)) return '–';
  const a = Math.abs(x) * 100;
  return relative ? `${sign(x)}${a.toFixed(1)}%` : `${sign(x)}${a.toFixed(2)} pp`;
}

// fmtCI shows an interval; an infinite end (null) is ∞.
export function fmtCI(ci, relative = false) {
  if (!Array.isArray(ci)) return '–';
  const [lo, hi] = ci;
  return `[${lo == null ? '−∞' : fmtLift(lo, relative)}, ${hi == null ? '+∞' : fmtLift(hi, relative)}]`;
}

// liftVerdict: win when the whole interval is above no change, loss when
// below, inconclusive across it, none without a lift (too few persons).
export function liftVerdict(lift) {
  if (!lift || !Array.isArray(lift.ci)) return 'none';
  const [lo, hi] = lift.ci;
  if (isNum(lo) && lo > 0) return 'win';
  if (isNum(hi) && hi < 0) return 'loss';
  return 'inconclusive';
}

export const LIFT_TEXT = { win: 'Lifts conversions', loss: 'Lowers conversions', inconclusive: 'Not significant', none: 'Too few persons yet' };

// liftText: "+2.10 pp [+0.50 pp, +3.70 pp]", or '–' without a lift.
export function liftText(lift, relative = false) {
  if (!lift || !isNum(lift.effect)) return '–';
  return `${fmtLift(lift.effect, relative)} ${fmtCI(lift.ci, relative)}`;
}

// times compares two rates: 0.13 over 0.01 → "13 ×" ('–' when the base is 0).
export function times(a, b) {
  if (!isNum(a) || !isNum(b) || b === 0) return '–';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)} ×`;
}

// reportFacts are the report's headline numbers in order, each {key,
// label, value (the raw number), text}; the page shows them and the UI
// test compares them with the API's.
export function reportFacts(rep) {
  const n = (k, label) => ({ key: k, label, value: rep[k] ?? 0, text: fmtInt(rep[k] ?? 0) });
  const r = (k, label) => ({ key: k, label, value: rep[k] ?? 0, text: fmtRate(rep[k]) });
  return [n('triggered', 'Triggered'), n('sent', 'Sent'), n('delivered', 'Delivered'), n('clicked', 'Clicked'), r('ctr', 'CTR'),
    n('recipients', 'Recipients'), n('conversions', 'Conversions'), r('cvr', 'CVR')];
}

const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
export const fmtInt = (x) => (isNum(x) ? nf0.format(x) : '–');

// variantRows formats the per-variant table (report.variants).
export function variantRows(rep) {
  return ((rep && rep.variants) || []).map((v) => ({
    name: v.name,
    triggered: fmtInt(v.triggered), sent: fmtInt(v.sent), delivered: fmtInt(v.delivered), clicked: fmtInt(v.clicked),
    ctr: fmtRate(v.ctr), recipients: fmtInt(v.recipients), conversions: fmtInt(v.conversions), cvr: fmtRate(v.cvr),
    lift: liftText(v.lift), verdict: liftVerdict(v.lift), raw: v,
  }));
}

// liftDomain is the half-width of one scale for the intervals of the
// campaign's lift and its variants' (with a margin; 1 pp at least).
export function liftDomain(lifts) {
  let m = 0;
  for (const l of lifts || []) {
    if (!l) continue;
    for (const x of [...(Array.isArray(l.ci) ? l.ci : []), l.effect]) if (isNum(x)) m = Math.max(m, Math.abs(x));
  }
  return m > 0 ? m * 1.1 : 0.01;
}

// ---------------------------------------------------------------- golden time

// goldenSeries turns a golden-time result into chart series: the
// histogram's buckets (label, conversions, share of all triggers) and the
// conversion rate by hours since trigger (at-risk rate), and the
// cumulative share by hour.
export function goldenSeries(res) {
  const hist = (res && res.histogram) || [];
  const cum = (res && res.cumulative) || [];
  return {
    labels: hist.map((b) => b.label),
    conversions: hist.map((b) => b.conversions),
    share: hist.map((b) => b.share),
    rate: hist.map((b) => b.rate),
    hours: cum.map((p) => `${p.hours}h`),
    cumulative: cum.map((p) => p.share),
  };
}

// goldenPeak is the bucket with the most conversions (the sooner on a
// tie), null when none converted.
export function goldenPeak(res) {
  let best = null;
  for (const b of (res && res.histogram) || []) if (b.conversions > 0 && (!best || b.conversions > best.conversions)) best = b;
  return best;
}

const hoursText = (h) => (h < 48 ? `${Math.round(h * 10) / 10} h` : `${Math.round((h / 24) * 10) / 10} days`);

// goldenSummary says in one sentence when conversions come.
export function goldenSummary(res) {
  if (!res || !res.triggers) return 'No triggers in the range yet.';
  if (!res.converted) return `None of the ${fmtInt(res.triggers)} triggers converted within ${hoursText(res.horizon_hours)}.`;
  const parts = [`${fmtRate(res.conversion)} of ${fmtInt(res.triggers)} triggers converted within ${hoursText(res.horizon_hours)}`];
  if (isNum(res.median_hours)) parts.push(`half of those within ${hoursText(res.median_hours)}`);
  if (isNum(res.p75_hours)) parts.push(`three quarters within ${hoursText(res.p75_hours)}`);
  const peak = goldenPeak(res);
  if (peak) parts.push(`most in ${peak.to_hours - peak.from_hours > 1 ? 'day' : 'hour'} ${peak.label} after the trigger`);
  return `${parts.join('; ')}.`;
}

// ---------------------------------------------------------------- list

// listQuery is the list's query string for a status filter.
export function listQuery(status) {
  return STATUS_TEXT[status] ? `?status=${status}` : '';
}

// canReport: a campaign that ever ran has a report worth a query.
export const canReport = (c) => c.status !== 'draft';

// statusActions are the status changes a campaign's page offers:
// [[status, label]] (a stopped campaign has none).
export function statusActions(status) {
  switch (status) {
    case 'draft': return [['active', 'Activate']];
    case 'active': return [['paused', 'Pause'], ['stopped', 'Stop']];
    case 'paused': return [['active', 'Resume'], ['stopped', 'Stop']];
    default: return [];
  }
}

// ---------------------------------------------------------------- over time, compare, decision

export const INTERVALS = [['day', 'By day'], ['week', 'By week'], ['hour', 'By hour']];

// seriesData turns a report's series (GET …/report?interval=day) into
// chart columns: messages sent per period, and the messaged and held-out
// CVRs and the CTR of the period's messages.
export function seriesData(rep) {
  const pts = (rep && rep.series) || [];
  return {
    dates: pts.map((p) => p.date),
    sent: pts.map((p) => p.sent),
    held: pts.map((p) => p.holdout_persons),
    ctr: pts.map((p) => p.ctr),
    cvr: pts.map((p) => p.cvr),
    holdoutCvr: pts.map((p) => p.holdout_cvr),
  };
}

const fmtMoney = (x) => (isNum(x) ? new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 }).format(x) : '–');

// ratioText is a compare answer's ratio: 13.04 → "13 ×", null → '–'.
export function ratioText(r) {
  if (!isNum(r)) return '–';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)} ×`;
}

// compareRows lays two reports side by side (GET …/campaigns/compare):
// [{key, label, a, b, ratio?}], the ratios the server's (the first
// campaign's rate over the second's).
export function compareRows(cmp) {
  const [a, b] = (cmp && cmp.reports) || [{}, {}];
  const n = (k, label) => ({ key: k, label, a: fmtInt(a[k] ?? 0), b: fmtInt(b[k] ?? 0) });
  const rows = [n('triggered', 'Triggered'), n('sent', 'Sent'), n('delivered', 'Delivered'), n('clicked', 'Clicked'),
    { key: 'ctr', label: 'CTR', a: fmtRate(a.ctr), b: fmtRate(b.ctr), ratio: ratioText(cmp.ctr_ratio) },
    n('recipients', 'Recipients'), n('conversions', 'Conversions'),
    { key: 'cvr', label: 'CVR', a: fmtRate(a.cvr), b: fmtRate(b.cvr), ratio: ratioText(cmp.cvr_ratio) },
    { key: 'lift', label: 'Lift vs holdout', a: liftText(a.lift), b: liftText(b.lift) }];
  if (a.revenue_per_recipient != null || b.revenue_per_recipient != null) {
    rows.push({ key: 'revenue_per_recipient', label: 'Revenue per recipient', a: fmtMoney(a.revenue_per_recipient), b: fmtMoney(b.revenue_per_recipient), ratio: ratioText(cmp.revenue_per_recipient_ratio) });
  }
  return rows;
}

// compareHeadline: "CTR 13 ×, CVR 10 × those of Spring sale".
export function compareHeadline(cmp, otherName) {
  if (!cmp) return '';
  if (!isNum(cmp.ctr_ratio) && !isNum(cmp.cvr_ratio)) return `${otherName} has no CTR or CVR to compare with yet`;
  return `CTR ${ratioText(cmp.ctr_ratio)}, CVR ${ratioText(cmp.cvr_ratio)} those of ${otherName}`;
}

export const DECISIONS = [['won', 'Won: keep it running'], ['lost', 'Lost'], ['inconclusive', 'Inconclusive']];

// decisionBody is the POST …/decision body of the decision form (the
// holdout from now on in percent, at most the current share): {body,
// errors}.
export function decisionBody(f, currentHoldout) {
  const errors = [];
  const body = { decision: f.decision || '', notes: trim(f.notes) };
  if (!DECISIONS.some(([d]) => d === body.decision)) errors.push({ field: 'decision', msg: 'choose won, lost or inconclusive' });
  if (trim(f.hypothesis)) body.hypothesis = trim(f.hypothesis);
  if (trim(f.stage)) body.stage = trim(f.stage);
  if (trim(f.revenue_property)) body.revenue_property = trim(f.revenue_property);
  if (f.holdout_after !== '' && f.holdout_after != null) {
    const p = Number(f.holdout_after);
    const max = round2(Number(currentHoldout) || 0);
    if (!Number.isFinite(p) || p < 0 || p > max) errors.push({ field: 'holdout_after', msg: `the holdout may shrink to 0–${max}%, not grow` });
    else body.holdout_after = Math.round(p * 1e4) / 1e6;
  }
  return { body, errors };
}

// revenueFacts are the report's revenue parts ([] without a revenue
// property).
export function revenueFacts(rep) {
  if (!rep || rep.revenue == null) return [];
  const h = rep.holdout || {};
  return [
    { key: 'revenue', label: 'Revenue', text: fmtMoney(rep.revenue), value: rep.revenue },
    { key: 'revenue_per_recipient', label: 'Per recipient', text: fmtMoney(rep.revenue_per_recipient), value: rep.revenue_per_recipient },
    { key: 'holdout_revenue_per_recipient', label: 'Per holdout person', text: fmtMoney(h.revenue_per_recipient), value: h.revenue_per_recipient ?? null },
    { key: 'revenue_lift', label: 'Revenue lift', text: rep.revenue_lift ? `${fmtMoney(rep.revenue_lift.effect)} [${fmtMoney(rep.revenue_lift.ci && rep.revenue_lift.ci[0])}, ${fmtMoney(rep.revenue_lift.ci && rep.revenue_lift.ci[1])}]` : '–', value: rep.revenue_lift ? rep.revenue_lift.effect : null },
  ];
}
