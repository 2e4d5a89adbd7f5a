// Invites banner: the projects the logged-in user is invited to, each to
// accept or decline. Project admins invite by email (Settings → Members);
// nobody joins a project without accepting here.

import { h, clear, errorBox, setError, isAbort } from './dom.js';
import { get, post } from './api.js';

// showInvites fills el with the user's pending invites, or empties it.
// onAccepted(invite) runs once the user has joined the invite's project.
export async function showInvites(el, { onAccepted }) {
  let invites;
  try {
    invites = await get('/invites', { allow401: true });
  } catch (err) {
    if (!isAbort(err)) clear(el); // the banner is optional: pages work without it
    return;
  }
  render(el, invites || [], onAccepted);
}

function render(el, invites, onAccepted) {
  if (!invites.length) {
    clear(el);
    el.hidden = true;
    return;
  }
  el.hidden = false;
  const err = errorBox();
  const answer = async (inv, how) => {
    setError(err, null);
    try {
      await post(`/invites/${encodeURIComponent(inv.id)}/${how}`, {});
      render(el, invites.filter((x) => x.id !== inv.id), onAccepted);
      if (how === 'accept') await onAccepted(inv);
    } catch (e) { if (!isAbort(e)) setError(err, e); }
  };
  clear(el, h('section', { class: 'notice invites', role: 'region', 'aria-label': 'Invitations', 'data-testid': 'invites-banner' },
    h('h2', null, invites.length === 1 ? 'You are invited to a project' : `You are invited to ${invites.length} projects`),
    h('ul', { class: 'invite-list' }, invites.map((inv) => h('li', { 'data-testid': 'invite' },
      h('span', null, h('strong', null, inv.project_name || `project ${inv.project_id}`), ` as ${inv.role} `),
      h('button', { type: 'button', class: 'btn small primary', 'data-testid': 'invite-accept', onclick: () => answer(inv, 'accept') }, 'Accept'),
      ' ',
      h('button', { type: 'button', class: 'btn small', 'data-testid': 'invite-decline', onclick: () => answer(inv, 'decline') }, 'Decline')))),
    err));
}
