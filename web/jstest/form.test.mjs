// Unit tests of the insight form's pure helpers (form.js) and of the API
// client's errors (node --test web/jstest/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, placeFields, fieldPrefixes, filterValueText, parseFilterValue } from '../static/js/form.js';
import { api, ApiError } from '../static/js/api.js';

test('spec paths: at joins, placeFields lists what an event picker edits', () => {
  assert.equal(at('', 'filters'), 'filters');
  assert.equal(at('steps[1]', 'event'), 'steps[1].event');
  assert.equal(placeFields('series[0]'), 'series[0].event series[0].action series[0].action_id');
  assert.equal(placeFields(''), 'event action action_id');
});

test('fieldPrefixes: the path, then each enclosing one', () => {
  assert.deepEqual(fieldPrefixes('steps[1].filters[0].value'), ['steps[1].filters[0].value', 'steps[1].filters[0]', 'steps[1].filters', 'steps[1]', 'steps']);
  assert.deepEqual(fieldPrefixes('denominator.conditions[2].first_time'),
    ['denominator.conditions[2].first_time', 'denominator.conditions[2]', 'denominator.conditions', 'denominator']);
  assert.deepEqual(fieldPrefixes('interval'), ['interval']);
  assert.deepEqual(fieldPrefixes(''), []);
  assert.deepEqual(fieldPrefixes(null), []);
  assert.deepEqual(fieldPrefixes(undefined), []);
});

test('filter values: lists for "in", numbers for gt/lt, text otherwise', () => {
  assert.deepEqual(parseFilterValue('in', ' a, b ,, c'), ['a', 'b', 'c']);
  assert.equal(parseFilterValue('gt', '10'), 10);
  assert.equal(parseFilterValue('lt', 'ten'), 'ten');
  assert.equal(parseFilterValue('gt', ' '), ' ');
  assert.equal(parseFilterValue('eq', '10'), '10');
  assert.equal(filterValueText({ value: ['a', 'b'] }), 'a, b');
  assert.equal(filterValueText({ value: 3 }), '3');
  assert.equal(filterValueText({}), '');
});

test('api keeps the field a 400 names on the thrown error', async (t) => {
  const answers = [
    { status: 400, body: { error: 'invalid field "steps[1].event": missing', field: 'steps[1].event' } },
    { status: 400, body: { error: 'cannot read body' } },
    { status: 500, body: null },
  ];
  t.mock.method(globalThis, 'fetch', async () => {
    const a = answers.shift();
    return new Response(a.body ? JSON.stringify(a.body) : '', { status: a.status, statusText: 'Bad' });
  });
  const err1 = await api('POST', '/projects/1/query', {}).catch((e) => e);
  assert.ok(err1 instanceof ApiError);
  assert.equal(err1.status, 400);
  assert.equal(err1.message, 'invalid field "steps[1].event": missing');
  assert.equal(err1.field, 'steps[1].event');
  const err2 = await api('POST', '/projects/1/query', {}).catch((e) => e);
  assert.equal(err2.field, null);
  const err3 = await api('GET', '/x').catch((e) => e);
  assert.equal(err3.status, 500);
  assert.equal(err3.field, null);
});
