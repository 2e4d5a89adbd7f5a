// Unit tests of the insight kinds' pure parts (kinds/*.js): defaults,
// normalize, name, tables and chart options, and the CSV of a result
// (node --test web/jstest/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS, kindOf, kindLabel, defaultSpec, normalizeSpec, autoName, tablesFor, chartFor, summaryFor } from '../static/js/kinds/index.js';
import { fixExclusions } from '../static/js/kinds/funnel.js';
import { csvOf } from '../static/js/render.js';

const NOW = Date.parse('2026-03-10T12:00:30Z');
const RANGE = { from: '2026-02-08T12:01:00.000Z', to: '2026-03-10T12:01:00.000Z' }; // 30 days to the next minute
const KNOWN = ['$pageview', '$identify', 'signed_up', 'order_completed'];

test('every kind module has the documented shape, in the picker order', () => {
  assert.deepEqual(KINDS.map((k) => k.kind), ['funnel', 'trend', 'retention', 'stickiness', 'lifecycle', 'paths', 'kpi', 'bad_days', 'journey', 'sql']);
  for (const k of KINDS) {
    for (const fn of ['defaults', 'normalize', 'form', 'name', 'tables', 'chart']) assert.equal(typeof k[fn], 'function', `${k.kind}.${fn}`);
    assert.equal(typeof k.label, 'string');
    assert.equal(kindOf(k.kind), k);
    if (k.chartType) assert.ok(['line', 'bar'].includes(k.chartType), k.kind);
  }
  assert.deepEqual(KINDS.filter((k) => k.breakdown).map((k) => k.kind), ['funnel', 'trend', 'retention', 'journey']);
  assert.deepEqual(KINDS.filter((k) => !k.builder).map((k) => k.kind), ['sql']);
  assert.equal(kindLabel('bad_days'), 'Bad days');
  assert.equal(kindLabel('nope'), 'nope');
});

test('defaultSpec: a runnable spec from the project’s most frequent events, last 30 days', () => {
  assert.deepEqual(defaultSpec('trend', {}, KNOWN, NOW), { kind: 'trend', series: [{ event: '$pageview', math: 'total' }], interval: 'day', ...RANGE });
  // $identify is never a default; with no events at all, $pageview.
  assert.deepEqual(defaultSpec('funnel', {}, ['$identify', 'a'], NOW).steps, [{ event: 'a' }, { event: 'a' }]);
  assert.deepEqual(defaultSpec('lifecycle', {}, [], NOW), { kind: 'lifecycle', event: '$pageview', interval: 'day', ...RANGE });
  assert.deepEqual(defaultSpec('retention', {}, KNOWN, NOW), {
    kind: 'retention', start: { event: '$pageview' }, return: { event: 'signed_up' }, period: 'week', periods: 8, mode: 'first_time', ...RANGE,
  });
  assert.deepEqual(defaultSpec('kpi', {}, KNOWN, NOW), {
    kind: 'kpi', denominator: { conditions: [{ event: '$pageview', first_time: true }] }, numerator: { conditions: [{ event: 'signed_up' }] }, interval: 'month', ...RANGE,
  });
  assert.deepEqual(defaultSpec('bad_days', {}, KNOWN, NOW).bad, [{ event: '$pageview' }]);
  assert.deepEqual(defaultSpec('bad_days', {}, [...KNOWN, '$exception'], NOW).bad, [{ event: '$exception' }]);
  assert.deepEqual(defaultSpec('paths', {}, KNOWN, NOW), { kind: 'paths', start: { event: '$pageview' }, steps: 5, ...RANGE });
  assert.deepEqual(defaultSpec('journey', {}, KNOWN, NOW), { kind: 'journey', ...RANGE });
  assert.deepEqual(defaultSpec('nope', {}, KNOWN, NOW), { kind: 'nope', ...RANGE });
});

test('defaultSpec keeps what the user switched from: events, their filters, range, unit, breakdown where taken', () => {
  const base = {
    kind: 'funnel',
    steps: [{ event: 'viewed', filters: [{ property: 'utm_source', op: 'eq', value: 'ads' }] }, { event: 'bought' }],
    filters: [{ property: 'plan', op: 'eq', value: 'pro' }],
    breakdown: { property: 'country' },
    unit: 'group:company',
    from: '2026-01-01T00:00:00Z',
    to: '2026-01-08T00:00:00Z',
  };
  const trend = defaultSpec('trend', base, KNOWN, NOW);
  assert.deepEqual(trend.series, [{ event: 'viewed', filters: [{ property: 'utm_source', op: 'eq', value: 'ads' }], math: 'total' }]);
  assert.notEqual(trend.series[0].filters, base.steps[0].filters, 'filters are copied, not shared');
  assert.equal(trend.from, base.from);
  assert.deepEqual(trend.breakdown, { property: 'country' });
  assert.equal(trend.unit, 'group:company');
  assert.deepEqual(trend.filters, base.filters);
  const sticky = defaultSpec('stickiness', base, KNOWN, NOW);
  assert.equal(sticky.breakdown, undefined, 'stickiness takes no breakdown');
  assert.deepEqual(sticky.series, [{ event: 'viewed' }]);
  assert.deepEqual(defaultSpec('retention', base, KNOWN, NOW).return, { event: 'bought' });
});

test('normalizeSpec gives each kind the lists its form edits', () => {
  assert.deepEqual(normalizeSpec({}), { kind: 'trend', series: [{ event: '', math: 'total' }] });
  assert.deepEqual(normalizeSpec({ kind: 'funnel', steps: [] }).steps, [{ event: '' }, { event: '' }]);
  const steps = [{ event: 'a' }, { event: 'b' }];
  assert.equal(normalizeSpec({ kind: 'funnel', steps }).steps, steps, 'a good list is kept');
  assert.deepEqual(normalizeSpec({ kind: 'stickiness' }).series, [{ event: '' }]);
  assert.deepEqual(normalizeSpec({ kind: 'retention', start: { event: 'a' } }), { kind: 'retention', start: { event: 'a' }, return: { event: '' } });
  assert.deepEqual(normalizeSpec({ kind: 'bad_days' }), { kind: 'bad_days', bad: [{ event: '' }], active: [] });
  assert.deepEqual(normalizeSpec({ kind: 'kpi' }), { kind: 'kpi', denominator: { conditions: [{ event: '' }] }, numerator: { conditions: [] } });
  assert.deepEqual(normalizeSpec({ kind: 'kpi', numerator: {} }).numerator, { conditions: [] });
  assert.deepEqual(normalizeSpec({ kind: 'lifecycle', event: 'x', filters: { bad: 1 } }), { kind: 'lifecycle', event: 'x' });
  assert.deepEqual(normalizeSpec({ kind: 'sql', query: 'select 1' }), { kind: 'sql', query: 'select 1' });
  assert.deepEqual(normalizeSpec({ kind: 'nope' }), { kind: 'nope' });
});

test('autoName names each kind by its events and actions', () => {
  const cases = [
    [{ kind: 'funnel', steps: [{ event: 'a' }, { action: 3 }, {}] }, 'Funnel: a → action #3 → ?'],
    [{ kind: 'trend', series: [{ event: 'a' }, { event: 'b', math: 'dau' }, { event: 'c', math: 'total' }] }, 'Trend: a, DAU b, c'],
    [{ kind: 'retention', start: { event: 'a' }, return: { action_id: 4 } }, 'Retention: a → action #4 (day)'],
    [{ kind: 'retention', start: { event: 'a' }, return: { event: 'b' }, period: 'week' }, 'Retention: a → b (week)'],
    [{ kind: 'stickiness', series: [{ event: 'a' }, { event: 'b' }] }, 'Stickiness: a, b'],
    [{ kind: 'lifecycle', event: 'a' }, 'Lifecycle: a'],
    [{ kind: 'paths', start: { event: 'a' } }, 'Paths from a'],
    [{ kind: 'paths', end: { event: 'z' } }, 'Paths to z'],
    [{ kind: 'paths' }, 'Paths'],
    [{ kind: 'kpi' }, 'KPI'],
    [{ kind: 'bad_days', bad: [{ event: '$exception' }] }, 'Bad days: $exception'],
    [{ kind: 'journey' }, 'Customer journey'],
    [{ kind: 'sql' }, 'sql'],
    [{ kind: 'nope' }, 'nope'],
    [{}, 'Insight'],
  ];
  for (const [spec, want] of cases) assert.equal(autoName(spec), want, JSON.stringify(spec));
});

test('funnel tables: steps with conversion and drop-off, breakdown, conversion over time', () => {
  const res = {
    kind: 'funnel',
    steps: [{ event: 'a', count: 100, conversion: 1, median_seconds: null }, { event: 'b', label: 'B!', count: 40, conversion: 0.4, step_conversion: 0.4, median_seconds: 60 }],
    breakdown: [{ value: 'x', steps: [{ count: 10 }, { count: 5, conversion: 0.5 }] }],
    over_time: [{ t: '2026-01-01', started: 10, converted: 4, conversion: 0.4 }],
  };
  const [main, by, over] = tablesFor({ kind: 'funnel', breakdown: { property: 'country' }, over_time: 'week' }, res);
  assert.deepEqual(main.rows, [[1, 'a', 100, 1, null, null, 60], [2, 'B!', 40, 0.4, 0.4, 60, null]]);
  assert.equal(main.decorate, undefined, 'no persons links without onPersons');
  assert.equal(main.testids[2], 'funnel-count');
  assert.equal(by.title, 'By country');
  assert.deepEqual(by.columns, ['Value', '1. a', '2. B!', 'Conversion']);
  assert.deepEqual(by.rows, [['x', 10, 5, 0.5]]);
  assert.equal(over.title, 'Conversion over time (by week started)');
  assert.deepEqual(over.rows, [['2026-01-01', 10, 4, 0.4]]);
  assert.equal(typeof tablesFor({ kind: 'funnel' }, res, { onPersons: () => {} })[0].decorate, 'function');
});

test('fixExclusions keeps exclusions between existing steps', () => {
  const spec = { steps: [{}, {}, {}], exclusions: [{ from_step: 2, to_step: 3 }, { from_step: 1, to_step: 2 }, {}] };
  fixExclusions(spec);
  assert.deepEqual(spec.exclusions, [{ from_step: 2, to_step: 3 }, { from_step: 1, to_step: 2 }, { from_step: 1, to_step: 3 }]);
  spec.steps.splice(1, 1); // step 2 removed
  fixExclusions(spec, 2);
  assert.deepEqual(spec.exclusions.map((x) => [x.from_step, x.to_step]), [[1, 2], [1, 2], [1, 2]]);
  const any = fixExclusions({ steps: [{}, {}, {}, {}], order: 'unordered', exclusions: [{ from_step: 2, to_step: 3 }] });
  assert.deepEqual(any.exclusions, [{ from_step: 1, to_step: 4 }]);
});

test('trend, stickiness, lifecycle, kpi tables', () => {
  const trend = {
    series: [
      { label: 'a', points: [{ t: 'd1', value: 1 }, { t: 'd2', value: 2 }] },
      { label: 'a', compare: 'previous', points: [{ t: 'p1', value: 3 }] },
    ],
  };
  const [t] = tablesFor({ kind: 'trend' }, trend);
  assert.deepEqual(t.columns, ['Period', 'a', 'a (previous period)']);
  assert.deepEqual(t.rows, [['d1', 1, 3], ['d2', 2, null]]);

  const [s] = tablesFor({ kind: 'stickiness', interval: 'week' }, { series: [{ label: 'x', points: [{ days: 1, count: 5 }, { days: 2, count: 2 }] }] });
  assert.deepEqual(s.columns, ['Weeks active', 'x']);
  assert.deepEqual(s.rows, [[1, 5], [2, 2]]);

  const [l] = tablesFor({ kind: 'lifecycle' }, { points: [{ t: 'd1', new: 1, returning: 2, resurrecting: 3, dormant: -4 }] });
  assert.deepEqual(l.rows, [['d1', 1, 2, 3, -4]]);

  const [k] = tablesFor({ kind: 'kpi' }, { points: [{ t: 'm1', value: 0.5, numerator: 1, denominator: 2 }], value: 0.25, numerator: 1, denominator: 4 });
  assert.deepEqual(k.rows, [['m1', 0.5, 1, 2], ['Whole range', 0.25, 1, 4]]);
  assert.deepEqual(k.formats, ['text', 'pct', 'num', 'num']);
});

test('retention tables: as many period columns as the longest cohort, one table per breakdown value', () => {
  const res = {
    cohorts: [{ start: 'w1', size: 10, retained: [10, 4, 2] }, { start: 'w2', size: 5, retained: [5] }],
    breakdown: [{ value: 'de', cohorts: [{ start: 'w1', size: 2, retained: [2, 1] }] }],
  };
  const [all, de] = tablesFor({ kind: 'retention', period: 'week', breakdown: { property: 'country' } }, res);
  assert.deepEqual(all.columns, ['Cohort', 'Size', 'Week 0', 'Week 1', 'Week 2']);
  assert.deepEqual(all.rows, [['w1', 10, 10, 4, 2], ['w2', 5, 5, null, null]]);
  assert.equal(de.title, 'country = de');
  assert.deepEqual(de.rows, [['w1', 2, 2, 1, null]]);
  assert.deepEqual(tablesFor({ kind: 'retention', periods: 3 }, { cohorts: [] })[0].columns, ['Cohort', 'Size', 'Day 0', 'Day 1', 'Day 2']);
});

test('paths, bad days, journey, sql and unknown results', () => {
  const [top, edges] = tablesFor({ kind: 'paths' }, { paths: [{ path: ['a', 'b'], count: 3 }], edges: [{ source: '1_a', target: '2_b', value: 3 }] });
  assert.deepEqual(top.rows, [['a → b', 3]]);
  assert.deepEqual(edges.rows, [[1, 'a', 'b', 3]]);

  const [days, persons] = tablesFor({ kind: 'bad_days' }, { days: [{ t: 'd1', rate: 0.1, bad: 1, active: 10 }], top_persons: [{ actor: 'p1', bad_days: 1, active_days: 3 }] });
  assert.deepEqual(days.rows, [['d1', 0.1, 1, 10]]);
  assert.deepEqual(persons.rows, [['p1', 1, 3]]);
  assert.equal(persons.decorate, undefined);

  const [stages, channels] = tablesFor({ kind: 'journey' }, {
    stages: [{ name: 'Visit', count: 10, conversion: 1 }, { name: 'Buy', count: 2, conversion: 0.2, step_conversion: 0.2 }],
    breakdown: [{ value: '$none', stages: [{ count: 4 }, { count: 1 }] }],
  });
  assert.deepEqual(stages.rows, [['Visit', 10, 1, undefined], ['Buy', 2, 0.2, 0.2]]);
  assert.equal(channels.title, 'By utm_source');
  assert.deepEqual(channels.rows, [['(none)', 4, 1]]);

  const [sql] = tablesFor({ kind: 'sql' }, { kind: 'sql', columns: ['n'], rows: [[1]], truncated: true });
  assert.equal(sql.title, 'First rows (truncated)');
  assert.deepEqual(sql.rows, [[1]]);
  assert.deepEqual(tablesFor({ kind: 'nope' }, { x: 1 })[0].rows, [['{"x":1}']]);
  // The answer's kind wins over the spec's.
  assert.deepEqual(tablesFor({ kind: 'trend' }, { kind: 'sql', columns: ['c'], rows: [] })[0].columns, ['c']);
});

test('chart options follow the result and the chosen type', () => {
  const trend = { series: [{ label: 'a', points: [{ t: 'd1', value: 1 }] }, { label: 'a', compare: 'previous', points: [{ t: 'p1', value: 2 }] }] };
  const c = chartFor({ kind: 'trend' }, trend, { type: 'bar' });
  assert.deepEqual(c.option.xAxis.data, ['d1']);
  assert.deepEqual(c.option.series.map((s) => [s.name, s.type, s.data, s.lineStyle]), [['a', 'bar', [1], undefined], ['a (previous period)', 'bar', [2], { type: 'dashed' }]]);
  const life = chartFor({ kind: 'lifecycle' }, { points: [{ t: 'd', new: 1, returning: 2, resurrecting: 3, dormant: -1 }] }, { type: 'area' });
  assert.deepEqual(life.option.series.map((s) => [s.name, s.stack, s.data[0]]), [['New', 'all', 1], ['Returning', 'all', 2], ['Resurrecting', 'all', 3], ['Dormant', 'all', -1]]);
  const st = chartFor({ kind: 'stickiness', interval: 'week' }, { series: [{ label: 's', points: [{ days: 1, count: 4 }, { days: 2, count: 1 }] }] }, { type: 'bar' });
  assert.deepEqual(st.option.xAxis.data, ['1 week', '2 weeks']);
  const persons = [];
  const f = chartFor({ kind: 'funnel' }, { steps: [{ event: 'a', count: 10 }, { event: 'b', count: 4 }] }, { onPersons: (p) => persons.push(p) });
  assert.deepEqual(f.option.series[0].data, [10, 4]);
  assert.equal(f.extra, null);
  f.onClick({ seriesIndex: 0, dataIndex: 1 });
  f.onClick({ seriesIndex: 1, dataIndex: 1 });
  f.onClick({ seriesIndex: 1, dataIndex: 0 });
  assert.deepEqual(persons, ['converted:2', 'dropped:1']);
  const over = chartFor({ kind: 'funnel', over_time: 'day' }, { steps: [], over_time: [{ t: 'd', started: 2, converted: 1, conversion: 0.5 }] }, {});
  assert.equal(over.extra.testid, 'over-time-chart');
  assert.deepEqual(over.extra.table().rows, [['d', 2, 1, 0.5]]);
  assert.equal(chartFor({ kind: 'sql' }, { kind: 'sql' }), null);
  assert.equal(chartFor({ kind: 'nope' }, {}), null);
  assert.equal(summaryFor({ kind: 'trend' }, {}), null);
});

test('csvOf: the first table, then each further one under its title', () => {
  const res = { steps: [{ event: 'a', count: 2, conversion: 1 }], over_time: [{ t: 'd', started: 2, converted: 1, conversion: 0.5 }] };
  const { columns, rows } = csvOf({ kind: 'funnel' }, res);
  assert.deepEqual(columns, ['Step', 'Event', 'Count', 'Conversion', 'From previous', 'Median seconds', 'Dropped before next']);
  assert.deepEqual(rows, [
    [1, 'a', 2, 1, null, undefined, null],
    [],
    ['Conversion over time (by day started)'],
    ['Day', 'Started', 'Converted', 'Conversion'],
    ['d', 2, 1, 0.5],
  ]);
});
