// Paths: the most common sequences of events after a start event, before
// an end event, or from each person's first event (a Sankey chart).

import { h, field } from '../dom.js';
import { sankeyOption } from '../charts.js';
import { table, placeName } from './common.js';

const DIRECTIONS = [['start', 'Paths after an event'], ['end', 'Paths leading to an event'], ['first', 'From each person’s first event']];

const strip = (n) => n.replace(/^\d+_/, '');

function form(fx, spec) {
  const dir = spec.start ? 'start' : spec.end ? 'end' : 'first';
  const point = spec.start || spec.end || { event: '' };
  return h('fieldset', null, h('legend', null, 'Paths'),
    field('Direction', fx.selectInput('start end', DIRECTIONS, dir, (v) => {
      const ev = (spec.start || spec.end || {}).event || fx.known[0] || '$pageview';
      delete spec.start;
      delete spec.end;
      if (v === 'start') spec.start = { event: ev };
      if (v === 'end') spec.end = { event: ev };
      fx.rerender('paths-direction');
    }, { 'data-testid': 'paths-direction' })),
    dir === 'first' ? null : field(dir === 'start' ? 'Start event' : 'End event',
      fx.plainEventInput(`${dir}.event`, point.event, (v) => { point.event = v; }, { 'data-testid': 'paths-event' })),
    field('Steps', fx.numInput('steps', spec.steps ?? 5, (v) => { spec.steps = v; }, { min: 2, max: 10, 'data-testid': 'paths-steps' })),
    field('Only these events (comma separated, optional)', fx.textInput('events', (spec.events || []).join(', '), (v) => {
      const list = v.split(',').map((x) => x.trim()).filter(Boolean);
      if (list.length) spec.events = list; else delete spec.events;
    }, { 'data-testid': 'paths-events' })));
}

export default {
  kind: 'paths',
  label: 'Paths',
  builder: true,
  defaults: ({ events: [e0] }) => ({ start: { event: e0 }, steps: 5 }),
  normalize: (spec) => spec,
  form,
  name: (spec) => (spec.end ? `Paths to ${placeName(spec.end)}` : spec.start ? `Paths from ${placeName(spec.start)}` : 'Paths'),
  tables: (spec, res) => [
    table('Most common paths', ['Path', 'Persons'], (res.paths || []).map((p) => [p.path.join(' → '), p.count]), ['text', 'num']),
    table('Transitions', ['Step', 'From', 'To', 'Persons'],
      (res.edges || []).map((e) => [Number(e.source.split('_')[0]), strip(e.source), strip(e.target), e.value]),
      ['num', 'text', 'text', 'num'], { testid: 'edges-table' }),
  ],
  chart(spec, res) {
    if (!res.edges || res.edges.length === 0) return { html: h('p', { class: 'muted empty' }, 'No paths in this range.') };
    return { option: sankeyOption(res.edges) };
  },
};
