// Dashboard tiles, shared by the dashboard page and the read-only shared
// page: a 2-column grid, each tile one insight run in parallel with the
// others, one chart instance per tile.

import { h, clear, errorBox, loading, Scope, isAbort } from './dom.js';
import { renderResult } from './render.js';
import { kindLabel } from './kinds/index.js';
import { rangeText } from './spec.js';

// makeTile builds a tile element. run() (re)runs it and resolves once it
// is drawn (or failed); the tile's own Scope holds its chart and request.
export function makeTile(tile, insight, opts) {
  const { pageScope, runner, href, controls } = opts;
  let chartScope = null; // the chart on screen
  let runCtrl = null; // the request in flight
  pageScope.add(() => {
    if (runCtrl) runCtrl.abort();
    if (chartScope) chartScope.dispose();
  });
  const body = h('div', { class: 'tile-body' });
  const meta = h('small', { class: 'muted tile-meta' });
  const title = insight
    ? (href ? h('a', { href }, insight.name) : insight.name)
    : 'Deleted insight';
  const el = h('article', {
    class: `dash-tile card w${tile.width === 2 ? 2 : 1}`,
    'data-testid': 'dashboard-tile',
    'data-insight-id': tile.insight_id,
    'data-state': 'loading',
  },
  h('header', { class: 'tile-head' }, h('h2', null, title), meta, controls ? controls : null),
  body);

  // run keeps the current chart on screen until the new result is in
  // (auto-refresh does not blank the dashboard).
  async function run() {
    if (!insight) {
      el.dataset.state = 'error';
      clear(body, h('p', { class: 'muted' }, 'This insight no longer exists. Remove the tile in “Arrange”.'));
      return;
    }
    if (runCtrl) runCtrl.abort();
    const ctrl = new AbortController();
    runCtrl = ctrl;
    el.dataset.state = 'loading';
    el.setAttribute('aria-busy', 'true');
    if (!chartScope) clear(body, loading('Running…'));
    try {
      const { spec, res } = await runner(insight, ctrl.signal);
      if (ctrl.signal.aborted || pageScope.disposed) return;
      meta.textContent = `${kindLabel(spec.kind)} · ${rangeText(spec)}`;
      if (chartScope) chartScope.dispose();
      chartScope = new Scope();
      await renderResult(body, spec, res, { scope: chartScope, view: 'chart', compact: true, filename: `${insight.name.replace(/[^\w.-]+/g, '_').slice(0, 60)}.csv` });
      if (runCtrl === ctrl) el.dataset.state = 'done';
    } catch (err) {
      if (isAbort(err) || ctrl.signal.aborted) return;
      el.dataset.state = 'error';
      if (chartScope) chartScope.dispose();
      chartScope = null;
      clear(body, errorBox(err));
    } finally {
      if (runCtrl === ctrl) el.removeAttribute('aria-busy');
    }
  }

  return { el, run, tile, insight };
}

// runAll runs every tile at once and resolves when the last one is drawn.
export function runAll(tiles) {
  return Promise.allSettled(tiles.map((t) => t.run()));
}
