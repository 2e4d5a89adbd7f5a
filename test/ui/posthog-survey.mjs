// posthog-js surveys in Chromium, loaded by the README's snippet
// (e2e/websdk_surveys_test.go fills in the token and host) from a page on
// another origin, with a Journey popover survey running:
//
//   JOURNEY_URL=http://127.0.0.1:8080 SNIPPET='<script …>' SURVEY_ID=1 \
//     USER_ID=nps-user SCORE=9 REPORT=out.json node test/ui/posthog-survey.mjs
//
// The page loads posthog-js, which reads Journey's remote config (surveys:
// true), lazy-loads surveys.js from Journey (/static/surveys.js, or
// /static/<version>/surveys.js with the snippet's strict_script_versioning)
// and asks /api/surveys/. The
// script identifies as USER_ID, waits for the popover of SURVEY_ID (in its
// shadow root), clicks the rating SCORE of its first question and the
// submit button, as a visitor would, and waits for Journey to take the
// `survey sent` event. Every request the page makes and every console
// message is recorded; a request that fails or answers >= 400, a request
// to a host other than Journey and the page's own, a console error or a
// page error fails the run. REPORT gets the events the page sent (decoded
// from the capture bodies), the requests and the /api/surveys/ answer,
// which the Go test checks against Journey's store and results endpoint.
// As the other posthog-js scripts, Chromium runs with a plain user agent
// and --disable-blink-features=AutomationControlled: posthog-js drops the
// events of browsers that look automated.

import { chromium } from 'playwright-core';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SNIPPET = process.env.SNIPPET;
const SURVEY_ID = process.env.SURVEY_ID;
const USER_ID = process.env.USER_ID || 'nps-user';
const SCORE = process.env.SCORE || '9';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const REPORT = process.env.REPORT;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

if (!SNIPPET || !SURVEY_ID) {
  console.error('posthog-survey: set SNIPPET and SURVEY_ID');
  process.exit(2);
}

const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Survey</title>
${SNIPPET}
</head><body>
<h1>Pricing</h1>
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

// decodeBody reads a posthog-js request body: gzip (by its magic bytes),
// JSON, or a form with data=<base64 JSON>.
function decodeBody(buf) {
  if (!buf || buf.length === 0) return null;
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const s = buf.toString('utf8');
  try { return JSON.parse(s); } catch { /* a form */ }
  const data = new URLSearchParams(s).get('data');
  if (data === null) return null;
  try { return JSON.parse(Buffer.from(data, 'base64').toString('utf8')); } catch { return null; }
}

function eventsOf(req) {
  const v = decodeBody(req.postDataBuffer());
  if (v === null) return null;
  return Array.isArray(v) ? v : (v.batch || [v]);
}

const path = (u) => new URL(u).pathname;
const isJourney = (u) => u.startsWith(BASE + '/');
const isCapture = (u) => isJourney(u) && /^\/(e|i\/v0\/e|batch)\/?$/.test(path(u));

const site = await serve();
const origin = `http://localhost:${site.address().port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--disable-blink-features=AutomationControlled', '--no-sandbox', '--disable-dev-shm-usage', `--user-agent=${UA}`],
});
const problems = [];
const requests = [];
const consoleMessages = [];
const events = [];
let surveysAnswer = null;
let version = '';
try {
  const context = await browser.newContext({ userAgent: UA });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (m) => {
    consoleMessages.push({ type: m.type(), text: m.text() });
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const byRequest = new Map();
  page.on('request', (r) => {
    const rec = { method: r.method(), url: r.url(), type: r.resourceType(), status: null, failure: null };
    requests.push(rec);
    byRequest.set(r, rec);
    if (!isJourney(r.url()) && !r.url().startsWith(origin + '/')) problems.push(`request to another host: ${r.method()} ${r.url()}`);
    if (isCapture(r.url())) {
      const evs = eventsOf(r);
      if (!evs) problems.push(`cannot decode the body of ${r.method()} ${r.url()}`);
      else for (const e of evs) events.push(e);
    }
  });
  page.on('requestfailed', (r) => {
    const rec = byRequest.get(r);
    if (rec) rec.failure = r.failure()?.errorText || 'failed';
    problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('response', async (r) => {
    const rec = byRequest.get(r.request());
    if (rec) rec.status = r.status();
    if (r.status() >= 400) problems.push(`${r.request().method()} ${r.url()} answered ${r.status()}`);
  });

  const surveysLoaded = page.waitForResponse((r) => isJourney(r.url()) && path(r.url()).replace(/\/$/, '') === '/api/surveys' && r.status() === 200);
  const bundleLoaded = page.waitForResponse((r) => isJourney(r.url()) && /^\/static\/([0-9.]+\/)?surveys\.js$/.test(path(r.url())) && r.status() === 200);
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null, { timeout: TIMEOUT_MS });
  version = await page.evaluate(() => window.posthog.version);
  console.log('ok loaded posthog-js', version);
  await page.evaluate((id) => window.posthog.identify(id), USER_ID);
  await bundleLoaded;
  console.log('ok surveys.js loaded from Journey');
  surveysAnswer = await (await surveysLoaded).json();
  console.log('ok /api/surveys/ answered', surveysAnswer.surveys.length, 'survey(s)');

  // The popover renders in an open shadow root, which CSS locators pierce.
  const popover = page.locator(`.PostHogSurvey-${SURVEY_ID}`);
  const rating = popover.locator(`button.question-0-rating-${SCORE}`);
  await rating.waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  console.log('ok popover shown');
  const taken = page.waitForResponse((r) => isCapture(r.url()) && r.status() === 200 &&
    (eventsOf(r.request()) || []).some((e) => e.event === 'survey sent'), { timeout: TIMEOUT_MS });
  await rating.click();
  const submit = popover.locator('button.form-submit');
  if (await submit.count() > 0 && await submit.first().isVisible()) await submit.first().click();
  await taken;
  console.log('ok survey sent taken by Journey');
} catch (e) {
  problems.push(`step failed: ${e.message}`);
} finally {
  await browser.close();
  site.close();
}
for (const p of problems) console.error(`posthog-survey: FAIL: ${p}`);
if (REPORT) {
  writeFileSync(REPORT, JSON.stringify({ origin, version, events, requests, console: consoleMessages, surveys: surveysAnswer, problems }, null, 1));
}
process.exitCode = problems.length > 0 ? 1 : 0;
