// Unit tests of the campaign pages' pure helpers (campaignmodel.js; node
// --test web/jstest/): Go durations, the editor's body and its hints
// under the server's field paths, the round trip between a campaign as
// answered and the draft, and the report's and golden time's formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseGoDuration, goDuration, normalizeDuration, humanDuration, newDraft, campaignBody, patchBody, draftFromCampaign,
  localDateTime, fromLocalDateTime, weightShares, waitText, triggerText, goalText, fmtRate, fmtLift, fmtCI, liftVerdict, liftText,
  times, reportFacts, variantRows, liftDomain, goldenSeries, goldenPeak, goldenSummary, listQuery, statusActions, canReport,
  seriesData, ratioText, compareRows, compareHeadline, decisionBody, revenueFacts,
} from '../static/js/campaignmodel.js';

test('Go durations are read and written as Go does; days and weeks become hours', () => {
  assert.equal(parseGoDuration('24h'), 86400);
  assert.equal(parseGoDuration('1h30m'), 5400);
  assert.equal(parseGoDuration('1.5h'), 5400);
  assert.equal(parseGoDuration('90s'), 90);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('500ms'), 0.5);
  assert.equal(parseGoDuration('-2m'), -120);
  for (const bad of ['', '3d', '24', 'h', '1h 2m', '1x', '1h3', ' ', 'abc']) assert.equal(parseGoDuration(bad), null, bad);
  assert.equal(goDuration(86400), '24h');
  assert.equal(goDuration(5400), '1h30m');
  assert.equal(goDuration(90), '1m30s');
  assert.equal(goDuration(0), '0s');
  assert.equal(goDuration(3601), '1h1s');
  assert.deepEqual(normalizeDuration('3d'), { value: '72h' });
  assert.deepEqual(normalizeDuration('2w'), { value: '336h' });
  assert.deepEqual(normalizeDuration('1d12h'), { value: '36h' });
  assert.deepEqual(normalizeDuration(' 90m '), { value: '90m' });
  assert.deepEqual(normalizeDuration(''), { value: '' });
  assert.match(normalizeDuration('soon').error, /like 30s/);
  assert.match(normalizeDuration('3d-1h').error, /like 30s/);
  assert.equal(humanDuration('72h'), '3 days');
  assert.equal(humanDuration('90m'), '1.5 hours');
  assert.equal(humanDuration('1h'), '1 hour');
  assert.equal(humanDuration('30s'), '30 seconds');
  assert.equal(humanDuration('168h'), '1 week');
  assert.equal(humanDuration('0s'), 'no wait');
});

// The seeds' reminder as the editor fills it in.
function reminder() {
  const d = newDraft();
  d.name = ' Cart reminder ';
  d.trigger.event = 'added_to_cart';
  d.trigger.filters = [{ property: 'price', op: 'gt', value: 10 }, { type: 'person', property: 'plan', op: 'is_set', value: 'x' }];
  d.goal.event = 'order_completed';
  d.goal.match = 'item';
  d.goal.within = '3d';
  d.delay = '1d';
  d.holdout = 10;
  d.channel.url = 'https://hooks.example/journey';
  d.variants[0].body = 'Still thinking about {{ item }}?';
  d.variants[0].url = 'https://shop.example/item/{{item}}';
  d.variants[1].body = 'Your cart misses you, {{ person.name | there }}';
  d.cap_on = true;
  d.cap_count = 2;
  d.cap_per = '24h';
  d.quiet_on = true;
  d.reeligible_after = '7d';
  d.send_rate = 50;
  d.activate = true;
  return d;
}

test('the editor posts the contract body: durations as Go durations, holdout as a share', () => {
  const { body, errors } = campaignBody(reminder());
  assert.deepEqual(errors, []);
  assert.deepEqual(body, {
    name: 'Cart reminder', kind: 'triggered',
    trigger: { event: 'added_to_cart', filters: [{ property: 'price', op: 'gt', value: 10 }, { type: 'person', property: 'plan', op: 'is_set' }] },
    wait: { delay: '24h' },
    goal: { event: 'order_completed', match: 'item', within: '72h' },
    holdout: 0.1,
    channel: { type: 'webhook', url: 'https://hooks.example/journey' },
    variants: [
      { name: 'A', weight: 50, body: 'Still thinking about {{ item }}?', url: 'https://shop.example/item/{{item}}' },
      { name: 'B', weight: 50, body: 'Your cart misses you, {{ person.name | there }}' }],
    audience: { frequency_cap: { count: 2, per: '24h' }, quiet_hours: { start: '22:00', end: '08:00' }, reeligible_after: '168h', send_rate: 50 },
    attribution: '72h',
    status: 'active',
  });
  const best = { ...reminder(), wait_mode: 'best_time', min_delay: '90m', activate: false };
  const bb = campaignBody(best).body;
  assert.deepEqual(bb.wait, { best_time: true, min_delay: '90m' });
  assert.equal(bb.status, undefined);
});

test('hints name the server\'s fields before sending', () => {
  const d = newDraft();
  d.trigger.filters = [{ property: '', op: 'eq', value: '' }];
  d.delay = 'tomorrow';
  d.holdout = 100;
  d.channel.url = 'ftp://x';
  d.variants[1].url = '/relative';
  d.variants[1].weight = -1;
  d.variants[1].name = 'A';
  d.quiet_on = true;
  d.quiet_end = '25:00';
  d.cap_on = true;
  d.cap_count = 0;
  d.cap_per = '';
  d.attribution = '120d';
  assert.deepEqual(campaignBody(d).errors.map((e) => e.field), [
    'name', 'trigger.event', 'trigger.filters[0].property', 'wait.delay', 'goal.event', 'holdout', 'channel.url',
    'variants[1].name', 'variants[1].weight', 'variants[1].url',
    'audience.frequency_cap.count', 'audience.frequency_cap.per', 'audience.quiet_hours.end', 'attribution']);
  assert.match(campaignBody({ ...newDraft(), delay: '800h' }).errors.find((e) => e.field === 'wait.delay').msg, /from no wait to 30 days/);

  const email = newDraft();
  Object.assign(email, { name: 'n', goal: { ...email.goal, event: 'g' }, trigger: { event: 't', filters: [] } });
  email.channel = { ...email.channel, type: 'email', from: 'shop.example' };
  email.variants = [{ name: 'A', weight: 1, subject: 'two\nlines', body: '' }];
  assert.deepEqual(campaignBody(email).errors.map((e) => e.field), ['channel.from', 'variants[0].subject', 'variants[0].body']);
  email.channel.from = 'Shop <news@shop.example>';
  email.channel.subject = 'Your cart';
  email.variants = [{ name: 'A', weight: 1, subject: '', body: 'Hi' }];
  assert.deepEqual(campaignBody(email).errors, []);
  assert.deepEqual(campaignBody(email).body.channel, { type: 'email', from: 'Shop <news@shop.example>', subject: 'Your cart' });

  const push = { ...email, channel: { ...email.channel, type: 'web_push', ttl: '30d', urgency: 'high' }, variants: [{ name: 'A', weight: 1 }] };
  assert.deepEqual(campaignBody(push).errors.map((e) => e.field), ['channel.ttl', 'variants[0].body']);
  push.channel.ttl = '1d';
  push.variants = [{ name: 'A', weight: 1, subject: 'Back in stock' }];
  assert.deepEqual(campaignBody(push).body.channel, { type: 'web_push', ttl: '24h', urgency: 'high' });

  const secret = { ...reminder(), channel: { ...reminder().channel, secret: 'not-a-secret' } };
  assert.deepEqual(campaignBody(secret).errors.map((e) => e.field), ['channel.secret']);
});

test('a broadcast names its cohort and time; its goal is optional', () => {
  const d = newDraft('broadcast');
  d.name = 'Spring sale';
  d.channel.url = 'https://hooks.example/j';
  d.variants = [{ name: 'A', weight: 1, body: 'Sale!' }];
  assert.deepEqual(campaignBody(d).errors.map((e) => e.field), ['broadcast.cohort']);
  d.cohort = '7';
  const { body, errors } = campaignBody(d);
  assert.deepEqual(errors, []);
  assert.deepEqual(body.broadcast, { cohort: 7 });
  assert.equal(body.trigger, undefined);
  assert.equal(body.wait, undefined);
  assert.equal(body.goal, undefined);
  d.at = localDateTime('2026-03-01T09:30:00Z');
  d.goal.event = 'order_completed';
  d.goal.match = 'item'; // only triggers match
  const b2 = campaignBody(d).body;
  assert.equal(b2.broadcast.at, '2026-03-01T09:30:00.000Z');
  assert.deepEqual(b2.goal, { event: 'order_completed', within: '72h' });
  assert.equal(fromLocalDateTime(''), '');
  assert.equal(localDateTime('nope'), '');
});

test('a campaign as answered becomes the draft and back; a PATCH names every field', () => {
  const { body } = campaignBody(reminder());
  // As answered: defaults filled in, weights normalised, never the secret.
  const answered = { id: 4, version: 2, status: 'active', ...body, variants: body.variants.map((v) => ({ ...v, weight: 0.5 })), created_at: 'x' };
  const d = draftFromCampaign(answered);
  assert.equal(d.holdout, 10);
  assert.deepEqual(d.variants.map((v) => v.weight), [50, 50]);
  assert.equal(d.channel.secret, '');
  assert.equal(d.cap_on, true);
  assert.equal(d.quiet_on, true);
  assert.equal(d.reeligible_after, '168h');
  const again = campaignBody({ ...d, activate: true });
  assert.deepEqual(again.errors, []);
  assert.deepEqual(again.body, { ...body, variants: body.variants.map((v) => ({ ...v, weight: 50 })) });

  const p = patchBody(d);
  assert.deepEqual(Object.keys(p.body).sort(), ['attribution', 'audience', 'broadcast', 'channel', 'goal', 'holdout', 'kind', 'name', 'trigger', 'variants', 'wait']);
  assert.equal(p.body.broadcast, null); // cleared: a triggered campaign has none
  assert.equal(p.body.status, undefined); // the page's actions change it
  const best = draftFromCampaign({ ...answered, wait: { best_time: true, min_delay: '2h' } });
  assert.equal(best.wait_mode, 'best_time');
  assert.equal(best.min_delay, '2h');
  const bc = draftFromCampaign({ name: 'b', kind: 'broadcast', broadcast: { cohort: 3, at: '2026-01-02T03:04:00Z' }, channel: { type: 'webhook', url: 'https://h.example' }, variants: [] });
  assert.equal(bc.cohort, '3');
  assert.equal(fromLocalDateTime(bc.at), '2026-01-02T03:04:00.000Z');
  assert.equal(bc.variants.length, 1);
  assert.equal(patchBody(bc).body.trigger, null);
  assert.equal(patchBody(bc).body.wait, null);
  assert.deepEqual(weightShares([{ weight: 3 }, { weight: 1 }]), [75, 25]);
  assert.deepEqual(weightShares([{ weight: 0 }, { weight: 0 }]), [50, 50]);
});

test('a cohort trigger messages new members; the goal matches no item then', () => {
  const d = { ...reminder(), trigger_mode: 'cohort' };
  assert.deepEqual(campaignBody(d).errors.map((e) => e.field), ['trigger.cohort']);
  d.trigger_cohort = '4';
  const { body, errors } = campaignBody(d);
  assert.deepEqual(errors, []);
  assert.deepEqual(body.trigger, { cohort: 4 });
  assert.deepEqual(body.goal, { event: 'order_completed', within: '72h' });
  const back = draftFromCampaign({ ...body, kind: 'triggered' });
  assert.equal(back.trigger_mode, 'cohort');
  assert.equal(back.trigger_cohort, '4');
  assert.deepEqual(patchBody(back).body.trigger, { cohort: 4 });
  assert.equal(triggerText({ kind: 'triggered', trigger: { cohort: 4 } }, (id) => `Loyal (${id})`), 'entering Loyal (4)');
});

test('summaries say what a campaign does', () => {
  const c = { kind: 'triggered', trigger: { event: 'added_to_cart', filters: [{}] }, goal: { event: 'order_completed', match: 'item', within: '72h' }, wait: { delay: '24h' } };
  assert.equal(triggerText(c), 'added_to_cart (1 filter)');
  assert.equal(goalText(c), 'order_completed with the same item within 3 days');
  assert.equal(waitText(c), '1 day after the trigger');
  assert.equal(waitText({ ...c, wait: { delay: '0s' } }), 'at once after the trigger');
  assert.equal(waitText({ ...c, wait: { best_time: true, min_delay: '1h' } }), "at the person's best time, at least 1 hour after the trigger");
  const b = { kind: 'broadcast', broadcast: { cohort: 2 } };
  assert.equal(waitText(b), 'when activated');
  assert.equal(waitText({ kind: 'broadcast', broadcast: { cohort: 2, at: 'T' } }, (t) => `<${t}>`), 'at <T>');
  assert.equal(triggerText(b, (id) => `Loyal (${id})`), 'Loyal (2)');
  assert.equal(goalText(b), 'none');
  assert.equal(listQuery('active'), '?status=active');
  assert.equal(listQuery('bogus'), '');
  assert.equal(listQuery(''), '');
  assert.deepEqual(statusActions('draft'), [['active', 'Activate']]);
  assert.deepEqual(statusActions('active').map((a) => a[0]), ['paused', 'stopped']);
  assert.deepEqual(statusActions('paused').map((a) => a[0]), ['active', 'stopped']);
  assert.deepEqual(statusActions('stopped'), []);
  assert.equal(canReport({ status: 'draft' }), false);
  assert.equal(canReport({ status: 'paused' }), true);
});

const rep = {
  triggered: 120, sent: 100, delivered: 98, clicked: 13, ctr: 13 / 98, recipients: 95, conversions: 19, cvr: 0.2,
  holdout: { scheduled: 20, persons: 20, conversions: 2, cvr: 0.1 },
  lift: { effect: 0.1, ci: [0.02, 0.18], p_value: 0.01 },
  relative_lift: { effect: 1, ci: [0.1, null] },
  variants: [{ name: 'A', triggered: 60, sent: 50, delivered: 49, clicked: 7, ctr: 7 / 49, recipients: 48, conversions: 10, cvr: 10 / 48, lift: { effect: -0.05, ci: [-0.09, -0.01] } },
    { name: 'B', triggered: 60, sent: 50, delivered: 49, clicked: 6, ctr: 6 / 49, recipients: 47, conversions: 9, cvr: 9 / 47, lift: null }],
};

test('the report reads as rates, lifts with intervals and verdicts', () => {
  assert.equal(fmtRate(0.071), '7.10%');
  assert.equal(fmtRate(0.25), '25.0%');
  assert.equal(fmtRate(null), '–');
  assert.equal(fmtLift(0.021), '+2.10 pp');
  assert.equal(fmtLift(-0.35, true), '−35.0%');
  assert.equal(fmtLift(0), '±0.00 pp');
  assert.equal(fmtCI([0.02, 0.18]), '[+2.00 pp, +18.00 pp]');
  assert.equal(fmtCI([0.1, null], true), '[+10.0%, +∞]');
  assert.equal(fmtCI(null), '–');
  assert.equal(liftVerdict(rep.lift), 'win');
  assert.equal(liftVerdict(rep.variants[0].lift), 'loss');
  assert.equal(liftVerdict({ effect: 0.01, ci: [-0.01, 0.03] }), 'inconclusive');
  assert.equal(liftVerdict({ effect: 1, ci: [null, null] }), 'inconclusive');
  assert.equal(liftVerdict(null), 'none');
  assert.equal(liftText(rep.lift), '+10.00 pp [+2.00 pp, +18.00 pp]');
  assert.equal(liftText(null), '–');
  assert.equal(times(0.13, 0.01), '13 ×');
  assert.equal(times(0.2, 0.1), '2.0 ×');
  assert.equal(times(0.2, 0), '–');
  const facts = reportFacts(rep);
  assert.deepEqual(facts.map((f) => f.key), ['triggered', 'sent', 'delivered', 'clicked', 'ctr', 'recipients', 'conversions', 'cvr']);
  assert.deepEqual(facts.map((f) => f.text), ['120', '100', '98', '13', '13.3%', '95', '19', '20.0%']);
  assert.equal(facts[4].value, 13 / 98);
  assert.deepEqual(reportFacts({}).map((f) => f.text), ['0', '0', '0', '0', '–', '0', '0', '–']);
  const rows = variantRows(rep);
  assert.deepEqual(rows.map((r) => [r.name, r.sent, r.ctr, r.cvr, r.verdict]), [['A', '50', '14.3%', '20.8%', 'loss'], ['B', '50', '12.2%', '19.1%', 'none']]);
  assert.equal(rows[1].lift, '–');
  assert.ok(Math.abs(liftDomain([rep.lift, ...rep.variants.map((v) => v.lift)]) - 0.198) < 1e-9);
  assert.equal(liftDomain([null]), 0.01);
});

test('golden time reads as chart series and one sentence', () => {
  const res = {
    kind: 'golden_time', triggers: 10, persons: 8, converted: 6, converted_persons: 5, conversion: 0.6, horizon_hours: 72,
    median_hours: 2.5, p75_hours: 30,
    histogram: [{ label: '0h', from_hours: 0, to_hours: 1, conversions: 1, share: 0.1, rate: 0.1 },
      { label: '1h', from_hours: 1, to_hours: 2, conversions: 3, share: 0.3, rate: 1 / 3 },
      { label: '2d', from_hours: 48, to_hours: 72, conversions: 3, share: 0.3, rate: 0.5 }],
    cumulative: [{ hours: 1, converted: 1, share: 0.1 }, { hours: 2, converted: 4, share: 0.4 }],
  };
  assert.deepEqual(goldenSeries(res), {
    labels: ['0h', '1h', '2d'], conversions: [1, 3, 3], share: [0.1, 0.3, 0.3], rate: [0.1, 1 / 3, 0.5],
    hours: ['1h', '2h'], cumulative: [0.1, 0.4],
  });
  assert.equal(goldenPeak(res).label, '1h'); // the sooner of a tie
  assert.equal(goldenSummary(res), '60.0% of 10 triggers converted within 3 days; half of those within 2.5 h; three quarters within 30 h; most in hour 1h after the trigger.');
  assert.equal(goldenSummary({ triggers: 0 }), 'No triggers in the range yet.');
  assert.equal(goldenSummary({ triggers: 4, converted: 0, horizon_hours: 24 }), 'None of the 4 triggers converted within 24 h.');
  assert.equal(goldenPeak({ histogram: [] }), null);
  assert.deepEqual(goldenSeries(null).labels, []);
});

test('the report over time, side by side with another campaign, and the decision', () => {
  const series = { series: [{ date: '2026-03-01', sent: 10, holdout_persons: 2, ctr: 0.1, cvr: 0.2, holdout_cvr: 0.05 },
    { date: '2026-03-02', sent: 5, holdout_persons: 1, ctr: 0, cvr: 0.4, holdout_cvr: 0 }] };
  assert.deepEqual(seriesData(series), { dates: ['2026-03-01', '2026-03-02'], sent: [10, 5], held: [2, 1], ctr: [0.1, 0], cvr: [0.2, 0.4], holdoutCvr: [0.05, 0] });
  assert.deepEqual(seriesData({}).dates, []);

  assert.equal(ratioText(13.04), '13 ×');
  assert.equal(ratioText(2.46), '2.5 ×');
  assert.equal(ratioText(null), '–');
  const cmp = { reports: [rep, { ...rep, sent: 1000, ctr: 0.01, cvr: 0.02, lift: null }], ctr_ratio: 13.3, cvr_ratio: 10, revenue_per_recipient_ratio: undefined };
  const rows = compareRows(cmp);
  assert.deepEqual(rows.map((r) => r.key), ['triggered', 'sent', 'delivered', 'clicked', 'ctr', 'recipients', 'conversions', 'cvr', 'lift']);
  assert.deepEqual(rows[1], { key: 'sent', label: 'Sent', a: '100', b: '1,000' });
  assert.deepEqual(rows[4], { key: 'ctr', label: 'CTR', a: '13.3%', b: '1.00%', ratio: '13 ×' });
  assert.equal(rows[8].b, '–');
  assert.equal(compareHeadline(cmp, 'Spring sale'), 'CTR 13 ×, CVR 10 × those of Spring sale');
  assert.equal(compareHeadline({ ...cmp, ctr_ratio: null, cvr_ratio: null }, 'Spring sale'), 'Spring sale has no CTR or CVR to compare with yet');
  assert.equal(compareHeadline({ ...cmp, ctr_ratio: null }, 'B'), 'CTR –, CVR 10 × those of B');
  const withRevenue = { ...cmp, reports: [{ ...rep, revenue_per_recipient: 12.5 }, { ...rep, revenue_per_recipient: 2.5 }], revenue_per_recipient_ratio: 5 };
  assert.deepEqual(compareRows(withRevenue).at(-1), { key: 'revenue_per_recipient', label: 'Revenue per recipient', a: '12.5', b: '2.5', ratio: '5.0 ×' });

  assert.deepEqual(decisionBody({ decision: 'won', notes: ' ship it ', holdout_after: 5, stage: 'Retention' }, 0.2),
    { body: { decision: 'won', notes: 'ship it', stage: 'Retention', holdout_after: 0.05 }, errors: [] });
  assert.deepEqual(decisionBody({ decision: 'lost', notes: '', holdout_after: '' }, 0.2).body, { decision: 'lost', notes: '' });
  assert.deepEqual(decisionBody({ decision: '', holdout_after: 30 }, 0.2).errors.map((e) => e.field), ['decision', 'holdout_after']);
  assert.match(decisionBody({ decision: 'won', holdout_after: 30 }, 0.2).errors[0].msg, /0–20%/);

  assert.deepEqual(revenueFacts(rep), []);
  const rf = revenueFacts({ ...rep, revenue: 1234.5, revenue_per_recipient: 13, holdout: { revenue_per_recipient: 4 }, revenue_lift: { effect: 9, ci: [2, 16] } });
  assert.deepEqual(rf.map((f) => f.text), ['1,234.5', '13', '4', '9 [2, 16]']);
});
