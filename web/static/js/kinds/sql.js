// SQL insights (a query over the project's events, from the API): no
// form in the builder, which runs them as saved; the answer is a table.

import { h } from '../dom.js';
import { table } from './common.js';

export default {
  kind: 'sql',
  label: 'SQL',
  builder: false,
  defaults: () => ({}),
  normalize: (spec) => spec,
  form: (fx, spec) => h('p', { class: 'muted' }, `The builder has no form for “${spec.kind}”; it runs as saved.`),
  name: () => 'sql',
  tables: (spec, res) => [table(res.truncated ? 'First rows (truncated)' : null, res.columns || [], res.rows || [], [])],
  chart: () => null,
};
