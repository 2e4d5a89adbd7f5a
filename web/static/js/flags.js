// Feature flags (#/p/{pid}/flags): the project's flags with who gets them,
// an on/off switch each (members), and the way to the editor
// (flag-editor.js). Flags are PostHog's (GET/PATCH /flags), so PostHog
// SDKs evaluate them as Journey does.

import { h, clear, errorBox, loading, fmtTime, isAbort } from './dom.js';
import { get, api, P } from './api.js';
import { rolloutSummary } from './flagmodel.js';

export default async function flagsPage(ctx) {
  const { pid, main, scope } = ctx;
  const listHost = h('div', null, loading('Loading flags…'));
  const err = errorBox();
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Feature flags'),
      ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/flags/new`, 'data-testid': 'new-flag' }, 'New flag') : null),
    h('p', { class: 'muted' }, 'Turn features on for some people, roll them out gradually, or split traffic between variants for an experiment. PostHog SDKs read these flags from Journey.'),
    err, listHost);

  let list;
  try {
    list = await get(P(pid, '/flags'), { signal: scope.signal }) || [];
  } catch (e) {
    if (!isAbort(e)) clear(listHost, errorBox(e));
    return;
  }
  if (!list.length) {
    clear(listHost, h('section', { class: 'card empty-state', 'data-testid': 'flags-empty' },
      h('h2', null, 'No flags yet'),
      h('p', null, 'A flag decides, per person, whether a feature is on (or which variant they see).'),
      ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/flags/new` }, 'Create the first flag') : null));
    return;
  }
  list.sort((a, b) => String(a.key).localeCompare(String(b.key)));
  clear(listHost, h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'flag-list' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Who gets it'),
      h('th', { scope: 'col' }, 'On'), h('th', { scope: 'col' }, 'Changed'))),
    h('tbody', null, list.map((f) => flagRow(f))))));

  function flagRow(f) {
    const toggle = h('input', {
      type: 'checkbox', checked: f.active, disabled: !ctx.canWrite, 'data-testid': 'flag-active-toggle',
      'aria-label': `${f.key} is on`,
    });
    const state = h('span', { class: 'small' }, f.active ? 'On' : 'Off');
    toggle.addEventListener('change', async () => {
      const want = toggle.checked;
      state.textContent = want ? 'On' : 'Off';
      toggle.disabled = true;
      try {
        const saved = await api('PATCH', P(pid, `/flags/${f.id}`), { active: want, version: f.version });
        Object.assign(f, saved);
        err.hidden = true;
      } catch (e) {
        if (isAbort(e)) return;
        toggle.checked = !want;
        state.textContent = !want ? 'On' : 'Off';
        clear(err, `${f.key}: ${e.message}${e.status === 409 ? ' (reload to see the change)' : ''}`);
        err.hidden = false;
      } finally {
        toggle.disabled = !ctx.canWrite;
      }
    });
    return h('tr', { 'data-testid': 'flag-row', 'data-key': f.key },
      h('th', { scope: 'row' },
        h('a', { href: `#/p/${pid}/flags/${f.id}`, 'data-testid': 'flag-link' }, h('code', null, f.key)),
        f.name ? h('div', { class: 'muted small' }, f.name) : null),
      h('td', { class: 'small' }, rolloutSummary(f)),
      h('td', null, h('label', { class: 'check' }, toggle, state)),
      h('td', { class: 'muted small' }, `v${f.version} · ${fmtTime(f.updated_at)}`));
  }
}
