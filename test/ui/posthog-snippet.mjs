// posthog-js in Chromium, loaded by the README's snippet (the Go test
// e2e/websdk_test.go reads it from README.md and fills in the token and
// host) from a page on another origin, as a site would:
//
//   JOURNEY_URL=http://127.0.0.1:8080 SNIPPET='<script …>' REPORT=out.json node test/ui/posthog-snippet.mjs
//
// The page (served here, on its own port) has the snippet in its <head>
// and two buttons. The script clicks "Buy now", sends a custom event,
// identifies, joins a group and sends an event in it, rage-clicks "Apply
// coupon", resets and sends an event as the new anonymous visitor, then
// leaves the page for another one ($pageleave goes by sendBeacon on
// pagehide). It fails on any failed request to Journey, any 4xx/5xx answer
// from it and any console error, and writes to REPORT the distinct ids and
// every event the page sent, decoded from the request bodies, which the Go
// test compares with what Journey stored. Playwright does not see beacons
// sent while a page unloads, so the page's sendBeacon also sends a copy of
// each beacon body to this script's own server.
// posthog-js drops events of browsers that look automated, hence the
// plain user agent (on the command line too: the context's override is
// gone while the old page unloads, and posthog-js would drop $pageleave as
// a HeadlessChrome bot's) and --disable-blink-features=AutomationControlled.
// With JOURNEY_ADMIN_KEY and TOKEN (a server with no user yet), it then
// creates the first user, checks that Settings shows the same snippet,
// turns autocapture off in Settings' "Browser SDK" section and checks that
// the remote config says so.

import { chromium } from 'playwright-core';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SNIPPET = process.env.SNIPPET;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const ADMIN_KEY = process.env.JOURNEY_ADMIN_KEY;
const TOKEN = process.env.TOKEN;
const REPORT = process.env.REPORT;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

if (!SNIPPET) {
  console.error('posthog-snippet: set SNIPPET to the Settings snippet');
  process.exit(2);
}

// Every button changes the page, as a real one would, so that none of the
// clicks is a dead click (dead clicks are on by default).
const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
${SNIPPET}
</head><body>
<h1>Shop</h1>
<button id="buy" class="cta">Buy now</button>
<button id="coupon" class="coupon">Apply coupon</button>
<p id="status"></p>
<script>
let n = 0;
for (const b of document.querySelectorAll('button')) {
  b.addEventListener('click', () => { document.getElementById('status').textContent = b.textContent + ' ' + (++n); });
}
</script>
</body></html>`;

// beaconCopies are the bodies of the page's beacons to Journey, as sent.
const beaconCopies = [];

function serve() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      if (req.url === '/favicon.ico') { res.writeHead(204); res.end(); return; }
      if (req.method === 'POST' && req.url.startsWith('/beacon-copy?')) {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          const q = new URL(req.url, 'http://x').searchParams;
          beaconCopies.push({ url: q.get('to'), queued: q.get('queued') === 'true', body: Buffer.concat(chunks) });
          res.writeHead(204); res.end();
        });
        return;
      }
      if (req.url === '/bye') { res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }); res.end('<!doctype html><title>Bye</title><p>Bye</p>'); return; }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    srv.listen(0, 'localhost', () => resolve(srv));
  });
}

// eventsOf decodes the events of a capture request (JSON, or gzip-js).
function eventsOf(req) {
  return decodeEvents(req.postDataBuffer());
}

function decodeEvents(buf) {
  if (!buf) return null;
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  try {
    const v = JSON.parse(buf.toString('utf8'));
    return Array.isArray(v) ? v : (v.batch || [v]);
  } catch { return null; }
}

function fail(msg) {
  console.error(`posthog-snippet: FAIL: ${msg}`);
  process.exitCode = 1;
}

const site = await serve();
const origin = `http://localhost:${site.address().port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--disable-blink-features=AutomationControlled', '--no-sandbox', `--user-agent=${UA}`],
});
const problems = [];
const sent = []; // [method, path, status] of Journey's answers
const events = []; // every event the page sent, as sent, with how
const isCapture = (u) => u.startsWith(BASE) && /^\/(e|i\/v0\/e|batch)\/?$/.test(new URL(u).pathname);
try {
  const context = await browser.newContext({ userAgent: UA });
  // A copy of each beacon to Journey goes to /beacon-copy on the page's
  // own server; the beacon itself is left as posthog-js sent it.
  await context.addInitScript((journey) => {
    const send = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, data) => {
      const queued = send(url, data);
      if (String(url).startsWith(journey)) send(`/beacon-copy?queued=${queued}&to=${encodeURIComponent(String(url))}`, data);
      return queued;
    };
  }, BASE);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(BASE)) problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('request', (r) => {
    if (!isCapture(r.url()) || r.resourceType() === 'ping') return; // beacons: from their copies
    const evs = eventsOf(r);
    if (!evs) { problems.push(`cannot decode the body of ${r.method()} ${r.url()}`); return; }
    for (const e of evs) events.push({ ...e, transport: r.resourceType() });
  });
  page.on('response', (r) => {
    if (!r.url().startsWith(BASE)) return;
    const u = new URL(r.url());
    sent.push([r.request().method(), u.pathname, r.status()]);
    if (r.status() >= 400) problems.push(`${r.request().method()} ${u.pathname}${u.search} answered ${r.status()}`);
  });

  await page.goto(`${origin}/`);
  // Loaded, and remote config applied (autocapture waits for it).
  await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null, { timeout: TIMEOUT_MS });
  await page.waitForFunction(() => window._POSTHOG_REMOTE_CONFIG && Object.keys(window._POSTHOG_REMOTE_CONFIG).length > 0, null, { timeout: TIMEOUT_MS });
  console.log('ok loaded posthog-js', await page.evaluate(() => window.posthog.version));

  const ids = { anonymous: await page.evaluate(() => window.posthog.get_distinct_id()) };
  // posthog-js batches: wait for Journey's answer to the request that
  // carries a given event.
  const captured = (name) => page.waitForResponse((r) => isCapture(r.url()) && r.status() === 200 &&
    (eventsOf(r.request()) || []).some((e) => e.event === name), { timeout: TIMEOUT_MS });
  let next = captured('snippet_checked');
  await page.click('#buy');
  await page.evaluate(() => window.posthog.capture('snippet_checked', { source: 'posthog-snippet.mjs' }));
  await next;
  // identify asks /flags (hasFeatureFlags is false at start-up, so this
  // is the SDK's first /flags call) and sends $identify.
  const flags = page.waitForResponse((r) => r.url().startsWith(BASE) && new URL(r.url()).pathname.startsWith('/flags'), { timeout: TIMEOUT_MS });
  next = captured('$identify');
  await page.evaluate(() => window.posthog.identify('snippet-user-1', { email: 'ada@shop.test', plan: 'pro' }));
  const fr = await flags;
  const body = await fr.json();
  if (fr.status() !== 200 || typeof body.flags !== 'object') fail(`/flags answered ${fr.status()} ${JSON.stringify(body)}`);
  await next;
  ids.identified = await page.evaluate(() => window.posthog.get_distinct_id());
  // A group, an event in it, then a rage click: three fast clicks on one
  // button (posthog-js's default rageclick: 3 clicks within 1 s and 30 px).
  next = captured('group_checked');
  await page.evaluate(() => {
    window.posthog.group('company', 'acme', { name: 'Acme' });
    window.posthog.capture('group_checked', { step: 2 });
  });
  await next;
  next = captured('$rageclick');
  await page.click('#coupon', { clickCount: 3, delay: 0 });
  await next;
  // reset: a new anonymous id, and no group any more.
  next = captured('after_reset');
  await page.evaluate(() => { window.posthog.reset(); window.posthog.capture('after_reset', { step: 3 }); });
  await next;
  ids.reset = await page.evaluate(() => window.posthog.get_distinct_id());
  // Leaving the page for another: posthog-js sends $pageleave (and the web
  // vitals it still holds) by sendBeacon on pagehide.
  await page.goto(`${origin}/bye`);
  const hasLeave = () => beaconCopies.some((b) => (decodeEvents(b.body) || []).some((e) => e.event === '$pageleave'));
  for (const until = Date.now() + TIMEOUT_MS; !hasLeave() && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // any other beacon of the same pagehide
  if (!hasLeave()) fail('no $pageleave beacon when the page was left');
  for (const b of beaconCopies) {
    const evs = decodeEvents(b.body);
    if (!b.queued) problems.push(`the browser refused a beacon to ${b.url}`);
    if (!isCapture(b.url) || !evs) { problems.push(`beacon to ${b.url}: not a capture request`); continue; }
    for (const e of evs) events.push({ ...e, transport: 'beacon' });
  }
  console.log('ok events sent', JSON.stringify(ids));
  if (REPORT) writeFileSync(REPORT, JSON.stringify({ origin, ids, events }));
  await context.close();
  if (ADMIN_KEY && TOKEN) await settingsPage();
} catch (err) {
  fail(err.message);
} finally {
  await browser.close();
  site.close();
}
// settingsPage turns autocapture off in the UI, as a project admin would.
async function settingsPage() {
  const context = await browser.newContext({ userAgent: UA });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`settings page console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`settings page error: ${e.message}`));
  const boot = await context.request.post(`${BASE}/ui/api/bootstrap`, { data: { admin_key: ADMIN_KEY, email: 'admin@shop.example', password: 'snippet-password-1' } });
  if (!boot.ok()) throw new Error(`bootstrap answered ${boot.status()} ${await boot.text()}`);
  const me = await (await context.request.get(`${BASE}/ui/api/me`)).json();
  const project = (me.projects || []).find((p) => p.token === TOKEN);
  if (!project) throw new Error(`the admin does not see the project of ${TOKEN}`);
  await page.goto(`${BASE}/#/p/${project.id}/settings`);
  const snippet = await page.locator('[data-testid="settings-snippet"]').innerText();
  if (snippet.trim() !== SNIPPET.trim()) fail(`Settings shows another snippet than the README:\n${snippet}\nREADME:\n${SNIPPET}`);
  const versions = await page.locator('[data-testid="sdk-versions"]').innerText();
  if (!versions.includes('posthog-js 1.449.2') || !versions.includes('@segment/analytics-next 1.84.3')) fail(`tested versions line: ${versions}`);
  const box = page.locator('[data-testid="sdk-autocapture"]');
  if (!(await box.isChecked())) fail('autocapture is off by default');
  await box.uncheck();
  await page.selectOption('[data-testid="sdk-ip"]', 'truncate');
  await page.click('[data-testid="sdk-save"]');
  await page.locator('[data-testid="sdk-status"]', { hasText: 'Saved' }).waitFor();
  await page.waitForTimeout(5500); // the SDK routes cache settings for 5 s
  const config = await (await context.request.get(`${BASE}/array/${TOKEN}/config`)).json();
  if (config.autocapture_opt_out !== true) fail(`after saving, the remote config has autocapture_opt_out ${config.autocapture_opt_out}`);
  await page.reload();
  if (await page.locator('[data-testid="sdk-autocapture"]').isChecked()) fail('autocapture shows on again after a reload');
  if (await page.locator('[data-testid="sdk-ip"]').inputValue() !== 'truncate') fail('the IP choice was not kept');
  if (process.env.SHOT_DIR) await page.locator('section[aria-labelledby="set-sdk"]').screenshot({ path: `${process.env.SHOT_DIR}/settings-browser-sdk.png` });
  console.log('ok Settings: Browser SDK section saves and the remote config follows');
  await context.close();
}

for (const p of problems) fail(p);
console.log(JSON.stringify({ journey_requests: sent }));
if (!process.exitCode) console.log('ok no failed request to Journey and no console error');
