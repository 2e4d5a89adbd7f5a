// Unit tests of the experiment pages' pure helpers (expmodel.js; node
// --test web/jstest/): the wizard's body and estimate, result rows, the
// confidence-interval bar, exposures and the archive's query string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  newExperiment, experimentBody, estimateBody, runtimeText, validateWeights, metricBody, slugKey,
  fmtValue, fmtEffect, fmtP, verdictOf, resultRow, ciDomain, ciGeometry, allComparisons, exposureSeries, srmText,
  archiveQuery, archiveFilters, decisionText,
} from '../static/js/expmodel.js';

test('the wizard posts variants as weights, metrics by role, and names bad fields', () => {
  const d = newExperiment();
  d.name = ' New checkout ';
  d.hypothesis = 'A shorter checkout sells more';
  d.stage = 'Activation';
  d.flag_key = 'new-checkout';
  d.metrics.primary[0].event = 'order_completed';
  d.metrics.guardrail.push({ kind: 'count', event: '$exception', window: '3d', lower_is_better: true });
  const { body, errors } = experimentBody(d);
  assert.deepEqual(errors, []);
  assert.deepEqual(body, {
    name: 'New checkout', hypothesis: 'A shorter checkout sells more', stage: 'Activation', flag_key: 'new-checkout',
    variants: [{ key: 'control', weight: 0.5 }, { key: 'test', weight: 0.5 }],
    metrics: { primary: [{ kind: 'conversion', event: 'order_completed', window: '7d' }], secondary: [], guardrail: [{ kind: 'count', event: '$exception', window: '3d', lower_is_better: true }] },
    method: 'frequentist', alpha: 0.05, correction: 'holm', cuped: { enabled: true },
  });
  // On an existing flag: its key, no variants.
  const f = { ...d, source: 'flag', flag_key: 'checkout-v2' };
  const fb = experimentBody(f).body;
  assert.equal(fb.flag_key, 'checkout-v2');
  assert.equal(fb.variants, undefined);

  const bad = newExperiment();
  bad.variants[1].weight = 30;
  bad.metrics.primary[0].kind = 'sum';
  bad.metrics.secondary.push({ kind: 'conversion', event: 'x', window: 'soon' });
  bad.alpha = 0;
  bad.layer = '3';
  bad.layer_from = 60;
  bad.layer_to = 40;
  assert.deepEqual(experimentBody(bad).errors.map((e) => e.field), ['name', 'flag_key', 'variants', 'metrics.primary[0].event', 'metrics.primary[0].property',
    'metrics.secondary[0].window', 'alpha', 'layer.to']);
  assert.deepEqual(experimentBody({ ...newExperiment(), source: 'flag' }).errors.map((e) => e.field), ['name', 'flag_key', 'metrics.primary[0].event']);
  assert.deepEqual(validateWeights([{ key: 'a', weight: 50 }, { key: 'a', weight: 0 }]).errors.map((e) => e.field), ['variants[1].key', 'variants[1].weight']);
  assert.deepEqual(metricBody({ kind: 'mean', event: 'order_completed', property: 'revenue', name: 'AOV' }, 'm').metric,
    { kind: 'mean', event: 'order_completed', property: 'revenue', name: 'AOV' });
  assert.equal(slugKey('New checkout, v2!'), 'new-checkout-v2');
});

test('the estimate asks for the first primary metric; its answer reads as a runtime', () => {
  const d = newExperiment();
  assert.equal(estimateBody(d), null); // no event yet
  d.metrics.primary[0].event = 'order_completed';
  d.mde = 10;
  assert.deepEqual(estimateBody(d), { metric: { kind: 'conversion', event: 'order_completed', window: '7d' }, mde: 0.1, relative: true, arms: 2, alpha: 0.05, power: 0.8 });
  assert.equal(estimateBody(d, 3).arms, 3);
  d.metrics.primary[0].lower_is_better = true; // not the estimate's
  assert.equal(estimateBody(d).metric.lower_is_better, undefined);
  assert.equal(estimateBody({ ...d, source: 'flag', flag_key: 'checkout-v2' }).flag_key, 'checkout-v2');
  assert.equal(estimateBody({ ...d, metrics: { primary: [{ kind: 'count', event: 'x' }] } }), null); // conversions only
  d.mde = 0;
  assert.equal(estimateBody(d), null);
  assert.equal(runtimeText({ per_arm: 1234.2, days: 3.2, daily_users: 800, baseline: 0.1 }), '1,235 persons per variant: about 4 days at 800 persons a day.');
  assert.equal(runtimeText({ per_arm: 10, days: 1, daily_users: 50 }), '10 persons per variant: about 1 day at 50 persons a day.');
  assert.match(runtimeText({ per_arm: 500, days: null, daily_users: 0 }), /no recent traffic/);
  assert.match(runtimeText({ per_arm: 0 }), /no variance/);
});

const cmp = (o) => ({ metric: 'Orders', kind: 'conversion', variant: 'test', control_mean: 0.1, treatment_mean: 0.12, n_control: 1000, n_treatment: 1010,
  effect: 0.02, ci: [0.005, 0.035], p_value: 0.01, p_value_adjusted: 0.02, significant: true, direction: 'up', better: true, ...o });

test('result rows format effects, intervals, p-values or chances and a verdict', () => {
  const r = resultRow(cmp(), { method: 'frequentist', correction: 'holm' });
  assert.deepEqual(r, {
    metric: 'Orders', variant: 'test', control: '10.00%', treatment: '12.00%', n: '1,000 / 1,010',
    effect: '+2.00 pp', ci: '[+0.50 pp, +3.50 pp]', stat: '0.0200', statLabel: 'p (adjusted)', verdict: 'win', error: '',
  });
  const rel = resultRow(cmp({ effect: -0.15, ci: [-0.3, null], kind: 'count', control_mean: 2.5, treatment_mean: 2.1 }), { relative: true, method: 'sequential', correction: 'none' });
  assert.equal(rel.effect, '−15.0%');
  assert.equal(rel.ci, '[−30.0%, +∞]');
  assert.equal(rel.statLabel, 'p-value');
  assert.equal(rel.control, '2.500');
  const bayes = resultRow(cmp({ chance_to_win: 0.9734, p_value: null, p_value_adjusted: null, significant: false, better: false }), { method: 'bayesian' });
  assert.equal(bayes.stat, '97.3%');
  assert.equal(bayes.statLabel, 'Chance to win');
  assert.equal(bayes.verdict, 'inconclusive');
  assert.equal(verdictOf(cmp({ better: false })), 'loss');
  assert.equal(verdictOf(cmp({ error: 'no exposed persons' })), 'none');
  const empty = resultRow(cmp({ error: 'no exposed persons', effect: null, ci: null, control_mean: null, p_value: null, p_value_adjusted: null }), {});
  assert.deepEqual([empty.effect, empty.ci, empty.control, empty.stat], ['–', '–', '–', '–']);
  assert.equal(fmtValue('sum', 1234.5), '1235');
  assert.equal(fmtEffect('mean', 0, false), '±0.000');
  assert.equal(fmtP(0.00001), '< 0.0001');
});

test('the CI bar: symmetric scale around no change, clamped, open ends', () => {
  const comps = [cmp(), cmp({ effect: -0.01, ci: [-0.04, 0.02] }), cmp({ ci: [null, null], effect: null })];
  const half = ciDomain(comps);
  assert.ok(Math.abs(half - 0.04 * 1.1) < 1e-12);
  const g = ciGeometry([0.005, 0.035], 0.02, 0.04);
  assert.deepEqual(g, { lo: 56.25, hi: 93.75, mid: 75, zero: 50, openLo: false, openHi: false });
  assert.ok(g.lo > g.zero); // the whole interval above zero: significant up
  const wide = ciGeometry([-0.1, null], -0.02, 0.04);
  assert.deepEqual(wide, { lo: 0, hi: 100, mid: 25, zero: 50, openLo: true, openHi: true });
  assert.deepEqual(ciGeometry(null, null, 0), { lo: 0, hi: 100, mid: null, zero: 50, openLo: true, openHi: true });
  assert.equal(ciDomain([]), 1);
});

test('comparisons by role, exposures over time, SRM text', () => {
  const res = {
    days: ['2026-01-01', '2026-01-02', '2026-01-03'],
    variants: [{ key: 'control', exposed: 30, exposures: [10, 5, 15] }, { key: 'test', exposed: 12, exposures: [4, 8] }],
    srm: { p_value: 0.00002, mismatch: true, expected: [21, 21] },
    metrics: { primary: [cmp()], secondary: [], guardrail: [cmp({ metric: 'Errors' })] },
  };
  assert.deepEqual(allComparisons(res).map((c) => `${c.role}:${c.metric}`), ['primary:Orders', 'guardrail:Errors']);
  assert.deepEqual(exposureSeries(res), { days: res.days, series: [{ name: 'control', data: [10, 15, 30] }, { name: 'test', data: [4, 12, 12] }] });
  assert.deepEqual(exposureSeries(res, false).series[1].data, [4, 8, 0]);
  assert.match(srmText(res), /p = < 0\.0001\): control 30 \(expected 21\), test 12 \(expected 21\)/);
});

test('archive query strings: trimmed, in order, empty ones left out, read back', () => {
  assert.equal(archiveQuery({ stage: 'Activation', q: ' checkout ', outcome: '', metric: undefined }), '?q=checkout&stage=Activation');
  assert.equal(archiveQuery({}), '');
  assert.equal(archiveQuery({ event: 'order completed', outcome: 'won' }), '?event=order+completed&outcome=won');
  const back = archiveFilters(new URLSearchParams('q=checkout&stage=Activation&x=1'));
  assert.deepEqual(back, { q: 'checkout', metric: '', event: '', outcome: '', stage: 'Activation' });
  assert.equal(decisionText({ status: 'stopped', decision: 'won', shipped_variant: 'test' }), 'Won — shipped test');
  assert.equal(decisionText({ status: 'running', decision: '' }), 'Running');
  assert.equal(decisionText({ status: 'stopped', decision: 'lost' }), 'Lost');
});

test('home: archived experiments by stage, in the journey order', async () => {
  const { stageNamesOf, stageColumns } = await import('../static/js/learnings.js');
  const ans = { stages: [{ stage: 'Reach', experiments: 0 }, { stage: 'Activation', experiments: 2, won: 1, lost: 1 }, { stage: 'Checkout', experiments: 1 }, { stage: '', experiments: 3 }] };
  assert.deepEqual(stageNamesOf(ans), ['Reach', 'Activation', 'Checkout']);
  assert.deepEqual(stageNamesOf(ans, true), ['Activation', 'Checkout']);
  assert.deepEqual(stageNamesOf(null), []);
  // Every journey stage, in order (lined up with the funnel), then the others.
  assert.deepEqual(stageColumns(ans, ['Reach', 'Acquisition', 'activation']).map((c) => `${c.stage}:${c.experiments}`),
    ['Reach:0', 'Acquisition:0', 'Activation:2', 'Checkout:1']);
});
