// Campaigns (#/p/{pid}/campaigns[?status=…]): the project's triggered
// reminders and broadcasts with what they did (sent, CTR, CVR, lift over
// the holdout, from each one's report), filtered by status, and the way
// to the editor (campaign-editor.js) and to one campaign (campaign.js).

import { h, clear, errorBox, loading, fmtTime, isAbort } from './dom.js';
import { get, P } from './api.js';
import {
  STATUSES, statusText, kindText, channelText, triggerText, waitText, listQuery, canReport, fmtInt, fmtRate, liftText, liftVerdict,
} from './campaignmodel.js';

// statusBadge is the campaign's status as a badge (shared with campaign.js).
export function statusBadge(c) {
  return h('span', { class: `badge ${c.status}`, 'data-testid': 'campaign-status', 'data-status': c.status }, statusText(c.status));
}

// Reports are queries on the event store: a few at a time.
const REPORTS_AT_ONCE = 4;

export default async function campaignsPage(ctx) {
  const { pid, main, scope } = ctx;
  const status = STATUSES.some(([s]) => s === ctx.query.get('status')) ? ctx.query.get('status') : '';
  const listHost = h('div', null, loading('Loading campaigns…'));
  const filter = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Status', 'data-testid': 'campaign-status-filter' },
    [['', 'All'], ...STATUSES].map(([s, label]) => h('button', {
      type: 'button', 'aria-pressed': String(s === status), 'data-status': s, 'data-testid': `campaign-filter-${s || 'all'}`,
      onclick: () => ctx.navigate(`#/p/${pid}/campaigns${listQuery(s)}`),
    }, label)));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Campaigns'),
      h('div', { class: 'head-controls' },
        ctx.canWrite ? h('a', { class: 'btn', href: `#/p/${pid}/campaigns/new?kind=broadcast`, 'data-testid': 'new-broadcast' }, 'New broadcast') : null,
        ctx.canWrite ? h('a', { class: 'btn primary', href: `#/p/${pid}/campaigns/new`, 'data-testid': 'new-campaign' }, 'New campaign') : null)),
    h('p', { class: 'muted' }, 'Reminders sent when a person does an event and has not converted yet, measured against a holdout that gets nothing; broadcasts to a cohort for comparison.'),
    h('div', { class: 'toolbar' }, filter),
    listHost);

  let list;
  try {
    const res = await get(P(pid, `/campaigns${listQuery(status)}`), { signal: scope.signal });
    list = (res && res.campaigns) || [];
  } catch (e) {
    if (!isAbort(e)) clear(listHost, errorBox(e));
    return;
  }
  if (!list.length) {
    clear(listHost, h('section', { class: 'card empty-state', 'data-testid': 'campaigns-empty' },
      h('h2', null, status ? `No ${statusText(status).toLowerCase()} campaigns` : 'No campaigns yet'),
      h('p', null, 'Remind persons who carted an item and did not buy it, at the time they are most likely to come back, and measure the lift against a holdout.'),
      ctx.canWrite && !status ? h('a', { class: 'btn primary', href: `#/p/${pid}/campaigns/new` }, 'Create the first campaign') : null));
    return;
  }
  list.sort((a, b) => b.id - a.id);
  const cells = new Map();
  clear(listHost, h('div', { class: 'table-wrap card' }, h('table', { class: 'data', 'data-testid': 'campaign-list' },
    h('thead', null, h('tr', null,
      ['Campaign', 'Kind', 'Status', 'Channel', 'Sent', 'CTR', 'CVR', 'Lift vs holdout'].map((t, i) => h('th', { scope: 'col', class: i >= 4 ? 'num' : null }, t)))),
    h('tbody', null, list.map((c) => row(c))))));

  function row(c) {
    const num = (key) => h('td', { class: 'num', 'data-testid': `campaign-${key}` }, canReport(c) ? '…' : '–');
    const tds = { sent: num('sent'), ctr: num('ctr'), cvr: num('cvr'), lift: num('lift') };
    cells.set(c.id, tds);
    return h('tr', { 'data-testid': 'campaign-row', 'data-id': String(c.id), 'data-status': c.status },
      h('th', { scope: 'row' },
        h('a', { href: `#/p/${pid}/campaigns/${c.id}`, 'data-testid': 'campaign-link' }, c.name),
        h('div', { class: 'muted small' }, `${triggerText(c)} · ${waitText(c, fmtTime)}`)),
      h('td', null, kindText(c.kind)),
      h('td', null, statusBadge(c), c.status_reason ? h('div', { class: 'muted small' }, c.status_reason.reason) : null),
      h('td', null, channelText(c.channel && c.channel.type)),
      tds.sent, tds.ctr, tds.cvr, tds.lift);
  }

  // Fill in the numbers as the reports come.
  const queue = list.filter(canReport);
  const worker = async () => {
    while (queue.length && !scope.disposed) {
      const c = queue.shift();
      const tds = cells.get(c.id);
      try {
        const rep = await get(P(pid, `/campaigns/${c.id}/report`), { signal: scope.signal });
        tds.sent.textContent = fmtInt(rep.sent);
        tds.sent.dataset.value = String(rep.sent);
        tds.ctr.textContent = fmtRate(rep.ctr);
        tds.cvr.textContent = fmtRate(rep.cvr);
        tds.lift.textContent = liftText(rep.lift);
        tds.lift.className = `num verdict ${liftVerdict(rep.lift)}`;
      } catch (e) {
        if (isAbort(e)) return;
        for (const td of Object.values(tds)) td.textContent = '–';
        tds.sent.title = e.message;
      }
    }
  };
  await Promise.all(Array.from({ length: REPORTS_AT_ONCE }, worker));
}
