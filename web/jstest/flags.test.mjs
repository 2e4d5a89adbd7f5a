// Unit tests of the flag editor's pure helpers (flagmodel.js; node --test
// web/jstest/): variant shares, condition normalisation, payloads, and
// the round trip between PostHog's flag JSON and the editor's draft.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  validKey, parseValue, normalizeProperty, normalizeCondition, validateVariants, evenShares, sumShares,
  validatePayload, payloadText, draftFromFlag, flagBody, newDraft, rowFromProperty, propertySummary, rolloutSummary, operatorKind,
} from '../static/js/flagmodel.js';

test('variant shares must sum to 100, keys be valid and distinct', () => {
  const ok = validateVariants([{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }]);
  assert.equal(ok.ok, true);
  assert.equal(ok.sum, 100);
  const short = validateVariants([{ key: 'a', rollout_percentage: 50 }, { key: 'b', rollout_percentage: 40 }]);
  assert.equal(short.ok, false);
  assert.deepEqual(short.errors.map((e) => e.field), ['filters.multivariate.variants']);
  assert.match(short.errors[0].msg, /sum to 100%, not 90%/);
  // Thirds: 33.33 + 33.33 + 33.34 is 100 despite float noise.
  assert.equal(validateVariants([{ key: 'a', rollout_percentage: 33.33 }, { key: 'b', rollout_percentage: 33.33 }, { key: 'c', rollout_percentage: 33.34 }]).ok, true);
  assert.equal(sumShares([{ rollout_percentage: 0.1 }, { rollout_percentage: 0.2 }]), 0.3);
  const bad = validateVariants([{ key: 'a', rollout_percentage: 50 }, { key: 'a', rollout_percentage: 50 }, { key: 'no spaces', rollout_percentage: 0 }, { key: '', rollout_percentage: '' }]);
  assert.deepEqual(bad.errors.map((e) => e.field), [
    'filters.multivariate.variants[1].key', 'filters.multivariate.variants[2].key',
    'filters.multivariate.variants[3].key', 'filters.multivariate.variants[3].rollout_percentage']);
  assert.equal(validateVariants([]).ok, false);
  assert.deepEqual(evenShares(3), [34, 33, 33]);
  assert.deepEqual(evenShares(2), [50, 50]);
  assert.deepEqual(evenShares(7).reduce((a, b) => a + b, 0), 100);
  assert.equal(validKey('new-checkout_2'), true);
  assert.equal(validKey('a b'), false);
  assert.equal(validKey('x'.repeat(401)), false);
});

test('values are parsed by operator kind', () => {
  assert.deepEqual(parseValue('exact', ' pro , team ,'), { value: ['pro', 'team'] });
  assert.ok(parseValue('exact', '  ').error);
  assert.deepEqual(parseValue('gt', '10.5'), { value: 10.5 });
  assert.ok(parseValue('gte', 'ten').error);
  assert.ok(parseValue('lt', '').error);
  assert.deepEqual(parseValue('between', '1, 5'), { value: [1, 5] });
  assert.ok(parseValue('between', '5, 1').error);
  assert.ok(parseValue('between', '5').error);
  assert.deepEqual(parseValue('is_set', 'ignored'), { value: 'is_set' });
  assert.deepEqual(parseValue('is_date_before', '-7d'), { value: '-7d' });
  assert.deepEqual(parseValue('regex', '^a.*'), { value: '^a.*' });
  assert.equal(operatorKind('semver_caret'), 'semver');
  assert.equal(operatorKind(undefined), 'list'); // exact
});

test('condition rows normalise to PostHog properties, errors name the server path', () => {
  const path = 'filters.groups[0].properties[1]';
  assert.deepEqual(normalizeProperty({ type: 'person', key: ' plan ', operator: 'exact', text: 'pro' }, path),
    { prop: { key: 'plan', type: 'person', operator: 'exact', value: ['pro'] } });
  assert.deepEqual(normalizeProperty({ type: 'person', key: 'email', operator: 'icontains', text: '@acme.io', negation: true }, path),
    { prop: { key: 'email', type: 'person', operator: 'icontains', value: '@acme.io', negation: true } });
  assert.deepEqual(normalizeProperty({ type: 'cohort', key: 'id', operator: 'not_in', text: '12' }, path),
    { prop: { key: 'id', type: 'cohort', operator: 'not_in', value: 12 } });
  assert.deepEqual(normalizeProperty({ type: 'flag', key: 'beta', text: 'true' }, path),
    { prop: { key: 'beta', type: 'flag', operator: 'flag_evaluates_to', value: true } });
  assert.deepEqual(normalizeProperty({ type: 'flag', key: 'beta', text: 'test' }, path).prop.value, 'test');
  assert.deepEqual(normalizeProperty({ type: 'person', key: '', operator: 'exact', text: 'x' }, path).error, { field: `${path}.key`, msg: 'give the person property' });
  assert.equal(normalizeProperty({ type: 'person', key: 'n', operator: 'gt', text: 'x' }, path).error.field, `${path}.value`);
  assert.equal(normalizeProperty({ type: 'cohort', text: '' }, path).error.field, `${path}.value`);

  const c = normalizeCondition({ rows: [{ type: 'person', key: 'plan', operator: 'exact', text: 'pro' }], rollout_percentage: '', variant: 'test' }, 2, true);
  assert.deepEqual(c, { group: { properties: [{ key: 'plan', type: 'person', operator: 'exact', value: ['pro'] }], rollout_percentage: 100, variant: 'test' }, errors: [] });
  assert.equal(normalizeCondition({ rows: [], rollout_percentage: 30, variant: 'test' }, 0, false).group.variant, null); // boolean: no override
  assert.deepEqual(normalizeCondition({ rows: [], rollout_percentage: 130 }, 1, false).errors, [{ field: 'filters.groups[1].rollout_percentage', msg: 'must be a percentage from 0 to 100' }]);
});

test('payloads must be JSON; stored JSON strings show pretty', () => {
  assert.deepEqual(validatePayload(''), { empty: true });
  assert.deepEqual(validatePayload(' {"a": [1, 2]} '), { json: '{"a":[1,2]}' });
  assert.deepEqual(validatePayload('"hello"'), { json: '"hello"' });
  assert.match(validatePayload('{a:1}').error, /not valid JSON/);
  assert.equal(payloadText('{"a":1}'), '{\n  "a": 1\n}');
  assert.equal(payloadText('not json'), 'not json');
  assert.equal(payloadText(null), '');
});

test('a flag round-trips between PostHog JSON and the draft', () => {
  const flag = {
    id: 3, key: 'new-checkout', name: 'New checkout', active: true, version: 4, ensure_experience_continuity: false,
    filters: {
      groups: [
        { properties: [{ key: 'plan', value: ['pro', 'team'], operator: 'exact', type: 'person' }, { key: 'id', value: 7, type: 'cohort', operator: 'in' }], rollout_percentage: 50, variant: null },
        { properties: [], rollout_percentage: 100, variant: 'test' },
      ],
      multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] },
      payloads: { test: '{"button":"Buy"}' },
      aggregation_group_type_index: null,
    },
  };
  const d = draftFromFlag(flag);
  assert.equal(d.multivariate, true);
  assert.equal(d.version, 4);
  assert.deepEqual(d.conditions[0].rows[0], { type: 'person', key: 'plan', operator: 'exact', text: 'pro, team', negation: false });
  assert.deepEqual(d.conditions[0].rows[1], { type: 'cohort', key: 'id', operator: 'in', text: '7', negation: false });
  const { body, errors } = flagBody(d);
  assert.deepEqual(errors, []);
  assert.deepEqual(body.filters.groups, flag.filters.groups);
  assert.deepEqual(body.filters.multivariate, flag.filters.multivariate);
  assert.deepEqual(body.filters.payloads, { test: '{"button":"Buy"}' });
  assert.equal(body.key, 'new-checkout');

  // Bad drafts say every field at fault, by the server's paths.
  const nd = newDraft();
  nd.multivariate = true;
  nd.variants[1].rollout_percentage = 30;
  nd.conditions[0].variant = 'nope';
  nd.payloads.control = '{oops';
  nd.conditions[0].rows.push({ type: 'person', key: 'age', operator: 'gt', text: 'old' });
  const bad = flagBody(nd);
  assert.deepEqual(bad.errors.map((e) => e.field), ['key', 'filters.multivariate.variants', 'filters.groups[0].variant',
    'filters.groups[0].properties[0].value', 'filters.payloads.control']);
  // A boolean flag's payload is keyed "true" and variants are not sent.
  const b = newDraft();
  b.key = 'beta';
  b.payloads = { true: '{"x":1}', control: '{"ignored":true}' };
  const bb = flagBody(b);
  assert.deepEqual(bb.errors, []);
  assert.equal(bb.body.filters.multivariate, null);
  assert.deepEqual(bb.body.filters.payloads, { true: '{"x":1}' });
  assert.deepEqual(rowFromProperty({ key: 'x', operator: 'is_set', value: 'is_set' }), { type: 'person', key: 'x', operator: 'is_set', text: '', negation: false });
});

test('summaries say who gets a flag', () => {
  assert.equal(propertySummary({ key: 'plan', operator: 'exact', value: ['pro'], type: 'person' }), 'plan equals pro');
  assert.equal(propertySummary({ key: 'x', operator: 'is_set', value: 'is_set' }), 'x is set');
  assert.equal(propertySummary({ key: 'id', type: 'cohort', value: 4, operator: 'not_in' }), 'not in cohort 4');
  assert.equal(rolloutSummary({ filters: { groups: [{ properties: [{ key: 'plan', operator: 'exact', value: ['pro'] }], rollout_percentage: 20 }, { properties: [] }],
    multivariate: { variants: [{ key: 'a', rollout_percentage: 50 }, { key: 'b', rollout_percentage: 50 }] } } }),
  '20% of plan equals pro; or everyone · a 50% / b 50%');
  assert.equal(rolloutSummary({ filters: { groups: [] } }), 'nobody (no condition set)');
});

test('usage totals: calls summed per value, persons of the busiest day, most called first', async () => {
  const { usageTotals } = await import('../static/js/flagmodel.js');
  const usage = { series: [
    { label: 'calls - control', breakdown_value: 'control', points: [{ t: 'd1', value: 4 }, { t: 'd2', value: 0 }] },
    { label: 'calls - test', breakdown_value: 'test', points: [{ t: 'd1', value: 1 }, { t: 'd2', value: 3 }] },
    { label: 'persons - control', breakdown_value: 'control', points: [{ t: 'd1', value: 3 }, { t: 'd2', value: 0 }] },
    { label: 'persons - test', breakdown_value: 'test', points: [{ t: 'd1', value: 1 }, { t: 'd2', value: 2 }] },
  ] };
  assert.deepEqual(usageTotals(usage), [
    { value: 'control', calls: 4, peakPersons: 3 },
    { value: 'test', calls: 4, peakPersons: 2 },
  ]);
  assert.deepEqual(usageTotals(null), []);
});
