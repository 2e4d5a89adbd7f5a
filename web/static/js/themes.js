// Themes (#/p/{pid}/themes[?sort=impact|persons|accounts|revenue|bad_days|…]):
// the project's themes ranked by the customers they touch, sortable by
// each figure, with the server's formula; a new theme, merging a duplicate
// theme, and the server's suggestions: unthemed items like a theme, and
// groups of similar unthemed items to make a theme of.

import { h, clear, field, select, errorBox, setError, loading, fmtNum, fmtPct, fmtTime, isAbort } from './dom.js';
import { get, post, api, P } from './api.js';
import { vocTabs } from './feedback.js';
import { THEME_SORTS, themeSort, formulaTerms, scoreShare, fmtMoney, mergeTargets, inboxQuery, statusText, STATUSES } from './vocmodel.js';

const patch = (path, body, opts) => api('PATCH', path, body, opts);

export default async function themesPage(ctx) {
  const { pid, main, scope, canWrite } = ctx;
  const sort = themeSort(ctx.query.get('sort'));
  const host = h('div', null, loading('Ranking the themes…'));
  const sorter = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Sort by', 'data-testid': 'theme-sort' },
    THEME_SORTS.map(([k, label]) => h('button', {
      type: 'button', 'aria-pressed': String(k === sort), 'data-testid': `theme-sort-${k}`,
      onclick: () => ctx.navigate(`#/p/${pid}/themes?sort=${k}`),
    }, label)));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Themes'), vocTabs(pid, 'themes')),
    h('p', { class: 'muted' }, 'What hurts paying customers most: each theme by the persons and accounts who raised it, the revenue of those accounts, and how many of those persons had bad days.'),
    h('div', { class: 'toolbar' }, sorter),
    host,
    canWrite ? newThemeForm() : null,
    suggestionsSection());

  let res;
  try {
    res = await get(P(pid, `/themes?sort=${sort}`), { signal: scope.signal });
  } catch (e) {
    if (!isAbort(e)) clear(host, errorBox(e));
    return;
  }
  const themes = res.themes || [];
  if (!themes.length) {
    clear(host, h('section', { class: 'card empty-state', 'data-testid': 'themes-empty' }, h('h2', null, 'No themes yet'),
      h('p', null, 'Group feedback into themes (below, or from an item), and they are ranked here by the customers they touch.')));
    return;
  }
  const col = (k) => (k === sort ? 'num sorted' : 'num');
  clear(host,
    h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'theme-list' },
      h('caption', { class: 'sr-only' }, `Themes sorted by ${sort}`),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Theme'),
        h('th', { scope: 'col', class: 'num' }, 'Items'),
        h('th', { scope: 'col', class: col('persons'), 'aria-sort': sort === 'persons' ? 'descending' : null }, 'Persons'),
        h('th', { scope: 'col', class: col('accounts'), 'aria-sort': sort === 'accounts' ? 'descending' : null }, 'Accounts'),
        h('th', { scope: 'col', class: col('revenue'), 'aria-sort': sort === 'revenue' ? 'descending' : null }, 'Revenue'),
        h('th', { scope: 'col', class: col('bad_days'), 'aria-sort': sort === 'bad_days' ? 'descending' : null }, 'Bad days'),
        h('th', { scope: 'col', class: col('votes') }, 'Votes'),
        h('th', { scope: 'col', class: col('impact'), 'aria-sort': sort === 'impact' ? 'descending' : null }, 'Score'),
        canWrite ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null)),
      h('tbody', null, themes.map((t, i) => row(t, i))))),
    formulaBox(res));

  function row(t, i) {
    const err = errorBox(null);
    return h('tr', { 'data-testid': 'theme-row', 'data-id': String(t.id), 'data-name': t.name },
      h('td', { class: 'num' }, String(i + 1)),
      h('th', { scope: 'row' },
        h('a', { href: `#/p/${pid}/feedback${inboxQuery({ theme: String(t.id) })}`, 'data-testid': 'theme-link' }, t.name),
        h('div', { class: 'muted small' }, `${statusText(t.status)}${t.last_at && t.items ? ` · latest ${fmtTime(t.last_at)}` : ''}`)),
      h('td', { class: 'num' }, fmtNum(t.items)),
      h('td', { class: col('persons'), 'data-testid': 'theme-persons' }, fmtNum(t.persons)),
      h('td', { class: col('accounts'), 'data-testid': 'theme-accounts' }, fmtNum(t.accounts)),
      h('td', { class: col('revenue'), 'data-testid': 'theme-revenue', title: t.revenue_property ? `sum of ${t.revenue_property}` : null }, fmtMoney(t.revenue)),
      h('td', { class: col('bad_days'), 'data-testid': 'theme-bad-days' }, fmtPct(t.bad_day_share, 0)),
      h('td', { class: col('votes') }, fmtNum(t.votes)),
      h('td', { class: col('impact'), 'data-testid': 'theme-score' },
        h('span', { class: 'score-bar', style: { '--share': `${(scoreShare(themes, t) * 100).toFixed(1)}%` }, 'aria-hidden': 'true' }),
        (t.score || 0).toFixed(1)),
      canWrite ? h('td', null, actions(t, err), err) : null);
  }

  // actions: the theme's status (done closes the loop) and a merge.
  function actions(t, err) {
    const targets = mergeTargets(themes, t.id);
    const st = select(STATUSES, t.status, { 'aria-label': `Status of ${t.name}`, 'data-testid': 'theme-status', class: 'small' });
    st.addEventListener('change', async () => {
      setError(err, null);
      try { await patch(P(pid, `/themes/${t.id}`), { status: st.value }, { signal: scope.signal }); } catch (x) { if (!isAbort(x)) { setError(err, x); st.value = t.status; } }
    });
    const into = select([['', 'Merge into…'], ...targets.map((x) => [String(x.id), x.name])], '', { 'aria-label': `Merge ${t.name} into`, 'data-testid': 'theme-merge-into', class: 'small' });
    const go = h('button', { type: 'button', class: 'btn small', 'data-testid': 'theme-merge' }, 'Merge');
    go.addEventListener('click', async () => {
      setError(err, null);
      if (!into.value) { setError(err, 'Pick the theme it repeats.'); into.focus(); return; }
      try {
        await post(P(pid, `/themes/${t.id}/merge`), { into: Number(into.value) }, { signal: scope.signal });
        ctx.navigate(`#/p/${pid}/themes?sort=${sort}`);
      } catch (x) { if (!isAbort(x)) setError(err, x); }
    });
    return h('div', { class: 'inline' }, st, into, go);
  }

  function newThemeForm() {
    const name = h('input', { type: 'text', id: 'theme-new-name', 'data-testid': 'theme-new-name', 'data-field': 'name', required: true });
    const prop = h('input', { type: 'text', id: 'theme-new-prop', 'data-testid': 'theme-new-prop', placeholder: 'mrr' });
    const err = errorBox(null);
    const form = h('form', { class: 'card inline-form', 'aria-labelledby': 'theme-new-h', 'data-testid': 'theme-new' },
      h('h2', { id: 'theme-new-h' }, 'New theme'),
      field('Name', name), field('Revenue property of accounts', prop, 'A group property summed as revenue; mrr when empty.'),
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'theme-create' }, 'Create theme'), err);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      if (!name.value.trim()) { setError(err, 'Name the theme.'); name.focus(); return; }
      try {
        await post(P(pid, '/themes'), { name: name.value.trim(), ...(prop.value.trim() ? { revenue_property: prop.value.trim() } : {}) }, { signal: scope.signal });
        ctx.navigate(`#/p/${pid}/themes?sort=${sort}`);
      } catch (x) { if (!isAbort(x)) setError(err, x); }
    });
    return form;
  }

  function suggestionsSection() {
    const box = h('section', { class: 'card', 'aria-labelledby': 'theme-sugg-h', 'data-testid': 'theme-suggestions' },
      h('h2', { id: 'theme-sugg-h' }, 'Suggestions'), loading('Looking for similar feedback…'));
    get(P(pid, '/themes/suggestions'), { signal: scope.signal }).then((res) => {
      const items = (res.items || []).filter((x) => (x.suggestions || []).length);
      const clusters = res.clusters || [];
      box.lastChild.replaceWith(h('div', null,
        h('h3', null, 'Unthemed feedback like a theme'),
        items.length ? h('ul', { class: 'plain-list', 'data-testid': 'theme-sugg-items' }, items.slice(0, 20).map((x) => {
          const s = x.suggestions[0];
          return h('li', null, h('a', { href: `#/p/${pid}/feedback/${x.item_id}` }, `#${x.item_id}`), ` is like “${s.name}” (${Math.round(s.score * 100)}%) `,
            canWrite ? h('button', { type: 'button', class: 'btn small', 'data-testid': 'theme-sugg-file', onclick: async (e) => {
              e.target.disabled = true;
              try { await patch(P(pid, `/feedback/${x.item_id}`), { theme_id: s.theme_id }, { signal: scope.signal }); e.target.replaceWith(h('span', { class: 'muted small' }, 'filed')); } catch (err) { if (!isAbort(err)) { e.target.disabled = false; box.append(errorBox(err)); } }
            } }, `File under ${s.name}`) : null);
        })) : h('p', { class: 'muted' }, 'No unthemed item is like a theme.'),
        h('h3', null, 'Similar unthemed feedback'),
        clusters.length ? h('ul', { class: 'plain-list', 'data-testid': 'theme-sugg-clusters' }, clusters.slice(0, 20).map((c) => h('li', { 'data-testid': 'theme-cluster' },
          h('span', null, `“${c.name}” · ${c.items.length} items `),
          canWrite ? h('button', { type: 'button', class: 'btn small', 'data-testid': 'theme-cluster-create', onclick: async (e) => {
            e.target.disabled = true;
            try {
              const th = await post(P(pid, '/themes'), { name: c.name.slice(0, 200) }, { signal: scope.signal });
              for (const id of c.items) await patch(P(pid, `/feedback/${id}`), { theme_id: th.id }, { signal: scope.signal });
              ctx.navigate(`#/p/${pid}/themes?sort=${sort}`);
            } catch (err) { if (!isAbort(err)) { e.target.disabled = false; box.append(errorBox(err)); } }
          } }, 'Make a theme of them') : null))) : h('p', { class: 'muted' }, 'No group of similar unthemed items.')));
    }).catch((e) => { if (!isAbort(e)) box.lastChild.replaceWith(errorBox(e)); });
    return box;
  }
}

// formulaBox shows how the score is computed, as the server says it, with
// the window and the account type the figures were read over.
function formulaBox(res) {
  const terms = formulaTerms(res.formula);
  return h('section', { class: 'card formula', 'aria-labelledby': 'formula-h', 'data-testid': 'theme-formula' },
    h('h2', { id: 'formula-h' }, 'How the score is computed'),
    terms.length ? h('ul', { class: 'formula-terms' }, terms.map((t) => h('li', null, h('b', null, `${Math.round(t.weight * 100)}%`), ` ${t.term}`))) : null,
    h('p', null, h('code', { 'data-testid': 'theme-formula-text' }, res.formula || '')),
    h('p', { class: 'muted small' }, `Accounts are groups of type “${res.group_type || 'company'}” in the persons' events from ${fmtTime(res.from)} to ${fmtTime(res.to)}; bad days as the project's bad-day definition.`));
}
