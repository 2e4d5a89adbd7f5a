// Charts: ECharts is loaded on first use only (1 MB that the login page,
// persons and settings never need), one instance per chart element, and
// every instance is disposed with its page's Scope.

import { h } from './dom.js';

const ECHARTS_URL = new URL('../vendor/echarts-6.1.0.min.js', import.meta.url).href;
let loadingPromise = null;

// loadECharts resolves to the global echarts once its script ran.
export function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!loadingPromise) {
    loadingPromise = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = ECHARTS_URL;
      s.async = true;
      s.onload = () => resolve(window.echarts);
      s.onerror = () => {
        loadingPromise = null;
        reject(new Error('Could not load the chart library (vendor/echarts). Reload the page to try again.'));
      };
      document.head.append(s);
    });
  }
  return loadingPromise;
}

// (typeof window: the option builders below also run under node --test.)
const reducedMotion = typeof window !== 'undefined' && window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

// drawChart renders option into el and resolves once the frame with the
// chart is painted. The instance follows el's size and dies with scope.
export async function drawChart(el, option, scope, { onClick } = {}) {
  const echarts = await loadECharts();
  if (scope.disposed) return null;
  let chart = echarts.getInstanceByDom(el);
  if (!chart) {
    chart = echarts.init(el, null, { renderer: 'canvas' });
    const ro = new ResizeObserver(() => chart.resize());
    ro.observe(el);
    scope.add(() => {
      ro.disconnect();
      chart.dispose();
    });
  }
  chart.off('click');
  if (onClick) chart.on('click', onClick);
  chart.setOption({ animationDuration: 300, ...option, animation: !reducedMotion && option.animation !== false }, true);
  await new Promise((r) => requestAnimationFrame(() => r()));
  return chart;
}

// Shared axis/grid/tooltip defaults. outerBoundsMode 'same' makes ECharts 6
// keep axis labels inside the grid rectangle (containLabel's successor).
function base(legend) {
  return {
    grid: { left: 8, right: 16, top: legend ? 36 : 16, bottom: 8, outerBoundsMode: 'same' },
    tooltip: { trigger: 'axis', confine: true },
    legend: legend ? { type: 'scroll', top: 0 } : { show: false },
  };
}

const pctAxis = { axisLabel: { formatter: (v) => `${Math.round(v * 1000) / 10}%` } };

// funnelOption: one bar per step, the filled part the actors who reached
// the step, the shaded part those who dropped off since step 1.
export function funnelOption(steps) {
  const first = steps.length ? steps[0].count : 0;
  const pct = (c) => (first ? `${((c / first) * 100).toFixed(1)}%` : '0%');
  const names = steps.map((s, i) => `${i + 1}. ${s.label}`);
  // Counts and conversion sit under each bar (bar labels collide with the
  // shaded part and vanish on short bars).
  const labels = steps.map((s, i) => `${names[i]}\n{b|${s.count.toLocaleString()}} · ${pct(s.count)}`);
  return {
    ...base(false),
    tooltip: {
      trigger: 'axis',
      confine: true,
      axisPointer: { type: 'shadow' },
      formatter: (ps) => {
        const i = ps[0].dataIndex;
        const s = steps[i];
        return `${esc(names[i])}<br>Reached: <b>${s.count.toLocaleString()}</b> (${pct(s.count)} of step 1)<br>Dropped off since step 1: ${(first - s.count).toLocaleString()}<br><i>Click for the persons</i>`;
      },
    },
    xAxis: { type: 'category', data: labels, axisLabel: { interval: 0, overflow: 'truncate', width: 130, lineHeight: 16, rich: { b: { fontWeight: 'bold' } } } },
    yAxis: { type: 'value' },
    series: [
      {
        name: 'Reached',
        type: 'bar',
        stack: 'funnel',
        data: steps.map((s) => s.count),
        cursor: 'pointer',
        barMaxWidth: 120,
      },
      {
        name: 'Dropped off',
        type: 'bar',
        stack: 'funnel',
        data: steps.map((s) => first - s.count),
        cursor: 'pointer',
        itemStyle: { color: 'rgba(120,130,150,0.2)', borderColor: 'rgba(120,130,150,0.45)', borderType: 'dashed', borderWidth: 1 },
        emphasis: { itemStyle: { color: 'rgba(120,130,150,0.3)' } },
        barMaxWidth: 120,
      },
    ],
  };
}

// groupedFunnelOption: breakdown funnels side by side (counts per step).
export function groupedFunnelOption(stepLabels, groups) {
  return {
    ...base(true),
    tooltip: { trigger: 'axis', confine: true, axisPointer: { type: 'shadow' } },
    xAxis: { type: 'category', data: stepLabels.map((l, i) => `${i + 1}. ${l}`), axisLabel: { interval: 0, overflow: 'truncate', width: 110 } },
    yAxis: { type: 'value' },
    series: groups.map((g) => ({ name: g.name, type: 'bar', data: g.counts, barMaxWidth: 40 })),
  };
}

// seriesOption draws series over categories as line, area or bar.
// opts.percent formats values as percentages of 1; opts.stack stacks them.
export function seriesOption(categories, series, type = 'line', opts = {}) {
  const legend = series.length > 1;
  const o = {
    ...base(legend),
    xAxis: { type: 'category', data: categories, boundaryGap: type === 'bar' },
    yAxis: { type: 'value', ...(opts.percent ? pctAxis : {}) },
    series: series.map((s) => ({
      name: s.name,
      type: type === 'bar' ? 'bar' : 'line',
      data: s.data,
      stack: opts.stack ? 'all' : undefined,
      areaStyle: type === 'area' ? { opacity: opts.stack ? 0.7 : 0.25 } : undefined,
      smooth: false,
      showSymbol: categories.length <= 40,
      lineStyle: s.dashed ? { type: 'dashed' } : undefined,
      itemStyle: s.color ? { color: s.color } : undefined,
      barMaxWidth: 40,
    })),
  };
  if (opts.percent) {
    o.tooltip.valueFormatter = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`);
  }
  if (opts.xName) o.xAxis.name = opts.xName;
  return o;
}

// esc makes captured text (event names, property values: anyone with the
// public project token can send them) safe inside tooltip HTML.
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// sankeyOption draws path edges; node names are "<step>_<event>" and are
// shown without the step prefix.
export function sankeyOption(edges) {
  const names = new Set();
  for (const e of edges) { names.add(e.source); names.add(e.target); }
  const strip = (n) => n.replace(/^\d+_/, '');
  return {
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p) => (p.dataType === 'edge'
        ? `${esc(strip(p.data.source))} → ${esc(strip(p.data.target))}: <b>${p.data.value.toLocaleString()}</b>`
        : `${esc(strip(p.name))} (step ${esc(p.name.split('_')[0])})`),
    },
    series: [{
      type: 'sankey',
      left: 8,
      right: 90,
      top: 8,
      bottom: 8,
      nodeGap: 10,
      emphasis: { focus: 'adjacency' },
      data: [...names].map((name) => ({ name })),
      links: edges.map((e) => ({ source: e.source, target: e.target, value: e.value })),
      label: { formatter: (p) => strip(p.name), overflow: 'truncate', width: 120 },
      lineStyle: { color: 'gradient', curveness: 0.5, opacity: 0.35 },
    }],
  };
}

// sparkline is a tiny inline SVG line: cheaper than an ECharts instance
// for the home tiles, and it needs no library load.
export function sparkline(values, { width = 120, height = 32, label = 'trend' } = {}) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('preserveAspectRatio', 'none'); // stretch to the tile's width
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const vals = values.map((v) => (Number.isFinite(v) ? v : 0));
  if (vals.length === 0) return svg;
  const max = Math.max(...vals);
  const min = Math.min(0, ...vals);
  const span = max - min || 1;
  const step = vals.length > 1 ? width / (vals.length - 1) : 0;
  const pts = vals.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`);
  if (vals.length === 1) pts.push(`${width},${pts[0].split(',')[1]}`);
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('points', `0,${height} ${pts.join(' ')} ${width},${height}`);
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('class', 'spark-line');
  svg.append(area, line);
  return svg;
}

// chartBox is the element a chart is drawn into.
export function chartBox(cls = '') {
  return h('div', { class: `chart ${cls}`, 'data-testid': 'chart', role: 'img', 'aria-label': 'Chart' });
}
