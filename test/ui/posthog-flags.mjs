// posthog-js feature flags in Chromium, loaded by the README's snippet
// (e2e/websdk_flags_test.go fills in the token and host) from a page on
// another origin:
//
//   JOURNEY_URL=http://127.0.0.1:8080 SNIPPET='<script …>' TOKEN=jpt_… \
//     KEYS='["a","b"]' ROLLOUT_KEY=a CONTINUITY_KEY=b USER_PROPS='{"plan":"pro"}' \
//     REPORT=out.json node test/ui/posthog-flags.mjs
//
// The page loads posthog-js; the script waits for its flags (the answer to
// its /flags request and posthog.onFeatureFlags), reads every key in KEYS
// with isFeatureEnabled, getFeatureFlag and getFeatureFlagPayload as the
// anonymous visitor, then picks a user id whose own bucket of
// CONTINUITY_KEY differs from the anonymous visitor's variant and that is
// inside ROLLOUT_KEY's rollout (asking Journey's /flags from here, not the
// page, without $anon_distinct_id), identifies as that user with
// USER_PROPS, waits for the flags posthog-js reloads, reads them again,
// then reloads the page and reads them a third time. After each round it
// sends a marker event and waits for Journey to take it, so that the
// $feature_flag_called events of the reads before it have left.
// Every request the page makes, every console message and every /flags
// exchange (request body decoded, answer) is recorded; a request that fails
// or answers >= 400, a request to a host other than Journey and the page's
// own, a console error or a page error fails the run. REPORT gets the
// ids, the reads, the /flags exchanges, the events the page sent (decoded
// from the capture bodies), the requests and the console messages, which
// the Go test checks against Journey's own /flags and its event store.
// As in posthog-snippet.mjs, Chromium runs with a plain user agent and
// --disable-blink-features=AutomationControlled: posthog-js drops the
// events of browsers that look automated.

import { chromium } from 'playwright-core';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SNIPPET = process.env.SNIPPET;
const TOKEN = process.env.TOKEN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const REPORT = process.env.REPORT;
const KEYS = JSON.parse(process.env.KEYS || '[]');
const ROLLOUT_KEY = process.env.ROLLOUT_KEY;
const CONTINUITY_KEY = process.env.CONTINUITY_KEY;
const USER_PROPS = JSON.parse(process.env.USER_PROPS || '{}');
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

if (!SNIPPET || !TOKEN || KEYS.length === 0 || !ROLLOUT_KEY || !CONTINUITY_KEY) {
  console.error('posthog-flags: set SNIPPET, TOKEN, KEYS, ROLLOUT_KEY and CONTINUITY_KEY');
  process.exit(2);
}

const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Flags</title>
${SNIPPET}
</head><body>
<h1>Flags</h1>
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
const isFlags = (u) => isJourney(u) && /^\/(flags|decide)\/?$/.test(path(u));

function fail(msg) {
  console.error(`posthog-flags: FAIL: ${msg}`);
  process.exitCode = 1;
}

const site = await serve();
const origin = `http://localhost:${site.address().port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--disable-blink-features=AutomationControlled', '--no-sandbox', '--disable-dev-shm-usage', `--user-agent=${UA}`],
});
const problems = [];
const requests = []; // every request of the page: {method, url, type, status, failure}
const consoleMessages = []; // {type, text}
const flagsCalls = []; // {url, method, body, status, answer}
const events = []; // every event the page sent, decoded
const reads = []; // {phase, distinct_id, request_id, flags: {key: {enabled, value, payload}}}
const candidates = []; // the user ids tried, with Journey's answer for them
const ids = {};
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
    if (isFlags(r.url())) {
      const call = { url: r.url(), method: r.request().method(), body: decodeBody(r.request().postDataBuffer()), status: r.status(), answer: null };
      flagsCalls.push(call);
      try { call.answer = await r.json(); } catch (e) { problems.push(`${r.url()}: the answer is not JSON: ${e.message}`); }
    }
  });

  // flagsLoaded waits for Journey's answer to a /flags request of the page
  // for distinct id `who`, then until posthog-js has taken it (its stored
  // request id is the answer's) and has called onFeatureFlags since.
  const flagsAnswer = (who) => page.waitForResponse((r) => isFlags(r.url()) && r.status() === 200 &&
    decodeBody(r.request().postDataBuffer())?.distinct_id === who, { timeout: TIMEOUT_MS });
  async function flagsLoaded(answer) {
    const { requestId } = await (await answer).json();
    await page.waitForFunction((id) => window.posthog.get_property('$feature_flag_request_id') === id, requestId, { timeout: TIMEOUT_MS });
    await page.evaluate(() => new Promise((resolve) => { const off = window.posthog.onFeatureFlags(() => { resolve(); setTimeout(() => off && off(), 0); }); }));
    return requestId;
  }
  // read reads every key as an app would.
  async function read(phase, requestId) {
    const got = await page.evaluate((keys) => {
      const out = {};
      for (const k of keys) {
        out[k] = {
          enabled: window.posthog.isFeatureEnabled(k) ?? null,
          value: window.posthog.getFeatureFlag(k) ?? null,
          payload: window.posthog.getFeatureFlagPayload(k) ?? null,
        };
      }
      return { distinct_id: window.posthog.get_distinct_id(), flags: out };
    }, KEYS);
    reads.push({ phase, request_id: requestId, ...got });
    console.log(`ok ${phase} (${got.distinct_id}): ${JSON.stringify(got.flags)}`);
    return got;
  }
  // marker sends an event and waits for Journey to take it.
  async function marker(step) {
    const taken = page.waitForResponse((r) => isCapture(r.url()) && r.status() === 200 &&
      (eventsOf(r.request()) || []).some((e) => e.event === 'flags_checked' && e.properties?.step === step), { timeout: TIMEOUT_MS });
    await page.evaluate((s) => window.posthog.capture('flags_checked', { step: s }), step);
    await taken;
  }

  // Anonymous: the remote config says the project has flags, so
  // posthog-js asks /flags at start-up for its anonymous id.
  const firstAnswer = page.waitForResponse((r) => isFlags(r.url()) && r.status() === 200, { timeout: TIMEOUT_MS });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null, { timeout: TIMEOUT_MS });
  version = await page.evaluate(() => window.posthog.version);
  ids.anonymous = await page.evaluate(() => window.posthog.get_distinct_id());
  console.log('ok loaded posthog-js', version, 'anonymous id', ids.anonymous);
  const anon = await read('anonymous', await flagsLoaded(firstAnswer));
  await marker(1);

  // A user whose own bucket of the continuity flag is another variant.
  const anonVariant = anon.flags[CONTINUITY_KEY].value;
  for (let i = 1; !ids.identified && i <= 200; i++) {
    const id = `flags-user-${i}`;
    const res = await fetch(`${BASE}/flags/?v=2`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: TOKEN, distinct_id: id, person_properties: USER_PROPS }),
    });
    const body = await res.json();
    const f = body.flags || {};
    candidates.push({ id, status: res.status, [ROLLOUT_KEY]: f[ROLLOUT_KEY]?.enabled, [CONTINUITY_KEY]: f[CONTINUITY_KEY]?.variant ?? null });
    if (res.status === 200 && f[ROLLOUT_KEY]?.enabled === true && f[CONTINUITY_KEY]?.enabled && f[CONTINUITY_KEY].variant !== anonVariant) ids.identified = id;
  }
  if (!ids.identified) throw new Error(`no user among ${candidates.length} with ${ROLLOUT_KEY} on and a ${CONTINUITY_KEY} variant other than ${anonVariant}`);

  // identify: posthog-js reloads its flags with $anon_distinct_id and the
  // person properties it was given.
  let answer = flagsAnswer(ids.identified);
  await page.evaluate(([id, props]) => window.posthog.identify(id, props), [ids.identified, USER_PROPS]);
  await read('identified', await flagsLoaded(answer));
  await marker(2);

  // A later visit: posthog-js starts identified and asks /flags without
  // $anon_distinct_id; the continuity flag still follows the anonymous id.
  answer = flagsAnswer(ids.identified);
  await page.reload();
  await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null, { timeout: TIMEOUT_MS });
  await read('reloaded', await flagsLoaded(answer));
  await marker(3);
  await context.close();
} catch (err) {
  fail(err.stack || err.message);
} finally {
  await browser.close();
  site.close();
}

for (const r of requests) {
  if (r.status === null && r.failure === null) problems.push(`no answer to ${r.method} ${r.url}`);
}
if (REPORT) writeFileSync(REPORT, JSON.stringify({ origin, version, ids, reads, flagsCalls, events, requests, console: consoleMessages, candidates }));
for (const p of problems) fail(p);
console.log(`${requests.length} requests, ${consoleMessages.length} console messages, ${flagsCalls.length} /flags calls, ${events.length} events sent`);
if (!process.exitCode) console.log('ok no failed request and no console error');
