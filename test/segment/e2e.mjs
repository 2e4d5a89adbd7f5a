// analytics-next from npm in Debian's headless Chromium against Journey:
// each snippet (an `AnalyticsBrowser.load(...)` expression, as the README
// prints it) is bundled by esbuild as an app's bundler would bundle it,
// served from a page on another origin, and driven through page, track,
// alias, identify, group and two tracks. Run by e2e/segment_test.go:
//
//   JOURNEY_URL=http://127.0.0.1:8000 SNIPPETS='[{"name":"…","load":"AnalyticsBrowser.load({…})",
//     "ids":{"user":"…","alias":"…","group":"…","email":"…"}}]' node test/segment/e2e.mjs
//
// Prints one JSON line per snippet: {"snippet", "anonymousId", "journey" (the
// requests Journey answered), "failed" (Journey requests that failed or
// answered >= 400), "consoleErrors", "foreign" (requests to any other host,
// aborted)}, and exits 1 if any snippet had a failure.

import { chromium } from 'playwright-core';
import { build } from 'esbuild';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const JOURNEY = (process.env.JOURNEY_URL || '').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SNIPPETS = JSON.parse(process.env.SNIPPETS || '[]');
const DIR = path.dirname(fileURLToPath(import.meta.url));
const CALLS = 7; // capture requests journeyRun makes
const WAIT_MS = 20000;
// analytics-next flushes its usage metrics 30 s after load (to
// api.segment.io unless the settings say sampleRate 0), so every page stays
// open past that; the snippets run side by side to pay it once.
const LINGER_MS = Number(process.env.LINGER_MS || 31000);

if (!JOURNEY || SNIPPETS.length === 0) {
  console.error('e2e: set JOURNEY_URL and SNIPPETS');
  process.exit(2);
}

// The app's code: the snippet, then the calls the test checks. Each call is
// awaited, so the events leave in this order. alias comes while anonymous:
// analytics-next 1.84.3 replaces an alias call's userId by the identified
// user's id, which would make a later alias alias the user to itself.
function appSource(load) {
  return `import { AnalyticsBrowser } from '@segment/analytics-next'
const analytics = ${load}
window.journeyRun = async (ids) => {
  await analytics.page()
  await analytics.track('signup_clicked', { plan: 'pro' })
  await analytics.alias(ids.alias)
  await analytics.identify(ids.user, { email: ids.email, name: 'Ada' })
  await analytics.group(ids.group, { name: 'Acme Inc', employees: 42 })
  await analytics.track('report_run', { rows: 3 })
  await analytics.track('exported', { format: 'csv' })
  const [a] = await analytics
  return { anonymousId: a.user().anonymousId() }
}
`;
}

async function bundle(load) {
  const out = await build({
    stdin: { contents: appSource(load), resolveDir: DIR, loader: 'js' },
    bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2020', logLevel: 'error',
  });
  return out.outputFiles[0].text;
}

// servePage serves the page and its script from an origin other than Journey's.
function servePage(script) {
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head>' +
    '<body><h1>Shop</h1><script src="/app.js"></script></body></html>';
  const server = http.createServer((req, res) => {
    if (req.url === '/app.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(script);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(html);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function runSnippet(browser, s) {
  const server = await servePage(await bundle(s.load));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const context = await browser.newContext();
  const report = { snippet: s.name, journey: [], failed: [], consoleErrors: [], foreign: [] };
  const isOurs = (url) => url.startsWith(JOURNEY + '/') || url.startsWith(origin + '/');
  await context.route((url) => !isOurs(url.href), (route) => {
    report.foreign.push(route.request().method() + ' ' + route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  let pending = 0;
  let finished = 0;
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => report.consoleErrors.push('pageerror: ' + e.message));
  page.on('request', (r) => { if (r.url().startsWith(JOURNEY)) pending++; });
  page.on('requestfailed', (r) => {
    if (!r.url().startsWith(JOURNEY)) return;
    pending--;
    report.failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('requestfinished', async (r) => {
    if (!r.url().startsWith(JOURNEY)) return;
    const resp = await r.response();
    const status = resp ? resp.status() : 0;
    report.journey.push(`${r.method()} ${r.url().slice(JOURNEY.length)} ${status}`);
    if (status >= 400 || status === 0) report.failed.push(`${r.method()} ${r.url()}: ${status}`);
    pending--;
    finished++;
  });
  const started = Date.now();
  try {
    await page.goto(origin + '/shop?ref=e2e', { waitUntil: 'load' });
    const out = await page.evaluate((ids) => window.journeyRun(ids), s.ids);
    report.anonymousId = out.anonymousId;
    // The calls resolve once delivered, but wait for every request to settle.
    const deadline = Date.now() + WAIT_MS;
    while ((pending > 0 || finished < CALLS) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, LINGER_MS - (Date.now() - started)))); // anything sent late still counts
    if (pending > 0) report.failed.push(`${pending} requests to Journey still pending after ${WAIT_MS} ms`);
  } catch (err) {
    report.failed.push('error: ' + err.message);
  } finally {
    await context.close();
    server.close();
  }
  return report;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'], // root in CI containers; small /dev/shm
});
let bad = 0;
try {
  const reports = await Promise.all(SNIPPETS.map((s) => runSnippet(browser, s)));
  for (const report of reports) {
    if (report.failed.length || report.consoleErrors.length || report.foreign.length) bad++;
    console.log(JSON.stringify(report));
  }
} finally {
  await browser.close();
}
process.exit(bad ? 1 : 0);
