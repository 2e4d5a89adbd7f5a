// Settings: the user's personal API keys (create, rotate, revoke; the
// secret shown once) and the project's audit log (project admins), issue
// 17 item 2. A personal key works on /api/v1 for the projects its user
// sees, with the user's role capped by its scopes.

import { h, clear, field, select, errorBox, setError, fmtTime, copyButton, isAbort } from './dom.js';
import { get, post, del, P } from './api.js';

const scopeChoices = [
  ['read', 'read: queries and reads only'],
  ['write', 'write: reads and changes, as your role allows'],
  ['flags:definitions', 'flags:definitions: only the flag definitions server SDKs poll'],
];

// secretNotice shows a key's secret once, with a copy button.
function secretNotice(box, secret, what) {
  clear(box, h('div', { class: 'notice', role: 'status' },
    h('p', null, h('strong', null, `Copy this ${what} now: it is shown only once.`)),
    h('div', { class: 'token-row' }, h('code', { 'data-testid': 'new-personal-key' }, secret), copyButton(() => secret, 'Copy key'))));
}

export function personalKeysSection(ctx) {
  const err = errorBox();
  const shown = h('div', { 'data-testid': 'personal-key-box' });
  const list = h('ul', { class: 'key-list', 'data-testid': 'personal-key-list' });
  let keys = [];
  const act = async (fn) => {
    setError(err, null);
    try { await fn(); await load(); } catch (e) { if (!isAbort(e)) setError(err, e); }
  };
  const row = (k) => h('li', { 'data-testid': 'personal-key' },
    h('code', null, `${k.prefix}…`), ` ${k.name} `,
    h('span', { class: 'muted small' }, `${k.scopes.join(', ')} · created ${fmtTime(k.created_at)}`,
      k.last_used_at ? ` · last used ${fmtTime(k.last_used_at)}` : ' · never used',
      k.revoked_at ? ` · revoked ${fmtTime(k.revoked_at)}` : ''),
    k.revoked_at ? null : [' ',
      h('button', { type: 'button', class: 'btn small', 'data-testid': 'personal-key-rotate', onclick: () => act(async () => {
        const overlap = window.confirm('Keep the old secret working for one hour while you switch? (Cancel: it stops at once.)') ? 3600 : 0;
        const r = await post(`/personal-keys/${encodeURIComponent(k.id)}/rotate`, { overlap_seconds: overlap });
        secretNotice(shown, r.secret, 'new secret');
      }) }, 'Rotate'), ' ',
      h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'personal-key-revoke', onclick: () => {
        if (window.confirm(`Revoke ${k.name}? Programs using it stop working at once.`)) act(() => del(`/personal-keys/${encodeURIComponent(k.id)}`));
      } }, 'Revoke')]);
  const load = async () => {
    keys = await get('/personal-keys', { signal: ctx.scope.signal });
    clear(list, keys.length ? keys.map(row) : h('li', { class: 'muted' }, 'No personal keys.'));
  };
  const name = h('input', { type: 'text', maxlength: 100, required: true, 'data-testid': 'personal-key-name' });
  const scope = select(scopeChoices, 'read', { 'data-testid': 'personal-key-scope' });
  const form = h('form', { 'data-testid': 'personal-key-form' }, field('Name', name), field('Scope', scope),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn' }, 'Create personal key')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(async () => {
      const r = await post('/personal-keys', { name: name.value, scopes: [scope.value] });
      name.value = '';
      secretNotice(shown, r.secret, 'key');
    });
  });
  load().catch((e) => { if (!isAbort(e)) setError(err, e); });
  return h('section', { class: 'card', 'aria-labelledby': 'set-personal-keys' },
    h('h2', { id: 'set-personal-keys' }, 'Personal API keys'),
    h('p', { class: 'muted small' }, 'Yours, for every project you can see: “Authorization: Bearer <key>” on /api/v1 with ?project_id=', String(ctx.pid), '. They act with your role, capped by their scope.'),
    list, form, shown, err);
}

// auditSection pages through the project's audit log, newest first.
export function auditSection(ctx) {
  const err = errorBox();
  const body = h('tbody', { 'data-testid': 'audit-rows' });
  let before = 0;
  const more = h('button', { type: 'button', class: 'btn small', hidden: true, onclick: () => page() }, 'Older entries');
  const page = async () => {
    setError(err, null);
    try {
      const r = await get(P(ctx.pid, `/audit?limit=50${before ? `&before=${before}` : ''}`), { signal: ctx.scope.signal });
      for (const e of r.entries) {
        body.append(h('tr', null, h('td', null, fmtTime(e.at)), h('td', null, e.actor_name || e.actor),
          h('td', null, h('code', null, e.action)), h('td', null, e.target), h('td', null, String(e.status))));
      }
      if (!body.children.length) body.append(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'No admin actions yet.')));
      before = r.next_before;
      more.hidden = !before;
    } catch (e) { if (!isAbort(e)) setError(err, e); }
  };
  page();
  return h('section', { class: 'card', 'aria-labelledby': 'set-audit' },
    h('h2', { id: 'set-audit' }, 'Audit log'),
    h('p', { class: 'muted small' }, 'Every change made in this project through the UI or the API: who, what, on which id, and the answer.'),
    h('table', { class: 'table' }, h('thead', null, h('tr', null, ['When', 'Who', 'Action', 'Target', 'Status'].map((t) => h('th', null, t)))), body),
    more, err);
}
