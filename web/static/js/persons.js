// Persons: search (#/p/{pid}/persons?q=) and one person's page
// (#/p/{pid}/persons/{id}) with properties, merged ids and event timeline.

import { h, clear, field, errorBox, loading, fmtTime, isAbort } from './dom.js';
import { get, P, qs } from './api.js';

// displayName picks a human label from common person properties.
function displayName(p) {
  const props = p.properties || {};
  return props.email || props.$email || props.name || props.$name || (p.distinct_ids && p.distinct_ids[0]) || `Person ${p.id}`;
}

export async function personsPage(ctx) {
  const { pid, main, scope } = ctx;
  const q = ctx.query.get('q') || '';
  const input = h('input', { type: 'search', value: q, 'data-testid': 'persons-search', placeholder: 'distinct id, email, any property value', autocomplete: 'off' });
  const form = h('form', { class: 'search-form', role: 'search' },
    field('Search persons', input),
    h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'persons-search-submit' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/p/${pid}/persons${qs({ q: input.value.trim() })}`);
  });
  const results = h('div', null, loading('Searching…'));
  clear(main, h('div', { class: 'page-head' }, h('h1', null, 'Persons')), form, results);
  if (!q) input.focus();

  try {
    const list = await get(P(pid, `/persons${qs({ q, limit: 50 })}`), { signal: scope.signal }) || [];
    if (!list.length) {
      clear(results, h('p', { class: 'muted empty', 'data-testid': 'persons-empty' }, q ? `Nobody matches “${q}”.` : 'No persons yet: they appear with the first events.'));
      return;
    }
    clear(results,
      h('p', { class: 'muted small' }, q ? `${list.length} match${list.length === 1 ? '' : 'es'}${list.length === 50 ? ' (first 50)' : ''}` : 'Latest persons'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'persons-table' },
        h('thead', null, h('tr', null, ['Person', 'Distinct ids', 'Properties', 'First seen'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, list.map((p) => {
          const ids = p.distinct_ids || [];
          const props = Object.entries(p.properties || {}).slice(0, 3).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
          return h('tr', null,
            h('th', { scope: 'row' }, h('a', { href: `#/p/${pid}/persons/${encodeURIComponent(p.id)}`, 'data-testid': 'person-link' }, displayName(p))),
            h('td', null, ids.slice(0, 3).join(', '), ids.length > 3 ? ` +${ids.length - 3}` : ''),
            h('td', { class: 'muted small' }, props),
            h('td', null, fmtTime(p.created_at)));
        })))));
  } catch (err) {
    if (!isAbort(err)) clear(results, errorBox(err));
  }
}

export async function personPage(ctx) {
  const { pid, main, scope } = ctx;
  const id = ctx.params[1];
  clear(main, h('h1', null, 'Person'), loading());
  let p;
  try {
    p = await get(P(pid, `/persons/${encodeURIComponent(id)}`), { signal: scope.signal });
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Person'), errorBox(err.status === 404 ? 'This person does not exist (or was deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/persons` }, 'Search persons')));
    return;
  }
  const props = Object.entries(p.properties || {}).sort(([a], [b]) => a.localeCompare(b));
  const events = p.events || [];
  const filterIn = h('input', { type: 'search', 'data-testid': 'timeline-filter', placeholder: 'event name', autocomplete: 'off' });
  const timeline = h('ol', { class: 'timeline', 'data-testid': 'person-timeline' });
  const renderTimeline = () => {
    const f = filterIn.value.trim().toLowerCase();
    const shown = f ? events.filter((e) => e.event.toLowerCase().includes(f)) : events;
    clear(timeline, shown.length ? shown.map((e) => h('li', { 'data-testid': 'timeline-event' },
      h('time', { datetime: e.timestamp }, fmtTime(e.timestamp)),
      h('details', null,
        h('summary', null, h('strong', null, e.event), h('span', { class: 'muted small' }, ` · ${e.distinct_id}`)),
        h('pre', { class: 'props' }, JSON.stringify(e.properties || {}, null, 2)))))
      : h('li', { class: 'muted' }, events.length ? 'No event matches the filter.' : 'No events.'));
  };
  filterIn.addEventListener('input', renderTimeline);
  renderTimeline();

  clear(main,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/persons` }, '← Persons')),
    h('div', { class: 'page-head' }, h('h1', { 'data-testid': 'person-name' }, displayName(p)),
      h('span', { class: 'muted' }, `Person ${p.id} · first seen ${fmtTime(p.created_at)}`)),
    h('div', { class: 'person-grid' },
      h('section', { class: 'card' },
        h('h2', null, 'Properties'),
        props.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'data kv', 'data-testid': 'person-properties' },
          h('tbody', null, props.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, typeof v === 'object' ? JSON.stringify(v) : String(v)))))))
          : h('p', { class: 'muted' }, 'No properties.'),
        h('h2', null, 'Distinct ids'),
        h('ul', { class: 'ids', 'data-testid': 'person-distinct-ids' }, (p.distinct_ids || []).map((d) => h('li', null, h('code', null, d))))),
      h('section', { class: 'card' },
        h('div', { class: 'card-head' }, h('h2', null, `Events (latest ${events.length})`), field('Filter', filterIn)),
        timeline)));
}
