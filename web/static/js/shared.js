// The read-only shared dashboard at /share/<token>: no login, no CSRF; the
// token in the path is the only credential (web/API.md "Shared dashboards").

import { h, clear, select, errorBox, loading, isAbort } from './dom.js';
import { get, post, qs } from './api.js';
import { loadECharts } from './charts.js';
import { makeTile, runAll } from './tiles.js';
import { DASH_RANGES } from './dashboards.js';
import { presetRange, specOf } from './spec.js';

export default async function sharedPage(ctx) {
  const { main, scope, token } = ctx;
  const base = `/shared/${encodeURIComponent(token)}`;
  loadECharts().catch(() => {});
  clear(main, loading('Loading the shared dashboard…'));
  let dash;
  try {
    dash = await get(base, { signal: scope.signal, allow401: true });
  } catch (err) {
    if (isAbort(err)) return;
    if (err.status === 404) {
      clear(main, h('section', { class: 'card empty-state', 'data-testid': 'share-revoked', role: 'alert' },
        h('h1', null, 'This link no longer works'),
        h('p', null, 'The shared dashboard was unshared (its link was revoked) or never existed. Ask the person who sent it for a new link.')));
    } else {
      clear(main, errorBox(err));
    }
    return;
  }
  document.title = `${dash.name} · Journey`;
  const insights = new Map((dash.insights || []).map((i) => [String(i.id), i]));
  let range = dash.range || '';
  // range "" keeps each insight's own dates; the server applies a range.
  const runner = async (insight, signal) => {
    const res = await post(`${base}/insights/${encodeURIComponent(insight.id)}/run${qs({ range }) || '?range='}`, {},
      { signal: AbortSignal.any([signal, scope.signal]), csrf: false, allow401: true });
    // Show the dates the tile covers: the insight's own, or the range's.
    const spec = range ? { ...specOf(insight), ...presetRange(range) } : specOf(insight);
    return { spec, res };
  };
  const tiles = (dash.tiles || []).map((tile) => makeTile(tile, insights.get(String(tile.insight_id)), { pageScope: scope, runner }));
  const rangeSel = select(DASH_RANGES, range, { id: 'share-range', 'data-testid': 'dash-range' });
  rangeSel.addEventListener('change', () => { range = rangeSel.value; runAll(tiles); });

  clear(main,
    h('div', { class: 'page-head' }, h('h1', { 'data-testid': 'dashboard-name' }, dash.name),
      h('div', { class: 'head-controls' },
        h('div', { class: 'field inline-field' }, h('label', { for: 'share-range' }, 'Range'), rangeSel))),
    h('p', { class: 'muted small' }, 'Read-only shared dashboard.'),
    h('div', { class: 'dash-grid', 'data-testid': 'dashboard-grid' }, tiles.length ? tiles.map((t) => t.el) : h('p', { class: 'muted' }, 'This dashboard is empty.')));

  const refresh = Number(dash.refresh_seconds || 0);
  if (refresh > 0) scope.interval(() => { if (!document.hidden) runAll(tiles); }, refresh * 1000);
  await runAll(tiles);
  ctx.reportRender();
}
