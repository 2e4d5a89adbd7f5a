// Live events: Server-Sent Events from /ui/api/projects/{pid}/live, newest
// on top, the latest 200 kept, pause and filter by event name. Events the
// SDKs capture on their own get a readable line ("clicked button 'Buy
// now'", eventline.js).

import { h, clear, field, fmtTime } from './dom.js';
import { P } from './api.js';
import { sendFirstEvent } from './snippets.js';
import { describeEvent } from './eventline.js';

const MAX = 200;

export default async function livePage(ctx) {
  const { pid, main, scope, project } = ctx;
  const events = []; // newest first
  let paused = false;
  let pending = 0;

  const status = h('span', { class: 'live-status', 'data-testid': 'live-status', role: 'status' }, 'Connecting…');
  const filterIn = h('input', { type: 'search', 'data-testid': 'live-filter', placeholder: 'event name', autocomplete: 'off' });
  const pauseBtn = h('button', { type: 'button', class: 'btn', 'aria-pressed': 'false', 'data-testid': 'live-pause' }, 'Pause');
  const list = h('ol', { class: 'live-list', 'data-testid': 'live-list', 'aria-live': 'off' });
  const empty = h('section', { class: 'card empty-state', 'data-testid': 'live-empty' },
    h('h2', null, 'Waiting for events… send one with:'),
    sendFirstEvent(project, scope));

  const matches = (e) => {
    const f = filterIn.value.trim().toLowerCase();
    return !f || (e.event || '').toLowerCase().includes(f);
  };
  const item = (e) => {
    const line = describeEvent(e);
    const li = h('li', { 'data-testid': 'live-event', 'data-event': e.event },
      h('time', { datetime: e.timestamp }, fmtTime(e.timestamp)),
      h('details', null,
        h('summary', null, h('strong', null, e.event),
          line ? h('span', { 'data-testid': 'live-line' }, ` ${line}`) : null,
          h('span', { class: 'muted small' }, ` · ${e.distinct_id}`)),
        h('pre', { class: 'props' }, JSON.stringify(e.properties || {}, null, 2))));
    li.hidden = !matches(e);
    return li;
  };
  const renderAll = () => {
    clear(list, events.map(item));
    empty.hidden = events.length > 0;
  };

  let connected = false;
  const updateStatus = () => {
    status.textContent = paused
      ? `Paused${pending ? ` · ${pending} new event${pending === 1 ? '' : 's'} waiting` : ''}`
      : connected ? 'Live: new events appear at the top' : 'Reconnecting…';
    status.classList.toggle('on', connected && !paused);
  };

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    pauseBtn.setAttribute('aria-pressed', String(paused));
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      pending = 0;
      renderAll();
    }
    updateStatus();
  });
  filterIn.addEventListener('input', () => {
    for (let i = 0; i < list.children.length; i++) list.children[i].hidden = !matches(events[i]);
  });

  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Live events'), status),
    h('div', { class: 'toolbar' }, field('Filter by event name', filterIn), pauseBtn),
    empty, list);

  // EventSource reconnects on its own after network errors.
  const es = new EventSource(`/ui/api${P(pid, '/live')}`);
  scope.add(() => es.close());
  es.onopen = () => { connected = true; updateStatus(); };
  es.onerror = () => { connected = false; updateStatus(); };
  es.onmessage = (msg) => {
    let e;
    try { e = JSON.parse(msg.data); } catch { return; }
    events.unshift(e);
    if (events.length > MAX) events.length = MAX;
    if (paused) {
      pending = Math.min(pending + 1, MAX);
      updateStatus();
      return;
    }
    list.prepend(item(e));
    while (list.children.length > MAX) list.lastChild.remove();
    empty.hidden = true;
  };
}
