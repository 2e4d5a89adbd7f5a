// One survey's results (#/p/{pid}/surveys/{id}[?interval=week&breakdown=plan]):
// responses and respondents, each question's answers (NPS with promoters,
// passives and detractors, CSAT, the rating distribution, choices, the
// latest open answers), NPS and CSAT over time (charts.js) and by segment
// (a person property such as plan, the first-touch channel — breakdown=$channel
// — or cohort membership — breakdown=cohort:<id>); launch and stop.

import { h, clear, field, select, errorBox, loading, fmtNum, fmtTime, isAbort } from './dom.js';
import { get, api, P, qs } from './api.js';
import { drawChart, seriesOption, chartBox, loadECharts } from './charts.js';
import { vocTabs } from './feedback.js';
import { surveyBadge } from './surveys.js';
import { surveySummary, kindOf, scoreSeries, segmentRows, trendText } from './vocmodel.js';

const INTERVALS = [['day', 'Day'], ['week', 'Week'], ['month', 'Month']];

export default async function surveyPage(ctx) {
  const { pid, main, scope, canWrite } = ctx;
  const id = ctx.params[1];
  const interval = INTERVALS.some(([k]) => k === ctx.query.get('interval')) ? ctx.query.get('interval') : 'week';
  const breakdown = (ctx.query.get('breakdown') || '').slice(0, 200);
  clear(main, loading('Loading the survey…'));
  loadECharts().catch(() => {});
  const [survey, props, cohorts] = await Promise.all([
    get(P(pid, `/surveys/${encodeURIComponent(id)}`), { signal: scope.signal }),
    get(P(pid, '/properties?type=person'), { signal: scope.signal }).catch(() => []),
    get(P(pid, '/cohorts'), { signal: scope.signal }).catch(() => []),
  ]);
  const cohortList = Array.isArray(cohorts) ? cohorts : (cohorts && cohorts.cohorts) || [];
  // The API's segment parameters for the page's breakdown value.
  const segParams = (b) => b === '$channel' ? { breakdown_type: 'channel' }
    : b.startsWith('cohort:') ? { breakdown_type: 'cohort', cohort: b.slice(7) } : { breakdown: b };
  const segLabel = (b) => b === '$channel' ? 'First-touch channel' : b === '$cohort' ? 'Cohort' : b;
  const results = h('div', null, loading('Counting the answers…'));
  const ivSel = select(INTERVALS, interval, { id: 'sv-interval', 'data-testid': 'survey-interval' });
  const bdSel = select([['', 'No segments'], ['$channel', 'First-touch channel'],
    ...cohortList.map((c) => [`cohort:${c.id}`, `Cohort: ${c.name}`]),
    ...['plan', ...(props || []).map((p) => p.property)].filter((v, i, a) => a.indexOf(v) === i).map((p) => [p, p])], breakdown, { id: 'sv-breakdown', 'data-testid': 'survey-breakdown' });
  const go = () => ctx.navigate(`#/p/${pid}/surveys/${survey.id}${qs({ interval: ivSel.value, breakdown: bdSel.value })}`);
  ivSel.addEventListener('change', go);
  bdSel.addEventListener('change', go);
  const err = errorBox(null);
  const act = (label, status, testid) => h('button', { type: 'button', class: 'btn', 'data-testid': testid, onclick: async () => {
    try { await api('PATCH', P(pid, `/surveys/${survey.id}`), { status }, { signal: scope.signal }); ctx.navigate(`#/p/${pid}/surveys/${survey.id}${qs({ interval, breakdown })}`); } catch (x) { if (!isAbort(x)) { err.hidden = false; err.textContent = x.message; } }
  } }, label);
  clear(main,
    h('div', { class: 'page-head' },
      h('div', null, h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/surveys` }, 'Surveys'), ' › ', survey.name),
        h('h1', { 'data-testid': 'survey-name' }, survey.name, ' ', surveyBadge(survey))),
      vocTabs(pid, 'surveys'),
      canWrite ? h('div', { class: 'head-controls' },
        h('a', { class: 'btn', href: `#/p/${pid}/surveys/${survey.id}/edit`, 'data-testid': 'survey-edit' }, 'Edit'),
        survey.status === 'running' ? act('Stop', 'stopped', 'survey-stop') : act(survey.status === 'draft' ? 'Launch' : 'Relaunch', 'running', 'survey-launch')) : null),
    h('p', { class: 'muted' }, surveySummary(survey)), err,
    h('div', { class: 'toolbar' }, field('Over time by', ivSel), field('Segment by', bdSel)),
    results);

  let res;
  try {
    res = await get(P(pid, `/surveys/${survey.id}/results${qs({ interval, ...(breakdown ? segParams(breakdown) : {}) })}`), { signal: scope.signal });
  } catch (e) {
    if (!isAbort(e)) clear(results, errorBox(e));
    return;
  }
  const charts = [];
  clear(results,
    h('section', { class: 'tiles', 'aria-label': 'Totals' },
      tile('Responses', fmtNum(res.responses), 'survey-responses'), tile('Respondents', fmtNum(res.respondents), 'survey-respondents'),
      h('div', { class: 'tile card' }, h('span', { class: 'tile-name' }, 'Period'), h('span', { class: 'muted small' }, `${fmtTime(res.from)} → ${fmtTime(res.to)}`))),
    (res.questions || []).map((q) => questionSection(q)));
  for (const [el, option] of charts) await drawChart(el, option, scope);

  function questionSection(q) {
    const sq = (survey.questions || []).find((x) => x.id === q.id) || q;
    const kind = kindOf(sq);
    const parts = [h('h2', null, q.question), h('p', { class: 'muted small' }, `${fmtNum(q.answered)} answered`)];
    const score = kind === 'nps' ? q.nps : kind === 'csat' ? q.csat : null;
    if (score) {
      const series = scoreSeries(res, q.id, kind);
      parts.push(h('div', { class: 'score-head' },
        h('span', { class: 'tile-value', 'data-testid': `survey-${kind}-score` }, score.score.toFixed(kind === 'nps' ? 0 : 1) + (kind === 'csat' ? '%' : '')),
        h('span', null, kind === 'nps' ? `NPS · ${score.promoters} promoters, ${score.passives} passives, ${score.detractors} detractors` : `CSAT · ${score.satisfied} of ${score.total} satisfied (4 or 5)`),
        h('span', { class: 'muted small' }, series.lines.length === 1 ? trendText(series.lines[0].values) : '')));
      if (series.categories.length) {
        const box = chartBox('survey-trend');
        box.setAttribute('aria-label', `${kind.toUpperCase()} by ${interval}`);
        box.dataset.testid = `survey-${kind}-chart`;
        const label = kind === 'nps' ? 'NPS' : 'CSAT %';
        charts.push([box, seriesOption(series.categories, series.lines.map((l) => ({ name: l.name === 'All' ? label : l.name, data: l.values })), 'line')]);
        parts.push(box);
      }
      const segs = segmentRows(res, q.id, kind);
      if (segs.length) {
        parts.push(h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': `survey-segments` },
          h('caption', null, `${kind.toUpperCase()} by ${segLabel(res.breakdown)}`),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, segLabel(res.breakdown)), h('th', { scope: 'col', class: 'num' }, 'Answered'), h('th', { scope: 'col', class: 'num' }, kind.toUpperCase()))),
          h('tbody', null, segs.map((s) => h('tr', null, h('th', { scope: 'row' }, s.segment), h('td', { class: 'num' }, fmtNum(s.answered)),
            h('td', { class: 'num' }, s.score == null ? '–' : s.score.toFixed(1))))))));
      }
    }
    if ((q.distribution || []).length) {
      const total = q.distribution.reduce((a, x) => a + x.count, 0) || 1;
      parts.push(h('ul', { class: 'dist', 'aria-label': 'Answers' }, q.distribution.map((x) => h('li', null,
        h('span', { class: 'dist-label' }, x.value === '$other' ? 'Other' : x.value),
        h('span', { class: 'dist-bar', style: { '--share': `${((x.count / total) * 100).toFixed(1)}%` }, 'aria-hidden': 'true' }),
        h('span', { class: 'dist-count' }, fmtNum(x.count))))));
    }
    if ((q.answers || []).length) {
      parts.push(h('h3', null, 'Latest answers'), h('ul', { class: 'plain-list open-answers' }, q.answers.map((a) => h('li', null,
        h('q', null, a.text), ' ', h('a', { class: 'muted small', href: `#/p/${pid}/persons/${a.person_id}` }, fmtTime(a.at))))));
    }
    return h('section', { class: 'card', 'data-testid': 'survey-question-result' }, parts);
  }
}

function tile(name, value, testid) {
  return h('div', { class: 'tile card' }, h('span', { class: 'tile-name' }, name), h('span', { class: 'tile-value', 'data-testid': testid }, value));
}
