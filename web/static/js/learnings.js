// The home page's "learned at each stage": the concluded experiments of
// the learning archive listed next to the journey stage they targeted
// (GET /archive/stages, then /archive?stage= for each), in the journey's
// order, so the team sees what it already tried where customers drop.

import { h, clear } from './dom.js';
import { get, P } from './api.js';
import { archiveQuery, decisionText } from './expmodel.js';

// stageNamesOf reads /archive/stages, {stages:[{stage, experiments, won,
// lost, inconclusive}]} (the journey's stages first, zeros included, then
// others experiments name, then "" for none): the named stages, those
// with archived experiments only when withExperiments.
export function stageNamesOf(ans, withExperiments = false) {
  const list = Array.isArray(ans) ? ans : (ans && ans.stages) || [];
  const out = [];
  for (const s of list) {
    const name = typeof s === 'string' ? s : s && s.stage;
    if (!name || out.includes(name)) continue;
    if (withExperiments && typeof s === 'object' && !(s.experiments > 0)) continue;
    out.push(name);
  }
  return out;
}

const PER_STAGE = 5;

// stageColumns are the columns of the home card: every journey stage in
// order (with or without experiments, so they line up with the funnel
// above), then the other stages experiments named.
export function stageColumns(ans, journey) {
  const list = (Array.isArray(ans) ? ans : (ans && ans.stages) || []).filter((s) => s && s.stage);
  const byName = new Map(list.map((s) => [s.stage.toLowerCase(), s]));
  const cols = journey.map((name) => byName.get(name.toLowerCase()) || { stage: name, experiments: 0 });
  for (const s of list) if (!journey.some((n) => n.toLowerCase() === s.stage.toLowerCase())) cols.push(s);
  return cols;
}

// showLearnings fills host (left hidden while no stage has an archived
// experiment).
export async function showLearnings(host, pid, journeyStages, scope) {
  host.hidden = true;
  let ans;
  try {
    ans = await get(P(pid, '/archive/stages'), { signal: scope.signal });
  } catch {
    return; // the home page works without it
  }
  const cols = stageColumns(ans, journeyStages.map((s) => s.name));
  if (scope.disposed || !cols.some((c) => c.experiments > 0)) return;
  const lists = await Promise.all(cols.map((c) => (c.experiments > 0
    ? get(P(pid, `/archive${archiveQuery({ stage: c.stage })}`), { signal: scope.signal }).catch(() => [])
    : Promise.resolve([]))));
  if (scope.disposed) return;
  const tally = (c) => [['won', 'won'], ['lost', 'lost'], ['inconclusive', 'inconclusive']].filter(([k]) => c[k] > 0).map(([k, l]) => `${c[k]} ${l}`).join(' · ');
  clear(host,
    h('div', { class: 'card-head' }, h('h2', { id: 'learnings-h' }, 'Learned at each stage'),
      h('a', { class: 'btn small', href: `#/p/${pid}/archive` }, 'Learning archive')),
    h('div', { class: 'stage-learnings', 'data-testid': 'stage-learnings', style: { '--stages': String(cols.length) } }, cols.map((c, i) => {
      const list = lists[i] || [];
      return h('div', { class: 'stage-learning', 'data-testid': 'stage-learning', 'data-stage': c.stage },
        h('h3', null, c.stage),
        c.experiments > 0 ? h('p', { class: 'muted small' }, `${c.experiments} experiment${c.experiments === 1 ? '' : 's'}${tally(c) ? `: ${tally(c)}` : ''}`) : h('p', { class: 'muted small' }, 'No experiment yet'),
        list.length ? h('ul', null, list.slice(0, PER_STAGE).map((e) => h('li', null,
          h('a', { href: `#/p/${pid}/experiments/${e.id}`, 'data-testid': 'stage-learning-link' }, e.name), ' ',
          h('span', { class: `badge ${e.decision || ''}` }, decisionText(e))))) : null,
        list.length > PER_STAGE ? h('a', { class: 'small', href: `#/p/${pid}/archive${archiveQuery({ stage: c.stage })}` }, 'More…') : null);
    })));
  host.hidden = false;
}
