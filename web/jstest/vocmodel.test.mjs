// Unit tests of the VoC pages' pure helpers (vocmodel.js; node --test
// web/jstest/): the inbox's filters, the item editor's PATCH, the
// ranking's formula, the survey editor's PostHog body and its round trip,
// the results' NPS/CSAT series and segments, the home page's themes by
// stage, a reply's delivery and the inbox's SLA history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  inboxFilters, inboxQuery, hasFilters, parseTags, itemPatch, commentError, timeBetween, themeSort, formulaTerms, scoreShare,
  fmtMoney, mergeTargets, newSurvey, newQuestion, surveyBody, surveyPatch, draftFromSurvey, kindOf, surveySummary,
  projectNPSSurvey, scoreSeries, segmentRows, trendText, themesByStage, statusText, deliveryView, slaRows, businessTime,
} from '../static/js/vocmodel.js';

test('the inbox keeps only filters the API takes, and writes them back as a query', () => {
  const f = inboxFilters(new URLSearchParams('q=%EB%82%B4%EB%B3%B4%EB%82%B4%EA%B8%B0%20%EC%8B%A4%ED%8C%A8&status=planned&theme=12&tag=Billing'));
  assert.deepEqual(f, { q: '내보내기 실패', status: 'planned', theme: '12', tag: 'billing' });
  assert.equal(inboxQuery(f), '?q=%EB%82%B4%EB%B3%B4%EB%82%B4%EA%B8%B0+%EC%8B%A4%ED%8C%A8&status=planned&theme=12&tag=billing');
  assert.deepEqual(inboxFilters({ status: 'bogus', theme: '-1', tag: 'x'.repeat(51), q: ' ' }), { q: '', status: '', theme: '', tag: '' });
  assert.equal(inboxFilters({ theme: 'none' }).theme, 'none');
  assert.equal(inboxFilters({ theme: '1e3' }).theme, '');
  assert.equal(inboxQuery({}, { limit: 200 }), '?limit=200');
  assert.equal(inboxQuery({ q: '', status: '' }), '');
  assert.equal(hasFilters({ q: '' }), false);
  assert.equal(hasFilters({ tag: 'a' }), true);
  assert.equal(inboxFilters({ q: 'x'.repeat(300) }).q.length, 200);
});

test('tags are parsed as the server normalises them; the PATCH names only what changed', () => {
  assert.deepEqual(parseTags(' Billing, export ,billing\nUI,,'), ['billing', 'export', 'ui']);
  const item = { status: 'new', priority: 'normal', assignee_id: 0, theme_id: 3, tags: ['billing'] };
  assert.deepEqual(itemPatch(item, { status: 'new', priority: 'normal', assignee_id: '0', theme_id: '3', tags: ['billing'] }), { body: null, errors: [] });
  assert.deepEqual(itemPatch(item, { status: 'planned', priority: 'urgent', assignee_id: '7', theme_id: '0', tags: 'billing, export' }).body,
    { status: 'planned', priority: 'urgent', assignee_id: 7, theme_id: 0, tags: ['billing', 'export'] });
  const many = itemPatch(item, { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) });
  assert.deepEqual(many.errors.map((e) => e.field), ['tags']);
  assert.deepEqual(itemPatch(item, { tags: ['한'.repeat(17)] }).errors.map((e) => e.field), ['tags[0]']); // 51 bytes
  assert.equal(commentError('  '), 'Write something first.');
  assert.equal(commentError('ok'), '');
  assert.match(commentError('x'.repeat(10001)), /10 000/);
  assert.equal(timeBetween('2026-01-01T09:00:00Z', '2026-01-01T09:45:00Z'), '45 min');
  assert.equal(timeBetween('2026-01-01T09:00:00Z', '2026-01-03T09:00:00Z'), '2.0 days');
  assert.equal(timeBetween('2026-01-01T09:00:00Z', ''), '');
  assert.equal(timeBetween('2026-01-02T09:00:00Z', '2026-01-01T09:00:00Z'), '');
  assert.equal(statusText('in_progress'), 'In progress');
});

test('the ranking: sorts, the formula\'s terms, score bars, money and merge targets', () => {
  assert.equal(themeSort('revenue'), 'revenue');
  assert.equal(themeSort('bad_days'), 'bad_days');
  assert.equal(themeSort('drop table'), 'impact');
  const formula = 'score = 100 × (0.25·persons/max_persons + 0.20·accounts/max_accounts + 0.30·revenue/max_revenue + 0.10·bad_day_share + 0.05·votes/max_votes + 0.05·recency + 0.05·trend); max_* over the ranked list';
  const terms = formulaTerms(formula);
  assert.deepEqual(terms.map((t) => t.weight), [0.25, 0.2, 0.3, 0.1, 0.05, 0.05, 0.05]);
  assert.equal(terms[2].term, 'revenue/max_revenue');
  assert.equal(Math.round(terms.reduce((a, t) => a + t.weight, 0) * 100), 100);
  assert.deepEqual(formulaTerms('no parentheses'), []);
  const themes = [{ id: 1, score: 80 }, { id: 2, score: 20 }, { id: 3, score: 0, merged_into: 1 }];
  assert.equal(scoreShare(themes, themes[1]), 0.25);
  assert.equal(scoreShare([{ score: 0 }], { score: 0 }), 0);
  assert.deepEqual(mergeTargets(themes, 2).map((t) => t.id), [1]);
  assert.equal(fmtMoney(12345.6), '12,346');
  assert.equal(fmtMoney(9.5), '9.5');
  assert.equal(fmtMoney(null), '–');
});

// A survey as the editor fills it in: NPS, then why, a choice and a link.
function npsDraft() {
  const d = newSurvey();
  d.name = ' Quarterly NPS ';
  const why = newQuestion('open');
  why.question = 'What is the main reason?';
  why.optional = true;
  const plan = newQuestion('single_choice');
  plan.question = 'Which plan are you on?';
  plan.choices = 'Free\nPro\n\nTeam ';
  plan.open_choice = true;
  const link = newQuestion('link');
  link.question = 'Book a call?';
  link.link = 'https://cal.example/journey';
  link.button = 'Book';
  d.questions.push(why, plan, link);
  d.url = '/billing';
  d.events = 'invoice_exported, plan_upgraded';
  d.cohort = '4';
  d.flag = 'new-billing';
  d.flag_variant = 'test';
  d.wait_days = '14';
  d.start = 'now';
  d.schedule = 'recurring';
  d.iteration_count = '4';
  d.iteration_days = '90';
  d.responses_limit = '500';
  return d;
}

test('the editor posts PostHog\'s survey JSON: NPS a 0–10 rating, targeting, wait period and schedule', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const { body, errors } = surveyBody(npsDraft(), now);
  assert.deepEqual(errors, []);
  assert.deepEqual(body, {
    name: 'Quarterly NPS', type: 'popover',
    questions: [
      { type: 'rating', question: 'How likely are you to recommend us to a friend?', display: 'number', scale: 10, lowerBoundLabel: 'Unlikely', upperBoundLabel: 'Very likely' },
      { type: 'open', question: 'What is the main reason?', optional: true },
      { type: 'single_choice', question: 'Which plan are you on?', choices: ['Free', 'Pro', 'Team'], hasOpenChoice: true },
      { type: 'link', question: 'Book a call?', link: 'https://cal.example/journey', buttonText: 'Book' },
    ],
    conditions: {
      url: '/billing', urlMatchType: 'icontains',
      events: { repeatedActivation: false, values: [{ name: 'invoice_exported' }, { name: 'plan_upgraded' }] },
      seenSurveyWaitPeriodInDays: 14, cohort: 4, linkedFlagVariant: 'test',
    },
    linked_flag_key: 'new-billing',
    start_date: '2026-03-01T10:00:00.000Z',
    schedule: 'recurring', iteration_count: 4, iteration_frequency_days: 90, responses_limit: 500,
    appearance: { displayThankYouMessage: true, thankYouMessageHeader: 'Thank you!' },
  });
  const csat = newSurvey();
  csat.name = 'CSAT';
  csat.questions = [newQuestion('csat')];
  csat.wait_days = '';
  const cb = surveyBody(csat).body;
  assert.deepEqual(cb.questions[0], { type: 'rating', question: 'How satisfied are you?', display: 'number', scale: 5, lowerBoundLabel: 'Very dissatisfied', upperBoundLabel: 'Very satisfied' });
  assert.equal(cb.conditions, null);
  assert.equal(cb.start_date, undefined); // a draft
});

test('hints name the server\'s fields before sending', () => {
  const d = newSurvey();
  const r = newQuestion('rating');
  r.question = 'Rate it';
  r.display = 'emoji';
  r.scale = 7;
  const c = newQuestion('multiple_choice');
  c.question = 'Which?';
  c.choices = 'A\nA';
  const l = newQuestion('link');
  l.question = 'Go';
  l.link = 'javascript:alert(1)';
  const blank = newQuestion('open');
  d.questions = [r, c, l, blank];
  d.wait_days = '9999';
  d.flag_variant = 'x';
  d.start = 'at';
  d.schedule = 'recurring';
  d.responses_limit = '0';
  assert.deepEqual(surveyBody(d).errors.map((e) => e.field), [
    'name', 'questions[0].scale', 'questions[1].choices', 'questions[2].link', 'questions[3].question',
    'conditions.seenSurveyWaitPeriodInDays', 'conditions.linkedFlagVariant', 'start_date', 'iteration_count', 'iteration_frequency_days', 'responses_limit']);
  const e = newSurvey();
  e.name = 'x';
  e.start = 'at';
  e.start_at = '2026-03-02T10:00';
  e.end_at = '2026-03-01T10:00';
  assert.deepEqual(surveyBody(e).errors.map((x) => x.field), ['end_date']);
  assert.deepEqual(surveyBody({ ...e, questions: [] }).errors.map((x) => x.field), ['questions', 'end_date']);
});

test('a stored survey becomes the draft and back; the PATCH clears what the editor removed', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const { body } = surveyBody(npsDraft(), now);
  const stored = { id: 9, status: 'running', version: 2, ...body, questions: body.questions.map((q, i) => ({ id: `q${i}`, ...q })), end_date: null };
  const d = draftFromSurvey(stored);
  assert.deepEqual(d.questions.map((q) => q.kind), ['nps', 'open', 'single_choice', 'link']);
  assert.equal(d.questions[2].choices, 'Free\nPro\nTeam');
  assert.equal(d.start, 'at');
  assert.equal(d.events, 'invoice_exported, plan_upgraded');
  assert.equal(d.cohort, '4');
  const again = surveyBody(d, now).body;
  assert.deepEqual(again.questions.map((q) => q.id), ['q0', 'q1', 'q2', 'q3']); // ids kept: answers stay joined
  assert.deepEqual({ ...again, questions: again.questions.map(({ id, ...q }) => q) }, body);

  d.flag = '';
  d.flag_variant = '';
  d.responses_limit = '';
  d.schedule = 'once';
  const p = surveyPatch(d, stored, now).body;
  assert.equal(p.linked_flag_key, null);
  assert.equal(p.responses_limit, null);
  assert.equal(p.iteration_count, null);
  assert.equal(p.conditions.linkedFlagVariant, undefined);
  assert.equal(p.start_date, stored.start_date);
  const draftStored = { ...stored, start_date: null, status: 'draft' };
  const dd = draftFromSurvey(draftStored);
  assert.equal(dd.start, 'draft');
  assert.equal(surveyPatch(dd, draftStored).body.start_date, null);
  const started = surveyPatch({ ...dd, start: 'draft' }, stored).body;
  assert.equal('start_date' in started, false); // a started survey keeps its date
  assert.equal(kindOf({ type: 'rating', scale: 10 }), 'nps');
  assert.equal(kindOf({ type: 'rating', scale: 10, display: 'emoji' }), 'rating');
  assert.equal(kindOf({ type: 'rating', scale: 5, display: 'emoji' }), 'csat');
  assert.equal(kindOf({ type: 'rating', scale: 7 }), 'rating');
  assert.match(surveySummary(stored), /^NPS \(0–10\), Open text, Single choice, Link · on pages whose URL contains “\/billing”, after invoice_exported or plan_upgraded, to a cohort, with flag new-billing=test · at most one survey per 14 days$/);
  assert.equal(surveySummary({ questions: [] }), 'No questions · everyone');
});

test('the project\'s NPS survey is the running one started last', () => {
  const q = [{ id: 'n', type: 'rating', scale: 10 }];
  const list = [
    { id: 1, status: 'stopped', start_date: '2026-02-01T00:00:00Z', questions: q },
    { id: 2, status: 'running', start_date: '2026-01-01T00:00:00Z', questions: q },
    { id: 3, status: 'running', start_date: '2026-01-05T00:00:00Z', questions: [{ id: 'c', type: 'rating', scale: 5 }] },
    { id: 4, status: 'draft', start_date: null, questions: q },
  ];
  assert.equal(projectNPSSurvey(list).id, 2);
  assert.equal(projectNPSSurvey(list.filter((s) => s.id !== 2)).id, 1);
  assert.equal(projectNPSSurvey([list[2], list[3]]), null);
  assert.equal(projectNPSSurvey(null), null);
});

test('NPS and CSAT over time and by segment, from a results answer', () => {
  const nps = (p, pa, d, score) => ({ id: 'n', answered: p + pa + d, nps: { promoters: p, passives: pa, detractors: d, score } });
  const res = {
    series: [
      { period: '2026-01-05T00:00:00Z', questions: [nps(2, 0, 0, 100)] },
      { period: '2026-01-12T00:00:00Z', questions: [nps(0, 0, 0, 0)] },
      { period: '2026-01-19T00:00:00Z', questions: [nps(1, 0, 1, 0)] },
    ],
    segments: [{ segment: 'pro', respondents: 3, questions: [nps(2, 0, 1, 33.33)] }, { segment: '$none', respondents: 1, questions: [nps(1, 0, 0, 100)] }],
  };
  const s = scoreSeries(res, 'n', 'nps');
  assert.deepEqual(s.categories, ['2026-01-05', '2026-01-12', '2026-01-19']);
  assert.deepEqual(s.lines, [{ name: 'All', values: [100, null, 0] }]); // no answer is no score, not 0
  assert.equal(trendText(s.lines[0].values), '−100 since the period before');
  assert.equal(trendText([null, 5]), '');
  assert.equal(trendText([5, 5]), 'no change');
  assert.deepEqual(segmentRows(res, 'n', 'nps'), [
    { segment: 'pro', respondents: 3, answered: 3, score: 33.33 }, { segment: '(not set)', respondents: 1, answered: 1, score: 100 }]);
  const seg = (period, segment, q) => ({ period, segment, questions: [q] });
  const byPlan = scoreSeries({ series: [seg('2026-01-05', 'pro', nps(1, 0, 0, 100)), seg('2026-01-12', 'pro', nps(0, 0, 1, -100)),
    seg('2026-01-05', '$other', nps(0, 0, 0, 0)), seg('2026-01-12', '$other', nps(0, 1, 0, 0))] }, 'n', 'nps');
  assert.deepEqual(byPlan.lines, [{ name: 'pro', values: [100, -100] }, { name: '(other)', values: [null, 0] }]);
  const csat = scoreSeries({ series: [{ period: '2026-01-05', questions: [{ id: 'c', csat: { satisfied: 3, total: 4, score: 75 } }] }] }, 'c', 'csat');
  assert.deepEqual(csat.lines[0].values, [75]);
  assert.deepEqual(scoreSeries(null, 'n').lines, []);
});

test('the home page puts each theme beside its stage; the rest apart', () => {
  const themes = [{ id: 1, stage_index: 2 }, { id: 2, stage_index: 0 }, { id: 3, stage_index: -1 }, { id: 4, stage_index: 2 }, { id: 5, stage_index: 9 }];
  const { by, rest } = themesByStage(5, themes);
  assert.deepEqual(by.map((l) => l.map((t) => t.id)), [[2], [], [1, 4], [], []]);
  assert.deepEqual(rest.map((t) => t.id), [3, 5]);
  assert.deepEqual(themesByStage(0, themes).rest.length, 5);
});

test("a reply's delivery reads as its send stands: queued, retrying with the last error, delivered, failed, not sent", () => {
  assert.deepEqual(deliveryView(undefined).label, 'Not sent');
  assert.equal(deliveryView(null).at, '');
  assert.deepEqual(deliveryView({ state: 'pending', attempts: 0, next_attempt_at: '2026-12-02T10:00:00Z' }),
    { label: 'Queued', cls: 'paused', detail: 'due', at: '2026-12-02T10:00:00Z' });
  assert.deepEqual(deliveryView({ state: 'pending', attempts: 1, last_error: 'status 503', next_attempt_at: '2026-12-02T10:00:05Z' }),
    { label: 'Retrying', cls: 'paused', detail: '1 attempt failed: status 503; next attempt', at: '2026-12-02T10:00:05Z' });
  assert.deepEqual(deliveryView({ state: 'sent', attempts: 2, sent_at: '2026-12-02T10:00:06Z' }),
    { label: 'Delivered', cls: 'running', detail: 'after 2 attempts', at: '2026-12-02T10:00:06Z' });
  assert.equal(deliveryView({ state: 'sent', attempts: 1 }).detail, 'after 1 attempt');
  const failed = deliveryView({ state: 'failed', attempts: 10, last_error: 'gave up after 10 attempts: ' + 'x'.repeat(300) });
  assert.equal(failed.label, 'Failed');
  assert.equal(failed.cls, 'bad');
  assert.equal(failed.detail.length, 200);
  assert.ok(failed.detail.startsWith('gave up after 10 attempts: ') && failed.detail.endsWith('…'));
  assert.deepEqual(deliveryView({ state: 'cancelled', attempts: 0, last_error: 'unsubscribed' }), { label: 'Not sent', cls: 'stopped', detail: 'unsubscribed', at: '' });
  assert.equal(deliveryView({ state: 'sending', attempts: 1 }).detail, 'attempt 2');
  assert.equal(deliveryView({ state: 'something_new' }).label, 'something_new');
});

test('the SLA history reads per priority: within target of measured, the median, the open breaches', () => {
  const sla = { priorities: [
    { priority: 'urgent', items: 12, first_response: { measured: 9, breached: 3, median_s: 2520, open_breached: 3 }, resolve: { measured: 0, breached: 0, open_breached: 12 } },
    { priority: 'high', items: 0, first_response: {}, resolve: {} },
    { priority: 'low', items: 40, first_response: { measured: 27, breached: 8, median_s: 39600, open_breached: 11 }, resolve: { measured: 6, breached: 1, median_s: null, open_breached: 14 } },
  ] };
  const rows = slaRows(sla);
  assert.deepEqual(rows.map((r) => [r.label, r.items, r.open]), [['Urgent', 12, 15], ['Low', 40, 25]]);
  assert.equal(rows[0].first.text, '6 of 9 within target (67 %) · median 42 min');
  assert.deepEqual([rows[0].first.met, rows[0].first.breached], [6, 3]);
  assert.equal(rows[0].resolve.text, 'none yet');
  assert.equal(rows[1].first.text, '19 of 27 within target (70 %) · median 11 h');
  assert.equal(rows[1].resolve.text, '5 of 6 within target (83 %)');
  assert.deepEqual(slaRows(null), []);
  assert.deepEqual(slaRows({}), []);
  assert.equal(businessTime(5400), '1.5 h');
  assert.equal(businessTime(-1), '–');
  assert.equal(businessTime(null), '–');
});
