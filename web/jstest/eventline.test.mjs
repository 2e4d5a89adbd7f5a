// Unit tests of the Live events line formatter (node --test web/jstest/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEvent, parseElementsChain, elementsOf } from '../static/js/eventline.js';

const ev = (event, properties) => ({ event, properties });

test('parseElementsChain reads tags, classes and attributes, quotes escaped', () => {
  const els = parseElementsChain('button.btn.primary:text="Buy \\"now\\""nth-child="1"href="/cart"attr__class="btn primary";div.main.hover:underline:attr_id="x";body');
  assert.deepEqual(els.map((e) => e.tag), ['button', 'div', 'body']);
  assert.deepEqual(els[0].classes, ['btn', 'primary']);
  assert.equal(els[0].text, 'Buy "now"');
  assert.equal(els[0].attrs.href, '/cart');
  assert.equal(els[0].attrs['nth-child'], '1');
  assert.deepEqual(els[1].classes, ['main', 'hover:underline']);
  assert.equal(els[1].attrs.attr_id, 'x');
  assert.deepEqual(parseElementsChain(''), []);
  assert.deepEqual(parseElementsChain(null), []);
  assert.deepEqual(parseElementsChain('a:text="semi;colon"').map((e) => e.text), ['semi;colon']);
});

test('autocaptured clicks read as what was clicked', () => {
  const click = (chain, extra = {}) => describeEvent(ev('$autocapture', { $event_type: 'click', $elements_chain: chain, ...extra }));
  assert.equal(click('button.btn.primary:text="Buy now"nth-child="1"href="/cart"attr__class="btn primary";div.main:nth-child="2"'), "clicked button 'Buy now'");
  assert.equal(click('a:text="Docs"href="/docs";nav'), "clicked link 'Docs'");
  assert.equal(click('a:href="/pricing";nav'), "clicked link '/pricing'");
  // an icon inside a button: the button, named by its label
  assert.equal(click('svg.icon;button:attr__aria-label="Close";div'), "clicked button 'Close'");
  // a span with the text inside a link
  assert.equal(click('span:text="Sign up";a:href="/signup"'), "clicked link 'Sign up'");
  assert.equal(click('input:attr__type="submit"attr__value="Go"'), "clicked button 'Go'");
  assert.equal(click('input:attr__type="email"attr__placeholder="you@example.com"'), "clicked input 'you@example.com'");
  assert.equal(click('div.card;div.main'), 'clicked div');
  assert.equal(click('button:text="' + 'x'.repeat(100) + '"'), `clicked button '${'x'.repeat(59)}…'`);
  assert.equal(click('button:text="  many\n   spaces "'), "clicked button 'many spaces'");
  assert.equal(describeEvent(ev('$autocapture', { $event_type: 'submit', $elements_chain: 'form:attr__name="signup"' })), "submitted form 'signup'");
  assert.equal(describeEvent(ev('$autocapture', { $event_type: 'change', $elements_chain: 'select:attr__name="plan"' })), "changed dropdown 'plan'");
  assert.equal(describeEvent(ev('$autocapture', {})), '');
});

test('older SDKs send $elements arrays', () => {
  const props = { $event_type: 'click', $elements: [{ tag_name: 'button', $el_text: 'Buy now', classes: ['btn'], attr__class: 'btn', nth_child: 1 }, { tag_name: 'div' }] };
  assert.equal(describeEvent(ev('$autocapture', props)), "clicked button 'Buy now'");
  assert.equal(elementsOf({ $elements: [null, 3, { tag_name: 'A', attr__href: '/x' }] })[0].attrs.href, '/x');
  assert.equal(describeEvent(ev('$autocapture', { $elements: 'nope' })), '');
});

test('rage clicks, dead clicks, web vitals, exceptions, pages', () => {
  assert.equal(describeEvent(ev('$rageclick', { $elements_chain: 'button:text="Pay"' })), "rage-clicked button 'Pay'");
  assert.equal(describeEvent(ev('$rageclick', {})), 'rage-clicked');
  assert.equal(describeEvent(ev('$dead_click', { $elements_chain: 'span:text="Total";div' })), "dead click on span 'Total'");
  assert.equal(describeEvent(ev('$web_vitals', { $web_vitals_LCP_value: 2512.3, $web_vitals_CLS_value: 0.01234, $web_vitals_INP_value: 88.6 })), 'LCP 2.51 s · INP 89 ms · CLS 0.012');
  assert.equal(describeEvent(ev('$web_vitals', { $web_vitals_FCP_value: 'junk' })), '');
  assert.equal(describeEvent(ev('$exception', { $exception_list: [{ type: 'TypeError', value: "x is undefined" }] })), 'TypeError: x is undefined');
  assert.equal(describeEvent(ev('$exception', { $exception_type: 'Error', $exception_message: 'boom' })), 'Error: boom');
  assert.equal(describeEvent(ev('$exception', {})), 'Error');
  assert.equal(describeEvent(ev('$pageview', { $pathname: '/pricing', $current_url: 'https://x/pricing' })), 'viewed /pricing');
  assert.equal(describeEvent(ev('$pageleave', { $current_url: 'https://x/a' })), 'left https://x/a');
  assert.equal(describeEvent(ev('signed_up', { plan: 'pro' })), '');
  assert.equal(describeEvent(null), '');
  assert.equal(describeEvent({ event: '$autocapture' }), '');
});
