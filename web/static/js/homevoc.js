// The home page's voice of customer (issue 16 item 7): the top themes by
// impact beside the journey stage their customers are at (GET /home/voc),
// the NPS trend of the project's NPS survey, and the open SLA breaches
// (GET /feedback/sla). Filled in after the journey is drawn; each part
// stays hidden when it has nothing to say.

import { h, clear, fmtNum, fmtPct, isAbort } from './dom.js';
import { get, P, qs } from './api.js';
import { sparkline } from './charts.js';
import { themesByStage, projectNPSSurvey, npsQuestion, scoreSeries, trendText, fmtMoney, inboxQuery } from './vocmodel.js';

// showHomeVoC fills section (a card) and adds each stage's themes to the
// funnel's stage boxes (li.journey-stage, in order).
export async function showHomeVoC(section, funnel, pid, range, scope) {
  const [voc, surveys, sla] = await Promise.all([
    get(P(pid, `/home/voc${qs({ from: range.from, to: range.to })}`), { signal: scope.signal }).catch((e) => (isAbort(e) ? null : { error: e })),
    get(P(pid, '/surveys'), { signal: scope.signal }).catch(() => null),
    get(P(pid, '/feedback/sla'), { signal: scope.signal }).catch(() => null),
  ]);
  if (scope.disposed) return;
  const themes = (voc && voc.themes) || [];
  const boxes = [...funnel.querySelectorAll('[data-testid="journey-stage"]')];
  const { by, rest } = themesByStage(boxes.length, themes);
  boxes.forEach((li, i) => {
    if (!by[i].length) return;
    li.append(h('ul', { class: 'journey-voc', 'aria-label': `Top feedback themes of customers at ${li.querySelector('.stage-name').textContent}`, 'data-testid': 'journey-stage-themes' },
      by[i].map((t) => h('li', null, h('a', { href: `#/p/${pid}/feedback${inboxQuery({ theme: String(t.id) })}`, 'data-testid': 'journey-theme', 'data-id': String(t.id), title: themeTitle(t) }, t.name)))));
  });

  const tiles = [];
  const nps = projectNPSSurvey(surveys && surveys.surveys);
  if (nps) tiles.push(await npsTile(pid, nps, scope));
  if (sla && Array.isArray(sla.breaches)) tiles.push(slaTile(pid, sla));
  if (scope.disposed) return;
  if (!themes.length && !tiles.filter(Boolean).length) return;
  clear(section,
    h('div', { class: 'card-head' }, h('h2', { id: 'home-voc-h' }, 'Voice of customer'),
      h('a', { href: `#/p/${pid}/themes`, class: 'btn small', 'data-testid': 'home-voc-themes' }, 'All themes')),
    themes.length ? h('p', { class: 'muted small' }, `The top ${themes.length} themes by impact sit beside the stage where most of their customers are now (the furthest stage each reached in this range).`) : null,
    rest.length ? h('p', { class: 'rest', 'data-testid': 'home-voc-unplaced' }, 'Customers not seen in this range: ',
      rest.map((t, i) => [i ? ', ' : '', h('a', { href: `#/p/${pid}/feedback${inboxQuery({ theme: String(t.id) })}`, title: themeTitle(t) }, t.name)])) : null,
    tiles.length ? h('div', { class: 'tiles' }, tiles) : null,
    voc && voc.error ? h('p', { class: 'muted small' }, `Themes: ${voc.error.message}`) : null);
  section.hidden = false;
}

function themeTitle(t) {
  return `${fmtNum(t.persons)} persons · ${fmtNum(t.accounts)} accounts · revenue ${fmtMoney(t.revenue)} · ${fmtPct(t.bad_day_share, 0)} with bad days · score ${(t.score || 0).toFixed(1)}`;
}

// npsTile: the survey's NPS now and by week.
async function npsTile(pid, survey, scope) {
  const q = npsQuestion(survey);
  let res;
  try {
    res = await get(P(pid, `/surveys/${survey.id}/results?interval=week`), { signal: scope.signal });
  } catch {
    return null;
  }
  const r = (res.questions || []).find((x) => x.id === q.id);
  if (!r || !r.nps) return null;
  const line = scoreSeries(res, q.id, 'nps').lines[0] || { values: [] };
  return h('a', { class: 'tile card', href: `#/p/${pid}/surveys/${survey.id}`, 'data-testid': 'home-nps-tile' },
    h('span', { class: 'tile-name' }, `NPS · ${survey.name}`),
    h('span', { class: 'tile-value', 'data-testid': 'home-nps' }, r.answered ? r.nps.score.toFixed(0) : '–'),
    h('span', { class: 'muted small' }, `${fmtNum(r.answered)} answers${trendText(line.values) ? ` · ${trendText(line.values)}` : ''}`),
    sparkline(line.values.filter((v) => v != null), { label: 'NPS by week' }));
}

// slaTile: open breaches of the SLA targets (first response or resolution).
function slaTile(pid, sla) {
  const n = sla.breaches.length;
  return h('a', { class: `tile card${n ? ' bad' : ''}`, href: n ? `#/p/${pid}/feedback/${sla.breaches[0].item_id}` : `#/p/${pid}/feedback`, 'data-testid': 'home-sla-tile' },
    h('span', { class: 'tile-name' }, 'Open SLA breaches'),
    h('span', { class: 'tile-value', 'data-testid': 'home-sla-breaches' }, fmtNum(n)),
    h('span', { class: 'muted small' }, n ? `most overdue: “${sla.breaches[0].text}”` : `all ${fmtNum(sla.items || 0)} items of the last ${sla.days || 90} days within target`));
}
