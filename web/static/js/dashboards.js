// Dashboards: the list (#/p/{pid}/dashboards) and one dashboard
// (#/p/{pid}/dashboards/{id}) with range override, auto-refresh, arranging,
// and read-only share links.

import { h, clear, field, select, errorBox, setError, loading, copyButton, isAbort } from './dom.js';
import { get, post, put, del, P } from './api.js';
import { loadECharts } from './charts.js';
import { withRange, specOf } from './spec.js';
import { makeTile, runAll } from './tiles.js';

export const DASH_RANGES = [['', 'Each insight’s own dates'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['90d', 'Last 90 days'], ['180d', 'Last 180 days']];
export const REFRESH = [['0', 'Off'], ['60', 'Every minute'], ['300', 'Every 5 minutes']];

export async function dashboardsPage(ctx) {
  const { pid, main, scope } = ctx;
  const listHost = h('div', null, loading('Loading dashboards…'));
  const nameIn = h('input', { type: 'text', required: true, 'data-testid': 'new-dashboard-name', placeholder: 'e.g. Weekly review' });
  const err = errorBox();
  const form = ctx.canWrite ? h('form', { class: 'card inline-form', 'data-testid': 'new-dashboard-form' },
    h('h2', null, 'New dashboard'),
    h('div', { class: 'inline' }, field('Name', nameIn),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'create-dashboard' }, 'Create'))),
    err) : null;
  if (form) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setError(err, null);
      if (!nameIn.value.trim()) { setError(err, 'Give the dashboard a name.'); nameIn.focus(); return; }
      try {
        const d = await post(P(pid, '/dashboards'), { name: nameIn.value.trim(), range: '', refresh_seconds: 0, tiles: [] });
        ctx.navigate(`#/p/${pid}/dashboards/${d.id}`);
      } catch (e2) {
        if (!isAbort(e2)) setError(err, e2);
      }
    });
  }
  clear(main, h('div', { class: 'page-head' }, h('h1', null, 'Dashboards')), listHost, form);
  try {
    const list = await get(P(pid, '/dashboards'), { signal: scope.signal }) || [];
    if (!list.length) {
      clear(listHost, h('p', { class: 'muted empty' }, 'No dashboards yet. Create one here, or save an insight and choose “Add to dashboard”.'));
      return;
    }
    clear(listHost, h('ul', { class: 'dash-list', 'data-testid': 'dashboard-list' }, list.map((d) => h('li', { class: 'card' },
      h('a', { href: `#/p/${pid}/dashboards/${d.id}`, 'data-testid': 'dashboard-link' }, d.name),
      h('span', { class: 'muted small' }, ` ${(d.tiles || []).length} tile${(d.tiles || []).length === 1 ? '' : 's'}`,
        d.range ? ` · ${DASH_RANGES.find(([v]) => v === d.range)?.[1] || d.range}` : '',
        d.shared ? ' · shared' : '')))));
  } catch (e) {
    if (!isAbort(e)) clear(listHost, errorBox(e));
  }
}

export async function dashboardPage(ctx) {
  const { pid, main, scope } = ctx;
  const id = ctx.params[1];
  // The chart library loads while the dashboard is fetched, not after.
  loadECharts().catch(() => {});
  clear(main, h('h1', null, 'Dashboard'), loading('Loading the dashboard…'));
  let dash;
  try {
    dash = await get(P(pid, `/dashboards/${encodeURIComponent(id)}`), { signal: scope.signal });
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Dashboard'), errorBox(err.status === 404 ? 'This dashboard does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/dashboards` }, 'All dashboards')));
    return;
  }
  dash.tiles = dash.tiles || [];
  const insights = new Map((dash.insights || []).map((i) => [String(i.id), i]));
  let arranging = false;
  let refreshTimer = null;
  const headError = errorBox();
  headError.setAttribute('data-testid', 'dashboard-error');

  // save PUTs the arrangement; on error the message shows under the head.
  // Saves run one after the other (each sends the state of its turn, so
  // quick clicks cannot land out of order), and they are not tied to the
  // page's signal: leaving right after a change must not cancel its save.
  let saving = Promise.resolve();
  const save = () => {
    saving = saving.then(async () => {
      setError(headError, null);
      try {
        await put(P(pid, `/dashboards/${dash.id}`), {
          name: dash.name,
          range: dash.range || '',
          refresh_seconds: dash.refresh_seconds || 0,
          tiles: dash.tiles.map((t) => ({ insight_id: t.insight_id, width: t.width === 2 ? 2 : 1 })),
        });
      } catch (err) {
        setError(headError, err);
      }
    });
    return saving;
  };

  const runner = async (insight, signal) => {
    const spec = withRange(specOf(insight), dash.range);
    const res = await post(P(pid, '/query'), spec, { signal: AbortSignal.any([signal, scope.signal]) });
    return { spec, res };
  };

  const grid = h('div', { class: 'dash-grid', 'data-testid': 'dashboard-grid' });
  let tiles = [];

  const indexOf = (ref) => tiles.indexOf(ref.made);
  const move = (ref, delta) => {
    const i = indexOf(ref);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= tiles.length) return;
    [tiles[i], tiles[j]] = [tiles[j], tiles[i]];
    [dash.tiles[i], dash.tiles[j]] = [dash.tiles[j], dash.tiles[i]];
    // Move the existing elements: the charts stay, no query re-runs.
    grid.replaceChildren(...tiles.map((t) => t.el));
    const btn = ref.made.el.querySelector(delta < 0 ? '[data-testid="tile-left"]' : '[data-testid="tile-right"]');
    if (btn) btn.focus();
    save();
  };
  const toggleWidth = (ref) => {
    const t = ref.made.tile;
    t.width = t.width === 2 ? 1 : 2;
    ref.made.el.classList.toggle('w2', t.width === 2);
    ref.made.el.classList.toggle('w1', t.width !== 2);
    save();
  };
  const remove = (ref) => {
    const i = indexOf(ref);
    if (i < 0) return;
    tiles.splice(i, 1);
    dash.tiles.splice(i, 1);
    ref.made.el.remove();
    save();
  };

  const tileControls = (t) => h('div', { class: 'tile-controls', hidden: !arranging },
    h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Move left', title: 'Move left', 'data-testid': 'tile-left', onclick: () => move(t, -1) }, '←'),
    h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Move right', title: 'Move right', 'data-testid': 'tile-right', onclick: () => move(t, 1) }, '→'),
    h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Toggle width', title: 'Toggle width', 'data-testid': 'tile-width', onclick: () => toggleWidth(t) }, '⇔'),
    h('button', { type: 'button', class: 'icon-btn danger', 'aria-label': 'Remove tile', title: 'Remove tile', 'data-testid': 'tile-remove', onclick: () => remove(t) }, '✕'));

  const buildTiles = () => {
    tiles = dash.tiles.map((tile) => {
      const insight = insights.get(String(tile.insight_id));
      const ref = { tile };
      const made = makeTile(tile, insight, {
        pageScope: scope,
        runner,
        href: insight ? `#/p/${pid}/insight/${insight.id}` : null,
        controls: ctx.canWrite ? tileControls(ref) : null,
      });
      ref.made = made;
      return made;
    });
    clear(grid, tiles.length ? tiles.map((t) => t.el)
      : h('p', { class: 'muted empty' }, 'This dashboard has no tiles yet. Open an insight and choose “Add to dashboard”.'));
  };

  const rangeSel = select(DASH_RANGES, dash.range || '', { 'data-testid': 'dash-range', id: 'dash-range' });
  rangeSel.addEventListener('change', () => {
    dash.range = rangeSel.value;
    if (ctx.canWrite) save();
    runAll(tiles);
  });
  const refreshSel = select(REFRESH, String(dash.refresh_seconds || 0), { 'data-testid': 'dash-refresh', id: 'dash-refresh' });
  const startRefresh = () => {
    if (refreshTimer) clearInterval(refreshTimer);
    refreshTimer = null;
    const s = Number(dash.refresh_seconds || 0);
    if (s > 0) refreshTimer = scope.interval(() => { if (!document.hidden) runAll(tiles); }, s * 1000);
  };
  refreshSel.addEventListener('change', () => {
    dash.refresh_seconds = Number(refreshSel.value);
    startRefresh();
    if (ctx.canWrite) save();
  });

  const shareBox = h('div', { class: 'share-box', 'data-testid': 'share-box' });
  const shareErr = errorBox();
  const renderShare = () => {
    if (!ctx.canWrite && !dash.share_token && !dash.shared) { clear(shareBox); return; }
    if (dash.share_token) {
      const url = `${location.origin}/share/${dash.share_token}`;
      const input = h('input', { type: 'text', readonly: true, value: url, 'data-testid': 'share-url', 'aria-label': 'Share link', onfocus: (e) => e.target.select() });
      clear(shareBox, h('span', { class: 'muted small' }, 'Read-only link: '), input, copyButton(() => url, 'Copy', { 'data-testid': 'share-copy' }),
        ctx.canWrite ? h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'share-revoke', onclick: revoke }, 'Revoke') : null, shareErr);
    } else if (dash.shared) {
      // Only the link's hash is stored: the link itself was shown once, when made.
      clear(shareBox, h('span', { class: 'muted small', 'data-testid': 'share-exists' }, 'Shared by a read-only link (shown only when made). '),
        ctx.canWrite ? h('button', { type: 'button', class: 'btn small', 'data-testid': 'share-create', onclick: share }, 'New link') : null,
        ctx.canWrite ? h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'share-revoke', onclick: revoke }, 'Revoke') : null, shareErr);
    } else {
      clear(shareBox, h('button', { type: 'button', class: 'btn', 'data-testid': 'share-create', onclick: share }, 'Share'), shareErr);
    }
  };
  async function share() {
    setError(shareErr, null);
    try {
      const r = await post(P(pid, `/dashboards/${dash.id}/share`), {});
      dash.share_token = r.share_token;
      dash.shared = true;
      renderShare();
      shareBox.querySelector('[data-testid="share-url"]').focus();
    } catch (err) {
      if (!isAbort(err)) setError(shareErr, err);
    }
  }
  async function revoke() {
    setError(shareErr, null);
    try {
      await del(P(pid, `/dashboards/${dash.id}/share`));
      dash.share_token = '';
      dash.shared = false;
      renderShare();
      shareBox.querySelector('[data-testid="share-create"]')?.focus();
    } catch (err) {
      if (!isAbort(err)) setError(shareErr, err);
    }
  }
  renderShare();

  const arrangeBtn = ctx.canWrite ? h('button', { type: 'button', class: 'btn', 'aria-pressed': 'false', 'data-testid': 'dash-arrange', onclick: () => {
    arranging = !arranging;
    arrangeBtn.setAttribute('aria-pressed', String(arranging));
    arrangeBtn.textContent = arranging ? 'Done arranging' : 'Arrange';
    for (const c of grid.querySelectorAll('.tile-controls')) c.hidden = !arranging;
  } }, 'Arrange') : null;
  const deleteBtn = ctx.canWrite ? h('button', { type: 'button', class: 'btn danger', 'data-testid': 'dash-delete', onclick: async () => {
    if (!window.confirm(`Delete the dashboard “${dash.name}”? Its insights stay saved.`)) return;
    try {
      await del(P(pid, `/dashboards/${dash.id}`));
      ctx.navigate(`#/p/${pid}/dashboards`);
    } catch (err) {
      if (!isAbort(err)) setError(headError, err);
    }
  } }, 'Delete') : null;

  clear(main,
    h('div', { class: 'page-head' }, h('h1', { 'data-testid': 'dashboard-name' }, dash.name),
      h('div', { class: 'head-controls' },
        h('div', { class: 'field inline-field' }, h('label', { for: 'dash-range' }, 'Range'), rangeSel),
        h('div', { class: 'field inline-field' }, h('label', { for: 'dash-refresh' }, 'Refresh'), refreshSel),
        arrangeBtn, deleteBtn)),
    shareBox, headError, grid);

  buildTiles();
  startRefresh();
  await runAll(tiles);
  ctx.reportRender();
}
