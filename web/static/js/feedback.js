// The feedback inbox (#/p/{pid}/feedback[?q=&status=&theme=&tag=]) and one
// item (#/p/{pid}/feedback/{id}): search in any language (the server's
// character n-grams), filters by status, theme and tag; an item's person,
// accounts, notes, customer-visible replies, status, priority, assignee,
// theme (with the server's suggestions), tags, votes and merge into
// another item. vocTabs is the sub-navigation the VoC pages share.

import { h, clear, field, select, errorBox, setError, loading, fmtTime, isAbort, codeBlock } from './dom.js';
import { get, post, api, del, P } from './api.js';
import {
  STATUSES, PRIORITIES, statusText, priorityText, sourceText, inboxFilters, inboxQuery, hasFilters, parseTags, itemPatch,
  commentError, timeBetween, deliveryView, slaRows,
} from './vocmodel.js';

const patch = (path, body, opts) => api('PATCH', path, body, opts);

// vocTabs: Inbox · Themes · Surveys, the current one marked.
export function vocTabs(pid, current) {
  const tabs = [['feedback', 'Inbox'], ['themes', 'Themes'], ['surveys', 'Surveys']];
  return h('nav', { class: 'voc-tabs', 'aria-label': 'Voice of customer' },
    tabs.map(([k, label]) => h('a', { href: `#/p/${pid}/${k}`, 'data-testid': `voc-tab-${k}`, 'aria-current': k === current ? 'page' : null }, label)));
}

export function statusBadge(status) {
  return h('span', { class: `badge fb-${status}`, 'data-testid': 'fb-status', 'data-status': status }, statusText(status));
}

function personLink(pid, item) {
  return item.person_id
    ? h('a', { href: `#/p/${pid}/persons/${item.person_id}`, 'data-testid': 'fb-person' }, item.distinct_id)
    : h('span', { 'data-testid': 'fb-person' }, item.distinct_id);
}

export default async function inboxPage(ctx) {
  const { pid, main, scope } = ctx;
  const f = inboxFilters(ctx.query);
  const listHost = h('div', null, loading('Loading feedback…'));
  const q = h('input', { type: 'search', id: 'fb-q', name: 'q', value: f.q, 'data-testid': 'fb-search', placeholder: '송장 내보내기 · invoice export' });
  const status = select([['', 'Any status'], ...STATUSES], f.status, { id: 'fb-status', 'data-testid': 'fb-filter-status' });
  const theme = select([['', 'Any theme'], ['none', 'No theme']], f.theme, { id: 'fb-theme', 'data-testid': 'fb-filter-theme' });
  const tag = h('input', { type: 'text', id: 'fb-tag', value: f.tag, 'data-testid': 'fb-filter-tag', list: 'fb-tags' });
  const tagList = h('datalist', { id: 'fb-tags' });
  const form = h('form', { class: 'toolbar fb-filters', role: 'search', 'data-testid': 'fb-filters' },
    field('Search feedback', q, 'Korean and English: parts of words match too.'),
    field('Status', status), field('Theme', theme), field('Tag', tag), tagList,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'fb-apply' }, 'Search'),
      hasFilters(f) ? h('a', { class: 'btn', href: `#/p/${pid}/feedback`, 'data-testid': 'fb-clear' }, 'Clear') : null));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/p/${pid}/feedback${inboxQuery(inboxFilters({ q: q.value, status: status.value, theme: theme.value, tag: tag.value }))}`);
  });
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Feedback'), vocTabs(pid, 'feedback')),
    h('p', { class: 'muted' }, 'What customers told you, from the widget, the API, surveys, email, CSV imports and your help desk, each tied to the person and account who said it.'),
    form, listHost);

  const themesP = get(P(pid, '/themes?sort=recent'), { signal: scope.signal }).catch(() => ({ themes: [] }));
  const slaHost = h('div');
  if (!hasFilters(f)) {
    listHost.before(slaHost);
    get(P(pid, '/feedback/sla'), { signal: scope.signal }).then((sla) => slaCard(slaHost, sla)).catch(() => {});
  }
  let items;
  try {
    items = (await get(P(pid, `/feedback${inboxQuery(f, { limit: 200 })}`), { signal: scope.signal })).items || [];
  } catch (e) {
    if (!isAbort(e)) clear(listHost, errorBox(e));
    return;
  }
  const themes = (await themesP).themes || [];
  const themeName = new Map(themes.map((t) => [t.id, t.name]));
  for (const t of themes) theme.append(h('option', { value: String(t.id) }, t.name));
  theme.value = f.theme;
  const tags = new Set();
  for (const it of items) for (const t of it.tags || []) tags.add(t);
  for (const t of [...tags].sort()) tagList.append(h('option', { value: t }));

  if (!items.length) {
    clear(listHost, h('section', { class: 'card empty-state', 'data-testid': 'fb-empty' },
      h('h2', null, hasFilters(f) ? 'Nothing matches' : 'No feedback yet'),
      h('p', null, hasFilters(f) ? 'Try fewer words or another filter.'
        : 'Add the feedback widget to your site with this one script tag, send feedback through the API, or import a CSV file.'),
      hasFilters(f) ? null : codeBlock(`<script src="${location.origin}/widget/feedback.js" data-token="${ctx.project.token || '<project token>'}" async></script>`, 'fb-widget-snippet')));
    return;
  }
  clear(listHost, h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'fb-list' },
    h('caption', { class: 'sr-only' }, `${items.length} feedback items`),
    h('thead', null, h('tr', null, ['Feedback', 'From', 'Status', 'Priority', 'Theme', 'Votes', 'Received'].map((t, i) => h('th', { scope: 'col', class: i === 5 ? 'num' : null }, t)))),
    h('tbody', null, items.map((it) => h('tr', { 'data-testid': 'fb-row', 'data-id': String(it.id) },
      h('th', { scope: 'row', class: 'fb-text' },
        h('a', { href: `#/p/${pid}/feedback/${it.id}`, 'data-testid': 'fb-link' }, clip(it.text, 160)),
        (it.tags || []).length ? h('div', { class: 'fb-tags' }, it.tags.map((t) => h('a', { class: 'tag', href: `#/p/${pid}/feedback${inboxQuery({ tag: t })}` }, t))) : null),
      h('td', null, personLink(pid, it), h('div', { class: 'muted small' }, sourceText(it.source))),
      h('td', null, statusBadge(it.status)),
      h('td', null, priorityText(it.priority)),
      h('td', { 'data-testid': 'fb-theme' }, it.theme_id ? h('a', { href: `#/p/${pid}/feedback${inboxQuery({ theme: String(it.theme_id) })}` }, themeName.get(it.theme_id) || `#${it.theme_id}`) : h('span', { class: 'muted' }, '–')),
      h('td', { class: 'num' }, String(it.votes)),
      h('td', null, fmtTime(it.created_at))))))));
}

// slaCard: the SLA history of the inbox's items (GET /feedback/sla): per
// priority, first responses and resolutions within their targets, and
// the open breaches; nothing when no item has a clock yet.
function slaCard(host, sla) {
  const rows = slaRows(sla);
  if (!rows.length) return;
  const bh = sla.business_hours || {};
  clear(host, h('section', { class: 'card', 'aria-labelledby': 'fb-sla-h', 'data-testid': 'fb-sla-history' },
    h('h2', { id: 'fb-sla-h' }, 'Response times'),
    h('p', { class: 'muted small' }, `Items of the last ${sla.days || 90} days, in business time (${(bh.days || []).join(', ')} ${bh.start || ''}–${bh.end || ''}, ${sla.time_zone || 'UTC'}).`),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', null, h('tr', null, ['Priority', 'Items', 'First response', 'Resolution', 'Open breaches'].map((t, i) => h('th', { scope: 'col', class: i === 1 || i === 4 ? 'num' : null }, t)))),
      h('tbody', null, rows.map((r) => h('tr', { 'data-testid': 'fb-sla-row', 'data-priority': r.priority },
        h('th', { scope: 'row' }, r.label), h('td', { class: 'num' }, String(r.items)),
        h('td', { 'data-testid': 'fb-sla-first' }, r.first.text), h('td', { 'data-testid': 'fb-sla-resolve' }, r.resolve.text),
        h('td', { class: 'num' }, r.open ? h('span', { class: 'badge bad' }, String(r.open)) : '0'))))))));
}

function clip(s, n) {
  const t = String(s || '');
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

// ---------------------------------------------------------------- one item

export async function itemPage(ctx) {
  const { pid, main, scope, canWrite } = ctx;
  const id = ctx.params[1];
  clear(main, loading('Loading the feedback…'));
  const [item, themesRes, members] = await Promise.all([
    get(P(pid, `/feedback/${encodeURIComponent(id)}`), { signal: scope.signal }),
    get(P(pid, '/themes?sort=recent'), { signal: scope.signal }).catch(() => ({ themes: [] })),
    ctx.isProjectAdmin ? get(P(pid, '/members'), { signal: scope.signal }).catch(() => []) : Promise.resolve(null),
  ]).catch((e) => {
    if (!isAbort(e)) clear(main, h('div', { class: 'page-head' }, h('h1', null, 'Feedback'), vocTabs(pid, 'feedback')), errorBox(e));
    return [];
  });
  if (!item) return;
  const themes = (themesRes.themes || []).filter((t) => !t.merged_into);
  render(item);

  function render(it) {
    const err = errorBox(null);
    const saved = h('span', { class: 'muted small', role: 'status', 'data-testid': 'fb-saved' });
    const head = h('div', { class: 'page-head' },
      h('div', null, h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/feedback` }, 'Feedback'), ` › #${it.id}`),
        h('h1', null, `Feedback #${it.id}`)),
      vocTabs(pid, 'feedback'));
    const facts = h('dl', { class: 'facts fb-facts' },
      fact('From', personLink(pid, it)), fact('Source', sourceText(it.source)),
      fact('Accounts', (it.accounts || []).length ? it.accounts.join(', ') : '–'),
      fact('Received', fmtTime(it.created_at)),
      fact('First response', it.first_response_at ? `${fmtTime(it.first_response_at)} (after ${timeBetween(it.created_at, it.first_response_at)})` : 'not yet'),
      fact('Resolved', it.resolved_at ? `${fmtTime(it.resolved_at)} (after ${timeBetween(it.created_at, it.resolved_at)})` : '–'),
      it.external_id ? fact('Ticket', it.external_id) : null,
      slaFacts(it));
    const merged = it.merged_into
      ? h('p', { class: 'banner', 'data-testid': 'fb-merged' }, 'A duplicate, merged into ', h('a', { href: `#/p/${pid}/feedback/${it.merged_into}` }, `#${it.merged_into}`), '.')
      : null;
    const body = h('section', { class: 'card', 'aria-labelledby': 'fb-text-h' },
      h('h2', { id: 'fb-text-h', class: 'sr-only' }, 'What they said'),
      h('blockquote', { class: 'fb-quote', 'data-testid': 'fb-item-text' }, it.text),
      (it.attachments || []).length ? h('ul', { class: 'fb-attachments' }, it.attachments.map((u) => h('li', null, /^https?:\/\//i.test(u) ? h('a', { href: u, rel: 'noopener noreferrer', target: '_blank' }, u) : u))) : null,
      facts);
    clear(main, head, merged, h('div', { class: 'fb-layout' },
      h('div', { class: 'fb-main' }, body, comments(it, 'replies'), comments(it, 'notes')),
      h('div', { class: 'fb-side' }, editor(it, err, saved), canWrite && !it.merged_into ? mergeBox(it) : null, suggestionsBox(it))));
  }

  function fact(label, value) {
    return [h('dt', null, label), h('dd', null, value)];
  }

  // slaFacts: the item's SLA clocks, where the SLA view (GET /feedback/sla)
  // lists it as breached; filled in when that answer comes.
  function slaFacts(it) {
    const dd = h('dd', { 'data-testid': 'fb-sla' }, '…');
    get(P(pid, '/feedback/sla?days=365'), { signal: scope.signal }).then((sla) => {
      const mine = (sla.breaches || []).filter((b) => b.item_id === it.id);
      const target = sla.targets && sla.targets[it.priority];
      clear(dd, mine.length
        ? h('span', { class: 'badge bad', 'data-testid': 'fb-sla-breached' }, mine.map((b) => `${b.kind === 'resolve' ? 'resolution' : 'first response'} overdue since ${fmtTime(b.due_at)}`).join('; '))
        : target ? `within target (first response ${hours(target.first_response_s)}, resolution ${hours(target.resolve_s)} of business time)` : '–');
    }).catch((e) => { if (!isAbort(e)) dd.textContent = '–'; });
    return [h('dt', null, 'SLA'), dd];
  }

  function editor(it, err, saved) {
    const st = select(STATUSES, it.status, { id: 'fb-edit-status', 'data-testid': 'fb-edit-status', 'data-field': 'status', disabled: !canWrite });
    const pr = select(PRIORITIES, it.priority, { id: 'fb-edit-priority', 'data-testid': 'fb-edit-priority', 'data-field': 'priority', disabled: !canWrite });
    const th = select([['0', 'No theme'], ...themes.map((t) => [String(t.id), t.name])], String(it.theme_id || 0), { id: 'fb-edit-theme', 'data-testid': 'fb-edit-theme', 'data-field': 'theme_id', disabled: !canWrite });
    const tg = h('input', { type: 'text', id: 'fb-edit-tags', value: (it.tags || []).join(', '), 'data-testid': 'fb-edit-tags', 'data-field': 'tags', disabled: !canWrite });
    let as;
    if (members) {
      as = select([['0', 'Nobody'], ...members.map((m) => [String(m.user_id), m.email])], String(it.assignee_id || 0), { id: 'fb-edit-assignee', 'data-testid': 'fb-edit-assignee', 'data-field': 'assignee_id', disabled: !canWrite });
    } else {
      const me = ctx.session.user.id;
      const opts = [['0', 'Nobody'], [String(me), `Me (${ctx.session.user.email})`]];
      if (it.assignee_id && it.assignee_id !== me) opts.push([String(it.assignee_id), `User ${it.assignee_id}`]);
      as = select(opts, String(it.assignee_id || 0), { id: 'fb-edit-assignee', 'data-testid': 'fb-edit-assignee', 'data-field': 'assignee_id', disabled: !canWrite });
    }
    const form = h('form', { class: 'card', 'data-testid': 'fb-editor', 'aria-labelledby': 'fb-edit-h' },
      h('h2', { id: 'fb-edit-h' }, 'Triage'),
      field('Status', st), field('Priority', pr), field('Assignee', as), field('Theme', th), field('Tags', tg, 'Comma separated.'),
      err,
      canWrite ? h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'fb-save' }, 'Save'),
        h('button', { type: 'button', class: 'btn', 'data-testid': 'fb-vote', onclick: vote }, `+1 vote (${it.votes})`),
        h('button', { type: 'button', class: 'btn danger', 'data-testid': 'fb-delete', onclick: remove }, 'Delete'), saved) : null);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      const { body, errors } = itemPatch(it, { status: st.value, priority: pr.value, assignee_id: as.value, theme_id: th.value, tags: parseTags(tg.value) });
      if (errors.length) { setError(err, errors.map((x) => x.msg).join(' ')); return; }
      if (!body) { saved.textContent = 'Nothing changed.'; return; }
      try {
        const out = await patch(P(pid, `/feedback/${it.id}`), body, { signal: scope.signal });
        render({ ...it, ...out });
        main.querySelector('[data-testid="fb-saved"]').textContent = 'Saved.';
      } catch (x) {
        if (!isAbort(x)) setError(err, x.field ? `${x.field}: ${x.message}` : x);
      }
    });

    async function vote() {
      try { render({ ...it, ...(await post(P(pid, `/feedback/${it.id}/vote`), {}, { signal: scope.signal })) }); } catch (x) { if (!isAbort(x)) setError(err, x); }
    }
    async function remove() {
      if (!window.confirm('Delete this feedback, its notes and replies? Duplicates merged into it are unmerged.')) return;
      try { await del(P(pid, `/feedback/${it.id}`), { signal: scope.signal }); ctx.navigate(`#/p/${pid}/feedback`); } catch (x) { if (!isAbort(x)) setError(err, x); }
    }
    return form;
  }

  // comments: the replies (customer-visible) or notes (internal) and a form.
  function comments(it, kind) {
    const reply = kind === 'replies';
    const list = it[kind] || [];
    const ta = h('textarea', { id: `fb-${kind}-text`, rows: '3', 'data-testid': `fb-${kind}-text` });
    const err = errorBox(null);
    const form = canWrite ? h('form', { class: 'fb-comment-form', 'data-testid': `fb-${kind}-form` },
      field(reply ? 'Reply to the customer' : 'Add an internal note', ta, reply ? 'They see this (by email or webhook where set up).' : 'Only your team sees notes.'),
      err, h('button', { type: 'submit', class: 'btn' + (reply ? ' primary' : ''), 'data-testid': `fb-${kind}-send` }, reply ? 'Send reply' : 'Add note')) : null;
    if (form) {
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const msg = commentError(ta.value);
        if (msg) { setError(err, msg); ta.focus(); return; }
        try {
          const c = await post(P(pid, `/feedback/${it.id}/${kind}`), { text: ta.value.trim() }, { signal: scope.signal });
          const next = { ...it, [kind]: [...list, c] };
          if (reply && !next.first_response_at) next.first_response_at = c.created_at;
          // A reply's delivery is the server's (its send, scheduled now):
          // read the item again to show it.
          const fresh = reply ? await get(P(pid, `/feedback/${it.id}`), { signal: scope.signal }).catch(() => null) : null;
          render(fresh || next);
        } catch (x) { if (!isAbort(x)) setError(err, x); }
      });
    }
    return h('section', { class: 'card', 'aria-labelledby': `fb-${kind}-h`, 'data-testid': `fb-${kind}` },
      h('h2', { id: `fb-${kind}-h` }, reply ? `Replies (${list.length})` : `Internal notes (${list.length})`),
      list.length ? h('ol', { class: 'fb-comments' }, list.map((c) => h('li', { 'data-testid': `fb-${kind}-item` },
        h('div', { class: 'muted small' }, fmtTime(c.created_at)), h('p', null, c.text), reply ? delivery(c.delivery) : null)))
        : h('p', { class: 'muted' }, reply ? 'No reply yet.' : 'No notes.'),
      form);
  }

  // delivery: how a reply's message to the customer stands (state,
  // attempts, last error), as the send schedule has it.
  function delivery(d) {
    const v = deliveryView(d);
    return h('div', { class: 'small', 'data-testid': 'fb-delivery', 'data-state': (d && d.state) || 'none' },
      h('span', { class: `badge ${v.cls}` }, v.label), ' ', h('span', { class: 'muted' }, [v.detail, v.at ? fmtTime(v.at) : ''].filter(Boolean).join(' ')));
  }

  // mergeBox: find the item this one duplicates (search) and merge into it.
  function mergeBox(it) {
    const q = h('input', { type: 'search', id: 'fb-merge-q', 'data-testid': 'fb-merge-q' });
    const results = h('div', { 'data-testid': 'fb-merge-results' });
    const err = errorBox(null);
    const form = h('form', { class: 'card', 'aria-labelledby': 'fb-merge-h' },
      h('h2', { id: 'fb-merge-h' }, 'Merge a duplicate'),
      field('Find the item this one repeats', q, 'Its votes and tags go to that item; this one follows its theme.'),
      h('button', { type: 'submit', class: 'btn', 'data-testid': 'fb-merge-find' }, 'Find'), err, results);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      const text = q.value.trim();
      if (!text) return;
      try {
        const res = await get(P(pid, `/feedback${inboxQuery({ q: text }, { limit: 10 })}`), { signal: scope.signal });
        const cands = (res.items || []).filter((x) => x.id !== it.id);
        clear(results, cands.length ? h('ul', { class: 'plain-list' }, cands.map((c) => h('li', null,
          h('span', null, `#${c.id} ${clip(c.text, 80)} `),
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'fb-merge-into', 'data-id': String(c.id), onclick: () => merge(c.id) }, `Merge into #${c.id}`))))
          : h('p', { class: 'muted' }, 'No other item matches.'));
      } catch (x) { if (!isAbort(x)) setError(err, x); }
    });
    async function merge(into) {
      try {
        await post(P(pid, `/feedback/${it.id}/merge`), { into }, { signal: scope.signal });
        ctx.navigate(`#/p/${pid}/feedback/${into}`);
      } catch (x) { if (!isAbort(x)) setError(err, x); }
    }
    return form;
  }

  // suggestionsBox: themes whose items are like this one (the server's
  // n-gram similarity); one click files it there.
  function suggestionsBox(it) {
    const box = h('section', { class: 'card', 'aria-labelledby': 'fb-sugg-h', 'data-testid': 'fb-suggestions' }, h('h2', { id: 'fb-sugg-h' }, 'Similar themes'), loading('Looking for similar themes…'));
    get(P(pid, `/feedback/${it.id}/suggestions`), { signal: scope.signal }).then((res) => {
      const list = (res.suggestions || []).filter((s) => s.theme_id !== it.theme_id);
      box.lastChild.replaceWith(list.length ? h('ul', { class: 'plain-list' }, list.map((s) => h('li', null,
        h('span', null, `${s.name} `, h('span', { class: 'muted small' }, `(${Math.round(s.score * 100)}% alike)`)),
        canWrite ? h('button', { type: 'button', class: 'btn small', 'data-testid': 'fb-sugg-apply', onclick: async () => {
          try { render({ ...it, ...(await patch(P(pid, `/feedback/${it.id}`), { theme_id: s.theme_id }, { signal: scope.signal })) }); } catch (x) { if (!isAbort(x)) box.append(errorBox(x)); }
        } }, 'File here') : null)))
        : h('p', { class: 'muted' }, 'No theme is like this item yet.'));
    }).catch((e) => { if (!isAbort(e)) box.lastChild.replaceWith(errorBox(e)); });
    return box;
  }
}

function hours(s) {
  if (s == null) return '–';
  return s >= 86400 && s % 86400 === 0 ? `${s / 86400} d` : `${Math.round((s / 3600) * 10) / 10} h`;
}
