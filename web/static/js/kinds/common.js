// What several kind modules share: the table model, period names and the
// name of an event place. No DOM here (node --test imports the kinds).

import { actionId } from '../spec.js';

export const PERIOD_NAME = { day: 'Day', week: 'Week', month: 'Month', hour: 'Hour' };
export const INTERVALS3 = [['day', 'Day'], ['week', 'Week'], ['month', 'Month']];

// A table model: columns, rows of raw values (what CSV gets), a format per
// column for the screen ('num', 'pct', 'dur', else text), and in extra:
// testid (the table's), testids (per column), csvColumns, and decorate(tr,
// rowIndex) to add on-screen-only cells (person links).
export function table(title, columns, rows, formats = [], extra = {}) {
  return { title, columns, rows, formats, ...extra };
}

// placeName names an event place in insight names: its event, its action
// ("action #12"), or '?'.
export function placeName(x) {
  return (x && (x.event || (actionId(x) != null ? `action #${actionId(x)}` : ''))) || '?';
}

// list is spec[key] when it is a non-empty list, else what make() gives.
export function ensureList(spec, key, make) {
  if (!Array.isArray(spec[key]) || !spec[key].length) spec[key] = make();
  return spec[key];
}
