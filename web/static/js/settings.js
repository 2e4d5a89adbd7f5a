// Settings: project info, capture token and the browser snippet, the
// browser SDK settings, secret keys, journey stages, members (project
// admins), and "New project" (server admins).

import { h, clear, field, select, errorBox, setError, loading, fmtTime, codeBlock, copyButton, isAbort } from './dom.js';
import { get, post, put, del, P } from './api.js';
import { curlExample, testedVersions } from './snippets.js';
import { personalKeysSection, auditSection } from './settings-keys.js';

export default async function settingsPage(ctx) {
  const { pid, main, scope, project } = ctx;
  clear(main, h('h1', null, 'Settings'), loading());
  let s;
  try {
    s = await get(P(pid, '/settings'), { signal: scope.signal });
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Settings'), errorBox(err));
    return;
  }
  const proj = { ...project, ...(s.project || {}) };
  const admin = ctx.isProjectAdmin;

  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Settings')),
    h('div', { class: 'settings' },
      projectSection(proj, ctx.role, s),
      sdkSection(ctx, s.sdk || {}, admin),
      keysSection(ctx, s.keys || [], admin),
      stagesSection(ctx, s.stages || [], admin),
      admin ? membersSection(ctx) : null,
      personalKeysSection(ctx),
      admin ? auditSection(ctx) : null,
      ctx.session.user.is_admin ? newProjectSection(ctx) : null));
}

function projectSection(proj, role, s) {
  return h('section', { class: 'card', 'aria-labelledby': 'set-project' },
    h('h2', { id: 'set-project' }, 'Project'),
    h('dl', { class: 'kv-list' },
      h('dt', null, 'Name'), h('dd', { 'data-testid': 'project-name' }, proj.name),
      h('dt', null, 'Id'), h('dd', null, String(proj.id)),
      h('dt', null, 'Timezone'), h('dd', null, proj.timezone || 'UTC'),
      h('dt', null, 'Your role'), h('dd', null, role)),
    h('h3', null, 'Capture token'),
    h('p', { class: 'muted small' }, 'Public: it only lets SDKs send events to this project.'),
    h('div', { class: 'token-row' }, h('code', { 'data-testid': 'capture-token' }, proj.token || ''), copyButton(() => proj.token || '', 'Copy token')),
    s.snippet ? [h('h3', null, 'Browser snippet (posthog-js)'),
      h('p', { class: 'muted small' }, 'Add it to the <head> of every page: PostHog’s own loader, served by Journey with posthog-js. Pages that already load posthog-js only need api_host set to this server.'),
      codeBlock(s.snippet, 'settings-snippet'),
      h('p', { class: 'muted small', 'data-testid': 'sdk-versions' }, testedVersions(s.sdk_versions))] : null,
    h('h3', null, 'Send an event with curl'), codeBlock(curlExample(proj.token || ''), 'settings-curl'));
}

// sdkSection edits what browser SDKs are told to capture (posthog-js reads
// it as its remote config, within a minute) and what capture keeps of IPs.
function sdkSection(ctx, sdk, admin) {
  const toggles = [
    ['autocapture', 'Autocapture clicks, form submissions and page changes'],
    ['capture_performance', 'Web vitals and network timing'],
    ['heatmaps', 'Heatmap data (click and scroll positions)'],
    ['dead_clicks', 'Dead clicks (clicks that change nothing)'],
    ['exceptions', 'JavaScript exceptions'],
  ];
  const boxes = toggles.map(([key, label]) => {
    const cb = h('input', { type: 'checkbox', checked: !!sdk[key], disabled: !admin, 'data-testid': `sdk-${key}` });
    return [key, cb, h('label', { class: 'check' }, cb, ` ${label}`)];
  });
  const ip = select([['keep', 'Keep IP addresses'], ['truncate', 'Truncate them (last IPv4 octet, last 80 bits of IPv6)'], ['drop', 'Drop them']],
    sdk.ip || 'keep', { 'data-testid': 'sdk-ip', disabled: !admin });
  const err = errorBox();
  err.setAttribute('data-testid', 'sdk-error');
  const ok = h('span', { class: 'ok', role: 'status', 'data-testid': 'sdk-status' });
  const form = h('form', { 'data-testid': 'sdk-form' },
    h('fieldset', null, h('legend', null, 'Capture in the browser'), boxes.map(([, , label]) => label)),
    field('IP addresses of events', ip),
    admin ? h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'sdk-save' }, 'Save browser SDK settings'), ok) : null,
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(err, null);
    ok.textContent = '';
    const body = { ip: ip.value };
    for (const [key, cb] of boxes) body[key] = cb.checked;
    try {
      const r = await put(P(ctx.pid, '/settings/sdk'), body);
      for (const [key, cb] of boxes) cb.checked = !!r[key];
      ip.value = r.ip;
      ok.textContent = 'Saved. Pages pick it up within a minute.';
    } catch (e2) {
      if (!isAbort(e2)) setError(err, e2);
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'set-sdk' },
    h('h2', { id: 'set-sdk' }, 'Browser SDK'),
    h('p', { class: 'muted small' }, 'What posthog-js captures on your pages (unless the page’s own posthog.init options say otherwise), and what Journey keeps of each visitor’s IP address.'),
    form);
}

function keysSection(ctx, keys, admin) {
  const { pid } = ctx;
  const err = errorBox();
  const shown = h('div', { 'data-testid': 'new-key-box' });
  const list = h('ul', { class: 'key-list', 'data-testid': 'key-list' });
  const renderList = () => clear(list, keys.length ? keys.map((k) => h('li', null,
    h('code', null, `key ${k.id}`), h('span', { class: 'muted small' }, ` created ${fmtTime(k.created_at)} `),
    admin ? h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'key-revoke', onclick: async () => {
      if (!window.confirm(`Revoke key ${k.id}? Programs using it stop working at once.`)) return;
      setError(err, null);
      try {
        await del(P(pid, `/keys/${encodeURIComponent(k.id)}`));
        keys = keys.filter((x) => x.id !== k.id);
        renderList();
      } catch (e) { if (!isAbort(e)) setError(err, e); }
    } }, 'Revoke') : null))
    : h('li', { class: 'muted' }, 'No secret keys.'));
  renderList();
  const create = admin ? h('button', { type: 'button', class: 'btn', 'data-testid': 'key-create', onclick: async () => {
    setError(err, null);
    try {
      const k = await post(P(pid, '/keys'), {});
      keys = [...keys, { id: k.id, created_at: new Date().toISOString() }];
      renderList();
      clear(shown, h('div', { class: 'notice', role: 'status' },
        h('p', null, h('strong', null, 'Copy this key now: it is shown only once.')),
        h('div', { class: 'token-row' }, h('code', { 'data-testid': 'new-secret-key' }, k.secret_key), copyButton(() => k.secret_key, 'Copy key'))));
    } catch (e) { if (!isAbort(e)) setError(err, e); }
  } }, 'Create key') : null;
  return h('section', { class: 'card', 'aria-labelledby': 'set-keys' },
    h('h2', { id: 'set-keys' }, 'Secret keys'),
    h('p', { class: 'muted small' }, 'For the query and management API (/api/v1), as “Authorization: Bearer <key>”. Keep them private.'),
    list, create, shown, err);
}

function stagesSection(ctx, stages, admin) {
  const { pid } = ctx;
  const ta = h('textarea', { rows: 14, spellcheck: 'false', 'data-testid': 'stages-json', readonly: !admin });
  ta.value = JSON.stringify(stages, null, 2);
  const err = errorBox();
  err.setAttribute('data-testid', 'stages-error');
  const ok = h('span', { class: 'ok', role: 'status' });
  const form = h('form', { 'data-testid': 'stages-form' },
    field('Stages (JSON: name, events [{event, filters}], min_count)', ta),
    admin ? h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'stages-save' }, 'Save stages'), ok) : null,
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(err, null);
    ok.textContent = '';
    let parsed;
    try {
      parsed = JSON.parse(ta.value);
    } catch (e2) {
      setError(err, `Not valid JSON: ${e2.message}`);
      return;
    }
    try {
      const r = await put(P(pid, '/settings/journey'), { stages: parsed });
      ta.value = JSON.stringify(r.stages, null, 2);
      ok.textContent = 'Saved.';
    } catch (e2) {
      if (!isAbort(e2)) setError(err, e2);
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'set-stages' },
    h('h2', { id: 'set-stages' }, 'Customer journey stages'),
    h('p', { class: 'muted small' }, 'A person reaches a stage by doing any of its events at least min_count times (and every earlier stage). Home shows these stages.'),
    form);
}

// membersSection: members, pending invites and the add form. A project
// admin invites by email (the server answers the same whether or not the
// email has an account; the person joins once they accept); a server admin
// adds existing users directly, or creates new ones with a password.
function membersSection(ctx) {
  const { pid, scope } = ctx;
  const serverAdmin = !!ctx.session.user.is_admin;
  const list = h('div', null, loading());
  const err = errorBox();
  let members = [];
  const render = () => clear(list, h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'members-table' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Email'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', null, members.map((m) => h('tr', null, h('th', { scope: 'row' }, m.email), h('td', null, m.role),
      h('td', null, m.user_id === ctx.session.user.id ? h('span', { class: 'muted small' }, 'you') : h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'member-remove', onclick: async () => {
        if (!window.confirm(`Remove ${m.email} from this project?`)) return;
        setError(err, null);
        try {
          await del(P(pid, `/members/${encodeURIComponent(m.user_id)}`));
          members = members.filter((x) => x.user_id !== m.user_id);
          render();
        } catch (e) { if (!isAbort(e)) setError(err, e); }
      } }, 'Remove'))))))));
  get(P(pid, '/members'), { signal: scope.signal }).then((m) => { members = m || []; render(); })
    .catch((e) => { if (!isAbort(e)) clear(list, errorBox(e)); });

  const pending = h('div', { 'data-testid': 'invites-pending' }, loading());
  let invites = [];
  const renderInvites = () => clear(pending, invites.length
    ? h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'invites-table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Email'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Invited'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, invites.map((inv) => h('tr', { 'data-testid': 'invite-row' }, h('th', { scope: 'row' }, inv.email), h('td', null, inv.role), h('td', null, fmtTime(inv.created_at)),
        h('td', null, h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'invite-revoke', onclick: async () => {
          if (!window.confirm(`Revoke the invitation of ${inv.email}?`)) return;
          setError(err, null);
          try {
            await del(P(pid, `/invites/${encodeURIComponent(inv.id)}`));
            invites = invites.filter((x) => x.id !== inv.id);
            done.textContent = ''; // may name the revoked invite
            renderInvites();
          } catch (e) { if (!isAbort(e)) setError(err, e); }
        } }, 'Revoke')))))))
    : h('p', { class: 'muted small' }, 'No pending invitations.'));
  get(P(pid, '/invites'), { signal: scope.signal }).then((l) => { invites = l || []; renderInvites(); })
    .catch((e) => { if (!isAbort(e)) clear(pending, errorBox(e)); });

  const email = h('input', { type: 'email', required: true, autocomplete: 'off', 'data-testid': 'member-email' });
  const password = serverAdmin ? h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, 'data-testid': 'member-password' }) : null;
  const role = select([['viewer', 'Viewer: read and run queries'], ['member', 'Member: also save insights, dashboards, share'], ['admin', 'Admin: also keys, stages, members']], 'member', { 'data-testid': 'member-role' });
  const addErr = errorBox();
  const done = h('p', { class: 'ok small', role: 'status', 'data-testid': 'member-status' });
  const form = h('form', { class: 'inline-form', 'data-testid': 'member-form' },
    h('h3', null, serverAdmin ? 'Add a member' : 'Invite a member'),
    serverAdmin
      ? h('p', { class: 'muted small' }, 'As a server admin you add existing users at once, or create an account by giving a password.')
      : h('p', { class: 'muted small' }, 'They join once they accept the invitation, logged in with this email. People without an account need one from a server admin first.'),
    h('div', { class: 'inline wrap' }, field('Email', email), password ? field('Password (new accounts, 8+ characters)', password) : null, field('Role', role)),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'member-add' }, serverAdmin ? 'Add member' : 'Send invitation')),
    done, addErr);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(addErr, null);
    done.textContent = '';
    const body = { email: email.value.trim(), role: role.value };
    if (password && password.value) body.password = password.value;
    try {
      const r = await post(P(pid, '/members'), body);
      if (r.user_id != null) { // added directly (server admins)
        members = [...members.filter((x) => x.user_id !== r.user_id), r];
        render();
        done.textContent = `${r.email} is now a ${r.role}.`;
      } else { // invited
        invites = [...invites.filter((x) => x.id !== r.id), r].sort((a, b) => a.email.localeCompare(b.email));
        renderInvites();
        done.textContent = `Invitation for ${r.email} pending: they join once they accept it.`;
      }
      email.value = '';
      if (password) password.value = '';
      email.focus();
    } catch (e2) { if (!isAbort(e2)) setError(addErr, e2); }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'set-members' },
    h('h2', { id: 'set-members' }, 'Members'), list, err,
    h('h3', null, 'Pending invitations'), pending, form);
}

export function newProjectSection(ctx) {

  const name = h('input', { type: 'text', required: true, 'data-testid': 'project-new-name' });
  const tz = h('input', { type: 'text', value: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', 'data-testid': 'project-new-timezone', list: 'tz-list' });
  const tzList = h('datalist', { id: 'tz-list' }, ['UTC', 'Europe/London', 'Europe/Berlin', 'Europe/Paris', 'America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney'].map((z) => h('option', { value: z })));
  const err = errorBox();
  const out = h('div');
  const form = h('form', { class: 'inline-form', 'data-testid': 'project-new-form' },
    h('div', { class: 'inline wrap' }, field('Name', name), field('Timezone (IANA)', tz), tzList),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'project-create' }, 'Create project')),
    err, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(err, null);
    if (!name.value.trim()) { setError(err, 'Give the project a name.'); name.focus(); return; }
    try {
      const p = await post('/projects', { name: name.value.trim(), timezone: tz.value.trim() || 'UTC' });
      await ctx.reloadSession();
      clear(out, h('div', { class: 'notice', role: 'status' },
        h('p', null, h('strong', null, `Project “${p.name}” created.`), ' Copy its secret key now: it is shown only once.'),
        p.secret_key ? h('div', { class: 'token-row' }, h('code', { 'data-testid': 'project-secret-key' }, p.secret_key), copyButton(() => p.secret_key, 'Copy key')) : null,
        h('p', null, 'Capture token: ', h('code', null, p.token || '')),
        h('p', null, h('a', { href: `#/p/${p.id}/home` }, 'Open the project'))));
      name.value = '';
    } catch (e2) { if (!isAbort(e2)) setError(err, e2); }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'set-newproj' },
    h('h2', { id: 'set-newproj' }, 'New project'),
    h('p', { class: 'muted small' }, 'You are a server admin: you can create projects.'),
    form);
}
