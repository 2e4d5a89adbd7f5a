// Journey's feedback widget (/widget/feedback.js) in Chromium, on pages of
// another origin (e2e/widget_feedback_test.go starts Journey and checks
// what the pages sent against its store):
//
//   JOURNEY_URL=http://127.0.0.1:8080 TOKEN=jpt_… REPORT=out.json node test/ui/widget.mjs
//
// Three pages, each with the one script tag:
//  - /plain: no analytics. The feedback is sent with the widget's
//    anonymous id; then the site logs in (JourneyFeedback.identify and an
//    event of its own, as the user, through /e/) and the widget links the
//    anonymous id with one $identify.
//  - /posthog: posthog-js (the pinned copy in node_modules, served by this
//    page's server) with Journey as api_host. The feedback carries
//    posthog.get_distinct_id(); then posthog.identify and an event.
//  - /late: the feedback is sent before posthog-js is on the page; it loads
//    later and identifies; the widget sees it and links.
// Every submission is keyboard-only: Tab to the launcher, Enter, typing,
// Tab to Send, Enter. The first page also checks the focus trap (Tab and
// Shift+Tab cycle inside the form), Esc (closes, focus back on the
// launcher), an empty message's alert and the labels and ARIA state, and
// that the page's own styles do not reach the widget (Shadow DOM).
// REPORT gets {cases:[{page, id, distinct_id, user}], problems}: a failed
// or >= 400 Journey request, a page error or a console error is a problem.

import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TOKEN = process.env.TOKEN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const REPORT = process.env.REPORT;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const here = path.dirname(fileURLToPath(import.meta.url));
const POSTHOG_JS = fs.readFileSync(path.join(here, 'node_modules/posthog-js/dist/array.js'));

if (!TOKEN) {
  console.error('widget: set TOKEN (a project token)');
  process.exit(2);
}

const widgetTag = `<script src="${BASE}/widget/feedback.js" data-token="${TOKEN}" data-tags="site,checkout" async></script>`;
const posthogInit = `posthog.init(${JSON.stringify(TOKEN)}, { api_host: ${JSON.stringify(BASE)}, disable_session_recording: true });`;
// The site's own login when it has no analytics: tell the widget, and
// send an event of its own as the user.
const siteLogin = `<script>
window.siteLogin = async (user) => {
  window.JourneyFeedback.identify(user);
  const body = JSON.stringify({ api_key: ${JSON.stringify(TOKEN)}, batch: [{ event: 'logged_in', distinct_id: user, properties: { page: 'plain' } }] });
  const res = await fetch(${JSON.stringify(BASE)} + '/e/', { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  return res.status;
};
window.loadPosthog = () => new Promise((resolve, reject) => {
  const s = document.createElement('script');
  s.src = '/posthog/array.js';
  s.onload = () => { ${posthogInit} resolve(); };
  s.onerror = reject;
  document.head.append(s);
});
</script>`;
// Page styles that would restyle a widget living in the page's DOM.
const hostile = '<style>button { background: rgb(255, 0, 0) !important; font-size: 40px !important; } textarea { display: none !important; } * { font-family: serif !important; }</style>';

const pages = {
  '/plain': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Plain</title>${hostile}${siteLogin}</head>
<body><h1>Invoices</h1><label for="q">Search</label> <input id="q" type="search"> <a href="#help">Help</a>${widgetTag}</body></html>`,
  '/posthog': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>With posthog-js</title>
<script src="/posthog/array.js"></script><script>${posthogInit}</script></head>
<body><h1>Billing</h1><a href="#plans">Plans</a>${widgetTag}</body></html>`,
  '/late': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Late posthog-js</title>${siteLogin}</head>
<body><h1>Settings</h1>${widgetTag}</body></html>`,
};

function serve() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      const p = req.url.split('?')[0];
      if (p === '/favicon.ico') { res.writeHead(204); res.end(); return; }
      if (p === '/posthog/array.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        res.end(POSTHOG_JS);
        return;
      }
      if (!pages[p]) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(pages[p]);
    });
    srv.listen(0, 'localhost', () => resolve(srv));
  });
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const isJourney = (u) => u.startsWith(BASE + '/');
const pathOf = (u) => new URL(u).pathname;
const isCapture = (u) => isJourney(u) && /^\/(e|i\/v0\/e|batch)\/?$/.test(pathOf(u));

// eventsOf decodes the events of a capture request: posthog-js sends
// gzip (by its magic bytes), JSON or a form data=<base64 JSON>.
function eventsOf(req) {
  let buf = req.postDataBuffer();
  if (!buf || buf.length === 0) return [];
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const s = buf.toString('utf8');
  let v = null;
  try { v = JSON.parse(s); } catch {
    const data = new URLSearchParams(s).get('data');
    try { v = data === null ? null : JSON.parse(Buffer.from(data, 'base64').toString('utf8')); } catch { v = null; }
  }
  if (v === null) return [];
  return Array.isArray(v) ? v : (v.batch || [v]);
}

// focusState says where the focus is: inside the widget's shadow root,
// which control (by its text or tag), else the page's element.
const focusState = (page) => page.evaluate(() => {
  const host = document.getElementById('journey-feedback');
  const a = document.activeElement;
  if (a === host) {
    const e = host.shadowRoot.activeElement;
    return e ? `widget:${e.tagName.toLowerCase()}:${(e.textContent || '').trim()}` : 'widget:none';
  }
  return a ? `page:${a.tagName.toLowerCase()}` : 'none';
});

// tabTo presses Tab until the focus is on want (at most n times).
async function tabTo(page, want, n = 12, key = 'Tab') {
  for (let i = 0; i < n; i++) {
    if (await focusState(page) === want) return;
    await page.keyboard.press(key);
  }
  check(await focusState(page) === want, `after ${n} × ${key} the focus is on ${await focusState(page)}, not ${want}`);
}

const panel = (page) => page.locator('#journey-feedback').locator('#jf-panel');

// submitByKeyboard: Tab to the launcher, Enter, type, Tab to Send, Enter;
// resolves to the stored item's id and distinct id.
async function submitByKeyboard(page, text) {
  await page.waitForFunction(() => document.getElementById('journey-feedback'));
  await page.evaluate(() => { document.activeElement && document.activeElement.blur && document.activeElement.blur(); window.focus(); });
  await tabTo(page, 'widget:button:Feedback');
  await page.keyboard.press('Enter');
  await panel(page).waitFor({ state: 'visible' });
  check(await focusState(page) === 'widget:textarea:', `opening focuses ${await focusState(page)}, not the text box`);
  await page.keyboard.type(text);
  const stored = page.waitForResponse((r) => isJourney(r.url()) && pathOf(r.url()) === '/feedback/' && r.request().method() === 'POST', { timeout: TIMEOUT_MS });
  await tabTo(page, 'widget:button:Send', 4);
  await page.keyboard.press('Enter');
  const res = await stored;
  check(res.status() === 201, `POST /feedback/ answered ${res.status()} ${await res.text()}`);
  const item = await res.json();
  const sent = JSON.parse(res.request().postData());
  check(sent.token === TOKEN && sent.text === text && sent.tags.join() === 'site,checkout', `the widget sent ${res.request().postData()}`);
  await page.locator('#journey-feedback').getByRole('status').filter({ hasText: 'Thank you' }).waitFor();
  check(await focusState(page) === 'widget:button:Close', `after sending the focus is on ${await focusState(page)}`);
  check(item.source === 'widget' && item.distinct_id === sent.distinct_id, `stored item ${JSON.stringify(item)}`);
  return { id: item.id, distinct_id: item.distinct_id };
}

// collectLinks records the widget's own $identify events (by $lib) that
// Journey took (200); linked(user) waits for one with that distinct id.
function collectLinks(page) {
  const got = [];
  page.on('response', (r) => {
    if (!isCapture(r.url()) || r.status() !== 200) return;
    for (const e of eventsOf(r.request())) if (e.event === '$identify' && e.properties && e.properties.$lib === 'journey-feedback') got.push(e);
  });
  got.linked = async (user) => {
    for (const end = Date.now() + TIMEOUT_MS; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      const e = got.find((x) => x.distinct_id === user);
      if (e) return e;
    }
    throw new Error(`the widget sent no $identify for ${user} (it sent ${JSON.stringify(got)})`);
  };
  return got;
}

const site = await serve();
const origin = `http://localhost:${site.address().port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--disable-blink-features=AutomationControlled', '--no-sandbox', '--disable-dev-shm-usage', `--user-agent=${UA}`],
});
const problems = [];
const cases = [];
let passed = 0;
const ok = (msg) => { passed += 1; console.log(`ok ${passed} - ${msg}`); };
try {
  // Each page in a context of its own: a visitor of its own (localStorage).
  const newPage = async () => (await browser.newContext({ userAgent: UA })).newPage();
  const watch = (page) => {
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => { if (isJourney(r.url())) problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`); });
    page.on('response', (r) => { if (isJourney(r.url()) && r.status() >= 400) problems.push(`${r.request().method()} ${r.url()} answered ${r.status()}`); });
    return collectLinks(page);
  };

  // ---------------------------------------------------------- /plain
  const plain = await newPage();
  const plainLinks = watch(plain);
  await plain.goto(`${origin}/plain`);
  await plain.waitForFunction(() => window.JourneyFeedback && document.getElementById('journey-feedback'));
  const launcher = plain.locator('#journey-feedback').getByRole('button', { name: 'Feedback' });
  check(await launcher.getAttribute('aria-haspopup') === 'dialog' && await launcher.getAttribute('aria-expanded') === 'false', 'launcher ARIA');
  const style = await launcher.evaluate((b) => ({ bg: getComputedStyle(b).backgroundColor, size: getComputedStyle(b).fontSize }));
  check(style.bg !== 'rgb(255, 0, 0)' && style.size !== '40px', `the page's styles reach the widget: ${JSON.stringify(style)}`);
  ok('the widget loads on another origin with its styles isolated');

  await tabTo(plain, 'widget:button:Feedback');
  await plain.keyboard.press('Enter');
  const dialog = plain.locator('#journey-feedback').getByRole('dialog', { name: 'Send us feedback' });
  await dialog.waitFor({ state: 'visible' });
  check(await dialog.getAttribute('aria-modal') === 'true' && await launcher.getAttribute('aria-expanded') === 'true', 'dialog ARIA');
  check(await plain.locator('#journey-feedback').getByLabel('Your message').isVisible(), 'the text box has no visible label');
  check(await focusState(plain) === 'widget:textarea:', `Enter on the launcher focuses ${await focusState(plain)}`);
  // Empty: an alert beside the box, nothing sent.
  await tabTo(plain, 'widget:button:Send', 4);
  await plain.keyboard.press('Enter');
  await plain.locator('#journey-feedback').getByRole('alert').filter({ hasText: 'Write a few words first.' }).waitFor();
  check(await focusState(plain) === 'widget:textarea:', 'an empty message does not go back to the text box');
  // The trap: Tab from Send wraps to the text box; Shift+Tab from it to Send.
  const order = [];
  for (let i = 0; i < 4; i++) { await plain.keyboard.press('Tab'); order.push(await focusState(plain)); }
  check(order.join() === 'widget:button:Cancel,widget:button:Send,widget:textarea:,widget:button:Cancel', `Tab order ${order}`);
  await plain.keyboard.press('Shift+Tab');
  await plain.keyboard.press('Shift+Tab');
  check(await focusState(plain) === 'widget:button:Send', `Shift+Tab from the text box went to ${await focusState(plain)}`);
  await plain.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  check(await focusState(plain) === 'widget:button:Feedback' && await launcher.getAttribute('aria-expanded') === 'false', `Esc left the focus on ${await focusState(plain)}`);
  ok('keyboard: Enter opens, focus trapped (Tab, Shift+Tab), empty message alerted, Esc closes back to the launcher');

  const plainCase = await submitByKeyboard(plain, '송장 내보내기가 계속 실패해요 (invoice export fails)');
  check(/^jfa_/.test(plainCase.distinct_id), `without analytics the id is ${plainCase.distinct_id}`);
  const anon = await plain.evaluate((t) => localStorage.getItem(`journey_feedback:${t}:anon`), TOKEN);
  check(anon === plainCase.distinct_id, 'the anonymous id is not the one kept in localStorage');
  ok(`keyboard-only submission without analytics: item ${plainCase.id} from ${plainCase.distinct_id}`);
  const status = await plain.evaluate(() => window.siteLogin('site-user-1'));
  check(status === 200, `the site's own event answered ${status}`);
  const linkEv = await plainLinks.linked('site-user-1');
  check(linkEv.properties.$anon_distinct_id === anon, `$identify links ${linkEv.properties.$anon_distinct_id}, not ${anon}`);
  // Once only: a second identify (another user later) links nothing.
  await plain.evaluate(() => window.JourneyFeedback.identify('someone-else'));
  await plain.waitForTimeout(700);
  check(plainLinks.length === 1, `the widget linked its anonymous id again: ${JSON.stringify(plainLinks)}`);
  cases.push({ page: 'plain', ...plainCase, user: 'site-user-1' });
  ok('the site logs in: the widget links its anonymous id once with $identify');

  // ---------------------------------------------------------- /posthog
  const ph = await newPage();
  watch(ph);
  await ph.goto(`${origin}/posthog`);
  await ph.waitForFunction(() => window.posthog && window.posthog.__loaded && window.JourneyFeedback);
  const phAnon = await ph.evaluate(() => window.posthog.get_distinct_id());
  const phCase = await submitByKeyboard(ph, 'The billing page times out');
  check(phCase.distinct_id === phAnon, `with posthog-js the widget sent ${phCase.distinct_id}, posthog's id is ${phAnon}`);
  ok(`keyboard-only submission with posthog-js ${await ph.evaluate(() => window.posthog.version)}: the item carries posthog's distinct id`);
  const identified = ph.waitForResponse((r) => isCapture(r.url()) && r.status() === 200 &&
    eventsOf(r.request()).some((e) => e.event === 'plan_upgraded'), { timeout: TIMEOUT_MS });
  await ph.evaluate(() => { window.posthog.identify('ph-user-1'); window.posthog.capture('plan_upgraded', { plan: 'pro' }); });
  await identified;
  cases.push({ page: 'posthog', ...phCase, user: 'ph-user-1' });
  ok('posthog-js identifies the visitor and sends an event');

  // ---------------------------------------------------------- /late
  const late = await newPage();
  const lateLinks = watch(late);
  await late.goto(`${origin}/late`);
  const lateCase = await submitByKeyboard(late, 'Cannot change my email');
  check(/^jfa_/.test(lateCase.distinct_id) && lateCase.distinct_id !== anon, `the late page's id is ${lateCase.distinct_id}`);
  await late.evaluate(() => window.loadPosthog());
  await late.waitForFunction(() => window.posthog && window.posthog.__loaded);
  const phLate = await late.evaluate(() => window.posthog.get_distinct_id());
  const sentLate = late.waitForResponse((r) => isCapture(r.url()) && r.status() === 200 &&
    eventsOf(r.request()).some((e) => e.event === 'settings_saved'), { timeout: TIMEOUT_MS });
  const lateEv = await lateLinks.linked(phLate);
  check(lateEv.properties.$anon_distinct_id === lateCase.distinct_id, `late $identify links ${JSON.stringify(lateEv)}`);
  await late.evaluate(() => { window.posthog.identify('late-user-1'); window.posthog.capture('settings_saved'); });
  await sentLate;
  cases.push({ page: 'late', ...lateCase, user: 'late-user-1' });
  ok('posthog-js loads after the feedback: the widget links its anonymous id to posthog\'s');
} catch (e) {
  problems.push(`step ${passed + 1} failed: ${e.message}`);
} finally {
  await browser.close();
  site.close();
}
for (const p of problems) console.error(`widget: FAIL: ${p}`);
if (REPORT) writeFileSync(REPORT, JSON.stringify({ origin, cases, problems }, null, 1));
console.log(`${passed} passed, ${problems.length} failed`);
process.exitCode = problems.length > 0 ? 1 : 0;
