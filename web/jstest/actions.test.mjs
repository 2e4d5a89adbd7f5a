// Unit tests of the Actions page's and the pickers' pure functions (node
// --test web/jstest/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cssEscape, selectorOf, stepFromClick, cleanStep, stepSummary, targetIndex } from '../static/js/actions.js';
import { parseElementsChain } from '../static/js/eventline.js';
import { actionId, actionPick, pickText, applyPick } from '../static/js/spec.js';
import { autoName } from '../static/js/kinds/index.js';

const buy = 'button.btn.buy:attr__class="btn buy"attr__id="buy"attr_id="buy"nth-child="2"nth-of-type="1"text="Buy now";div.card:attr__class="card"nth-child="1"nth-of-type="1"';
const icon = 'svg:nth-child="1"nth-of-type="1";a:attr__href="/cart"href="/cart"nth-child="1"nth-of-type="1"text="Cart";nav.top:nth-child="1"nth-of-type="1"';
const bare = 'span:nth-child="1"nth-of-type="1"text="Pricing; \\"pro\\"";button:nth-child="1"nth-of-type="1";div.w-1/2.hover:bg:nth-child="1"nth-of-type="1"';

test('cssEscape writes what the selector parser reads back', () => {
  assert.equal(cssEscape('w-1/2'), 'w-1\\/2');
  assert.equal(cssEscape('hover:bg-blue'), 'hover\\:bg-blue');
  assert.equal(cssEscape('plain_name-1'), 'plain_name-1');
  assert.equal(cssEscape('a b'), 'a\\ b');
});

test('selectorOf picks the meant element: id, else classes, else under its parent', () => {
  assert.equal(selectorOf(parseElementsChain(buy)), 'button#buy');
  assert.equal(selectorOf(parseElementsChain(icon)), 'nav.top > a');
  assert.equal(selectorOf(parseElementsChain(bare)), 'div.w-1\\/2.hover\\:bg > button');
  assert.equal(selectorOf([]), '');
  assert.equal(targetIndex(parseElementsChain(icon)), 1);
});

test('stepFromClick prefills text, selector and page', () => {
  assert.deepEqual(stepFromClick({ $elements_chain: buy, $current_url: 'https://shop/p/1' }),
    { event: '$autocapture', text: 'Buy now', selector: 'button#buy', url: 'https://shop/p/1' });
  // The text of the span inside the button, quotes and semicolon kept.
  assert.deepEqual(stepFromClick({ $elements_chain: bare }), { event: '$autocapture', text: 'Pricing; "pro"', selector: 'div.w-1\\/2.hover\\:bg > button' });
  // Older SDKs' $elements array.
  assert.deepEqual(stepFromClick({ $elements: [{ tag_name: 'a', $el_text: 'Home', attr__href: '/' }] }), { event: '$autocapture', text: 'Home', selector: 'a' });
  assert.deepEqual(stepFromClick({}), { event: '$autocapture' });
});

test('cleanStep drops empty conditions and their matching', () => {
  assert.deepEqual(cleanStep({ event: ' $autocapture ', text: ' Buy ', text_matching: 'contains', href: '', href_matching: 'regex', url: '', selector: '  ' }),
    { event: '$autocapture', text: 'Buy', text_matching: 'contains' });
  assert.deepEqual(cleanStep({ event: 'x', filters: [] }), { event: 'x' });
});

test('stepSummary reads as a sentence', () => {
  assert.equal(stepSummary({ event: '$autocapture', text: 'Buy', selector: 'button.buy', url: '/p', url_matching: 'regex' }),
    "Autocaptured click where text equals 'Buy' and element matches button.buy and URL matches regex '/p'");
  assert.equal(stepSummary({ event: 'signed_up' }), 'signed_up');
});

test('pickers offer actions where an event goes', () => {
  const actions = [{ id: 12, name: 'Clicked buy' }];
  assert.equal(actionPick(actions[0]), 'action #12 · Clicked buy');
  assert.equal(pickText({ action: 12 }, actions), 'action #12 · Clicked buy');
  assert.equal(pickText({ action_id: 7 }, actions), 'action #7');
  assert.equal(pickText({ event: '$pageview' }, actions), '$pageview');
  assert.equal(actionId({ action: { id: 3, steps: [] } }), 3);
  assert.equal(actionId({ event: 'x' }), null);
  const step = { event: 'x', filters: [] };
  assert.deepEqual(applyPick(step, 'action #12 · Clicked buy'), { filters: [], action: 12 });
  assert.deepEqual(applyPick(step, 'purchase'), { filters: [], event: 'purchase' });
  assert.deepEqual(applyPick({ action_id: 4 }, 'action #'), { event: 'action #' }); // no id: an event name
  assert.equal(autoName({ kind: 'funnel', steps: [{ action: 12 }, { event: 'purchase' }] }), 'Funnel: action #12 → purchase');
  assert.equal(autoName({ kind: 'lifecycle', action: 5 }), 'Lifecycle: action #5');
});
