// posthog-js in Chromium, loaded by Journey's Settings snippet from a page
// on another origin, as a site would:
//
//   JOURNEY_URL=http://127.0.0.1:8080 SNIPPET='<script …>' node test/ui/posthog-snippet.mjs
//
// The page (served here, on its own port) has the snippet in its <head>
// and a "Buy now" button. The script clicks it, sends a custom event, and
// fails on any failed request to Journey, any 4xx/5xx answer from it and
// any console error. Journey's answers are checked by the Go test that
// runs this one (e2e/websdk_test.go), which reads the events back.
// posthog-js drops events of browsers that look automated, hence the
// plain user agent and --disable-blink-features=AutomationControlled.
// With JOURNEY_ADMIN_KEY and TOKEN (a server with no user yet), it then
// creates the first user, turns autocapture off in Settings' "Browser SDK"
// section and checks that the remote config says so.

import { chromium } from 'playwright-core';
import http from 'node:http';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SNIPPET = process.env.SNIPPET;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const ADMIN_KEY = process.env.JOURNEY_ADMIN_KEY;
const TOKEN = process.env.TOKEN;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

if (!SNIPPET) {
  console.error('posthog-snippet: set SNIPPET to the Settings snippet');
  process.exit(2);
}

const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
${SNIPPET}
</head><body>
<h1>Shop</h1>
<button id="buy" class="cta">Buy now</button>
</body></html>`;

function serve() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      if (req.url === '/favicon.ico') { res.writeHead(204); res.end(); return; }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    srv.listen(0, 'localhost', () => resolve(srv));
  });
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
  args: ['--disable-blink-features=AutomationControlled', '--no-sandbox'],
});
const problems = [];
const sent = []; // [path, status] of Journey's answers
try {
  const context = await browser.newContext({ userAgent: UA });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(BASE)) problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
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

  const captured = () => page.waitForResponse((r) => r.url().startsWith(BASE) && /^\/(e|i\/v0\/e|batch)\/?$/.test(new URL(r.url()).pathname) && r.status() === 200,
    { timeout: TIMEOUT_MS });
  const firstCapture = captured();
  await page.click('#buy');
  await page.evaluate(() => window.posthog.capture('snippet_checked', { source: 'posthog-snippet.mjs' }));
  await firstCapture;
  // identify asks /flags (hasFeatureFlags is false at start-up, so this
  // is the SDK's first /flags call) and sends $identify.
  const flags = page.waitForResponse((r) => r.url().startsWith(BASE) && new URL(r.url()).pathname.startsWith('/flags'), { timeout: TIMEOUT_MS });
  const secondCapture = captured();
  await page.evaluate(() => window.posthog.identify('snippet-user-1'));
  const fr = await flags;
  const body = await fr.json();
  if (fr.status() !== 200 || typeof body.flags !== 'object') fail(`/flags answered ${fr.status()} ${JSON.stringify(body)}`);
  await secondCapture;
  console.log('ok events sent');
  await context.close(); // $pageleave goes by beacon, not awaited here
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
  if (!snippet.includes('/static/loader.js?project_token=' + TOKEN)) fail(`Settings snippet: ${snippet}`);
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
