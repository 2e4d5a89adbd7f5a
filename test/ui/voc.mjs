// End-to-end test of the voice-of-customer UI in Debian's headless Chromium
// (playwright-core drives it; no browser is downloaded):
//
//   JOURNEY_URL=http://127.0.0.1:8080 JOURNEY_ADMIN_KEY=… SHOT_DIR=/tmp/shots node test/ui/voc.mjs
//
// Needs a fresh server (no user yet) and its admin key. The script makes
// the first user and a project, sends the customers' events (stages,
// accounts with MRR, errors) through /batch/ and their feedback through
// the secret-key API (Korean and English), then in the browser: the inbox
// lists it, finds it by a Korean and by an English search, filters it;
// an item gets a status, a note and a reply, a duplicate is merged into
// it; the themes page ranks the themes as the API does, sorted by each
// figure, with the formula; a new NPS survey made in the editor gets
// answers and its results page shows the NPS and its chart; the home page
// shows the top theme beside the stage of its customers, the NPS and the
// open SLA breaches. Prints one line per passed step and exits 1 at the
// first failure (with a screenshot in SHOT_DIR).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = (process.env.JOURNEY_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_KEY = process.env.JOURNEY_ADMIN_KEY;
const SHOT_DIR = process.env.SHOT_DIR || path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);

if (!ADMIN_KEY) {
  console.error('voc: set JOURNEY_ADMIN_KEY (the --admin-key of a server without users)');
  process.exit(2);
}
fs.mkdirSync(SHOT_DIR, { recursive: true });

let passed = 0;
let page;
const pageErrors = [];

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function shot(p, name) {
  try { await p.screenshot({ path: path.join(SHOT_DIR, `${name}.png`), fullPage: true }); } catch (err) { console.error(`voc: could not save screenshot ${name}: ${err.message}`); }
}

async function step(name, fn) {
  const t = Date.now();
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`step took longer than ${STEP_MS} ms`)), STEP_MS); })]);
  } catch (err) {
    const file = `voc-fail-${passed + 1}`;
    if (page) await shot(page, file);
    throw new Error(`step ${passed + 1} "${name}" failed: ${err.message} (screenshot ${path.join(SHOT_DIR, `${file}.png`)})`);
  } finally {
    clearTimeout(timer);
  }
  passed += 1;
  console.log(`ok ${passed} - ${name} (${Date.now() - t} ms)`);
}

const tid = (id) => `[data-testid="${id}"]`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'], headless: true });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    let pid;
    let token;
    let secret;
    let csrf;
    const api = async (method, p, body) => {
      const res = await ctx.request.fetch(`${BASE}/ui/api${p}`, { method, data: body, headers: csrf ? { 'X-CSRF-Token': csrf } : {} });
      const text = await res.text();
      check(res.ok(), `${method} ${p}: ${res.status()} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    // The secret-key API, as a backend or a help desk would call it.
    const v1 = async (method, p, body) => {
      const res = await ctx.request.fetch(`${BASE}/api/v1${p}`, { method, data: body, headers: { Authorization: `Bearer ${secret}` } });
      const text = await res.text();
      check(res.ok(), `${method} /api/v1${p}: ${res.status()} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    const capture = async (events) => {
      const res = await ctx.request.post(`${BASE}/batch/`, { data: { api_key: token, batch: events } });
      check(res.ok(), `capture: ${res.status()} ${await res.text()}`);
    };
    const until = async (what, fn, ms = 20000) => {
      const end = Date.now() + ms;
      let last;
      while (Date.now() < end) {
        last = await fn();
        if (last) return last;
        await sleep(250);
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const rows = () => page.locator(tid('fb-row'));
    const rowIds = async () => (await rows().evaluateAll((els) => els.map((e) => Number(e.dataset.id)))).sort((a, b) => a - b);
    const items = {};
    const themes = {};

    await step('first user, a project, customers\' events and their feedback through the API', async () => {
      const me = await api('POST', '/bootstrap', { admin_key: ADMIN_KEY, email: 'voc@journey.test', password: 'voc-password-12345' });
      csrf = me.csrf_token;
      const p = await api('POST', '/projects', { name: 'Invoicing SaaS', timezone: 'UTC' });
      pid = p.id;
      token = p.token;
      secret = p.secret_key;
      const at = (min) => new Date(Date.now() - min * 60e3).toISOString();
      const evs = [
        { event: '$groupidentify', distinct_id: 'admin', timestamp: at(120), properties: { $group_type: 'company', $group_key: 'acme', $group_set: { mrr: 900 } } },
        { event: '$groupidentify', distinct_id: 'admin', timestamp: at(120), properties: { $group_type: 'company', $group_key: 'globex', $group_set: { mrr: 100 } } },
        { event: '$groupidentify', distinct_id: 'admin', timestamp: at(120), properties: { $group_type: 'company', $group_key: 'initech', $group_set: { mrr: 40 } } },
      ];
      // ann and bob activated (signed up, ordered); cy only signed up.
      const who = [['ann', 'acme', 2], ['bob', 'globex', 2], ['cy', 'initech', 1], ['dee', 'initech', 1]];
      for (const [d, company, stage] of who) {
        evs.push({ event: '$pageview', distinct_id: d, timestamp: at(100), properties: { $groups: { company } } });
        if (stage >= 1) evs.push({ event: 'signed_up', distinct_id: d, timestamp: at(90), properties: { $groups: { company } } });
        if (stage >= 2) evs.push({ event: 'order_completed', distinct_id: d, timestamp: at(80), properties: { $groups: { company } } });
      }
      evs.push({ event: '$exception', distinct_id: 'ann', timestamp: at(70), properties: {} });
      await capture(evs);
      // The empty inbox shows the widget's script tag with the project token.
      await page.goto(`${BASE}/#/p/${pid}/feedback`);
      await page.locator(tid('fb-empty')).waitFor();
      const snippet = await page.locator(tid('fb-widget-snippet')).innerText();
      check(snippet.includes(`${BASE}/widget/feedback.js`) && snippet.includes(`data-token="${token}"`), `widget snippet ${snippet}`);
      themes.invoice = (await v1('POST', '/themes', { name: 'Invoice export fails' })).id;
      themes.dark = (await v1('POST', '/themes', { name: 'Dark mode' })).id;
      items.ko = (await v1('POST', '/feedback', { text: '송장 내보내기가 계속 실패해요', distinct_id: 'ann', source: 'api', tags: ['billing'], theme_id: themes.invoice })).id;
      items.en = (await v1('POST', '/feedback', { text: 'Invoice export fails with a timeout', distinct_id: 'bob', source: 'email', tags: ['billing', 'export'] })).id;
      items.dark = (await v1('POST', '/feedback', { text: 'Please add a dark mode', distinct_id: 'cy', tags: ['ui'], theme_id: themes.dark })).id;
      items.dark2 = (await v1('POST', '/feedback', { text: 'Dark theme please, my eyes hurt', distinct_id: 'dee', tags: ['ui'], theme_id: themes.dark })).id;
      check(items.ko && items.en && items.dark && items.dark2, `items ${JSON.stringify(items)}`);
    });

    await step('the Feedback nav entry opens the inbox with every item', async () => {
      await page.goto(`${BASE}/#/p/${pid}/home`);
      await page.click(tid('nav-feedback'));
      await page.locator(tid('fb-list')).waitFor();
      check(/#\/p\/\d+\/feedback$/.test(page.url()), `nav went to ${page.url()}`);
      check(JSON.stringify(await rowIds()) === JSON.stringify(Object.values(items).sort((a, b) => a - b)), `inbox rows ${await rowIds()}`);
      const first = rows().first();
      check(Number(await first.getAttribute('data-id')) === items.dark2, 'the newest item is not first');
      check((await page.locator(`${tid('fb-row')}[data-id="${items.en}"] ${tid('fb-status')}`).innerText()) === 'New', 'status column');
      await shot(page, 'voc-inbox');
    });

    await step('search in Korean and in English finds the items (character n-grams)', async () => {
      await page.fill(tid('fb-search'), '내보내기 실패');
      await page.press(tid('fb-search'), 'Enter');
      await until('the Korean search', async () => /q=/.test(page.url()) && (await rowIds()).join() === String(items.ko));
      const api1 = await api('GET', `/projects/${pid}/feedback?q=${encodeURIComponent('내보내기 실패')}`);
      check(api1.items.map((x) => x.id).join() === String(items.ko), `the API finds ${api1.items.map((x) => x.id)}`);
      await page.fill(tid('fb-search'), 'invoice export');
      await page.click(tid('fb-apply'));
      await until('the English search', async () => (await rowIds()).join() === String(items.en));
      await page.click(tid('fb-clear'));
      await until('all items again', async () => (await rowIds()).length === 4);
    });

    await step('filters by theme and tag', async () => {
      await page.selectOption(tid('fb-filter-theme'), String(themes.dark));
      await page.click(tid('fb-apply'));
      await until('the dark-mode theme', async () => (await rowIds()).join() === [items.dark, items.dark2].sort((a, b) => a - b).join());
      await page.selectOption(tid('fb-filter-theme'), 'none');
      await page.click(tid('fb-apply'));
      await until('items without a theme', async () => (await rowIds()).join() === String(items.en));
      await page.goto(`${BASE}/#/p/${pid}/feedback?tag=export`);
      await until('the export tag', async () => (await rowIds()).join() === String(items.en));
    });

    await step('an item: status, priority, theme, a note and a reply (first response)', async () => {
      await page.goto(`${BASE}/#/p/${pid}/feedback/${items.ko}`);
      await page.locator(tid('fb-editor')).waitFor();
      check((await page.locator(tid('fb-item-text')).innerText()).includes('송장 내보내기'), 'the item text is not shown');
      await page.selectOption(tid('fb-edit-status'), 'planned');
      await page.selectOption(tid('fb-edit-priority'), 'high');
      await page.fill(tid('fb-edit-tags'), 'billing, export');
      await page.click(tid('fb-save'));
      await page.locator(`${tid('fb-saved')}:has-text("Saved.")`).waitFor();
      await page.fill(tid('fb-notes-text'), 'Customer success says acme churns if this stays.');
      await page.click(tid('fb-notes-send'));
      await page.locator(tid('fb-notes-item')).waitFor();
      await page.fill(tid('fb-replies-text'), '확인했습니다. 내일 다시 연락드릴게요.');
      await page.click(tid('fb-replies-send'));
      await page.locator(tid('fb-replies-item')).waitFor();
      const it = await api('GET', `/projects/${pid}/feedback/${items.ko}`);
      check(it.status === 'planned' && it.priority === 'high' && it.tags.join() === 'billing,export' && it.notes.length === 1 && it.replies.length === 1 && it.first_response_at,
        `stored item ${JSON.stringify(it)}`);
      check((await page.locator('.fb-facts').innerText()).includes('after'), 'the first response time is not shown');
      // No customer channel is set up: the reply's delivery says it was not sent.
      const dl = page.locator(tid('fb-delivery'));
      check(await dl.getAttribute('data-state') === 'none' && (await dl.innerText()).includes('Not sent'), `the reply's delivery: ${await dl.innerText()}`);
      // The inbox's SLA history counts the answer: high priority, answered at once.
      await page.goto(`${BASE}/#/p/${pid}/feedback`);
      const high = page.locator(`${tid('fb-sla-row')}[data-priority="high"] ${tid('fb-sla-first')}`);
      await high.waitFor();
      check((await high.innerText()).startsWith('1 of 1 within target'), `the SLA history's high row: ${await high.innerText()}`);
      await page.goto(`${BASE}/#/p/${pid}/feedback?status=planned`);
      await until('the planned filter', async () => (await rowIds()).join() === String(items.ko));
    });

    await step('merge the English duplicate into the Korean item', async () => {
      await page.goto(`${BASE}/#/p/${pid}/feedback/${items.en}`);
      await page.fill(tid('fb-merge-q'), '송장 내보내기');
      await page.click(tid('fb-merge-find'));
      await page.click(`${tid('fb-merge-into')}[data-id="${items.ko}"]`);
      await until('the merged-into item', async () => page.url().endsWith(`/feedback/${items.ko}`));
      await page.locator(tid('fb-editor')).waitFor();
      const dup = await api('GET', `/projects/${pid}/feedback/${items.en}`);
      const into = await api('GET', `/projects/${pid}/feedback/${items.ko}`);
      check(dup.merged_into === items.ko && into.votes === 2, `after the merge: duplicate ${JSON.stringify(dup)}, into votes ${into.votes}`);
      await page.goto(`${BASE}/#/p/${pid}/feedback`);
      await until('the inbox without the duplicate', async () => (await rowIds()).length === 3);
    });

    await step('themes ranked as the API ranks them, by each figure, with the formula', async () => {
      await page.click(tid('voc-tab-themes'));
      await page.locator(tid('theme-list')).waitFor();
      for (const sort of ['impact', 'persons', 'accounts', 'revenue', 'bad_days']) {
        if (sort !== 'impact') await page.click(tid(`theme-sort-${sort}`));
        await until(`sort ${sort}`, async () => page.url().endsWith(sort === 'impact' ? '/themes' : `sort=${sort}`) && (await page.locator(`${tid(`theme-sort-${sort}`)}[aria-pressed="true"]`).count()) === 1);
        await page.locator(tid('theme-list')).waitFor();
        const want = (await api('GET', `/projects/${pid}/themes?sort=${sort}`)).themes;
        const got = await page.locator(tid('theme-row')).evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
        check(got.join() === want.map((t) => t.id).join(), `sort ${sort}: page ${got}, API ${want.map((t) => t.id)}`);
      }
      const invoice = page.locator(`${tid('theme-row')}[data-id="${themes.invoice}"]`);
      // ann (acme 900) and bob (globex 100, merged in): 2 persons, 2 accounts, 1000; ann had an error.
      check(await invoice.locator(tid('theme-persons')).innerText() === '2' && await invoice.locator(tid('theme-accounts')).innerText() === '2' &&
        await invoice.locator(tid('theme-revenue')).innerText() === '1,000' && await invoice.locator(tid('theme-bad-days')).innerText() === '50%',
      `invoice row: ${await invoice.innerText()}`);
      const firstByRevenue = await page.locator(tid('theme-row')).first().getAttribute('data-id');
      check(Number(firstByRevenue) === themes.invoice, 'Invoice export is not first by revenue');
      check((await page.locator(tid('theme-formula-text')).innerText()).startsWith('score = 100 × (0.25·persons'), 'the formula is not shown');
      await shot(page, 'voc-themes');
    });

    let sid;
    await step('an NPS survey made in the editor; a hint beside a refused field first', async () => {
      await page.click(tid('voc-tab-surveys'));
      await page.locator(tid('surveys-empty')).waitFor();
      await page.click(tid('survey-new'));
      await page.locator(tid('survey-form')).waitFor();
      await page.click(tid('survey-save'));
      const hint = page.locator(`${tid('field-error')}[data-field-error="name"]`);
      await hint.waitFor();
      check(await page.getAttribute(tid('survey-name'), 'aria-invalid') === 'true', 'the missing name is not marked');
      await page.fill(tid('survey-name'), 'Quarterly NPS');
      await page.click(tid('survey-add-question'));
      await page.selectOption(tid('survey-q-kind-1'), 'open');
      await page.fill(tid('survey-q-text-1'), 'What is the main reason for your score?');
      await page.fill(tid('survey-url'), '/billing');
      await page.fill(tid('survey-wait-days'), '30');
      await page.selectOption(tid('survey-start'), 'now');
      await page.click(tid('survey-save'));
      await page.locator(tid('survey-responses')).waitFor();
      sid = Number(/surveys\/(\d+)/.exec(page.url())[1]);
      const s = await api('GET', `/projects/${pid}/surveys/${sid}`);
      check(s.status === 'running' && s.questions[0].scale === 10 && s.questions[1].type === 'open' && s.conditions.url === '/billing' &&
        s.conditions.seenSurveyWaitPeriodInDays === 30, `stored survey ${JSON.stringify(s)}`);
    });

    await step('answers arrive as survey sent; the results page shows the NPS over time', async () => {
      const s = await api('GET', `/projects/${pid}/surveys/${sid}`);
      const [nps, why] = s.questions;
      const answer = (d, score, text) => ({ event: 'survey sent', distinct_id: d, properties: {
        $survey_id: String(sid), $survey_name: s.name, [`$survey_response_${nps.id}`]: score, [`$survey_response_${why.id}`]: text,
        $survey_questions: [{ id: nps.id, question: nps.question, response: score }, { id: why.id, question: why.question, response: text }], $survey_completed: true } });
      await capture([answer('ann', 3, 'Invoice export keeps failing'), answer('bob', 9, 'Fast support'), answer('cy', 10, 'Love it')]);
      await until('three respondents', async () => (await api('GET', `/projects/${pid}/surveys/${sid}/results`)).respondents === 3);
      await page.reload();
      await page.locator(tid('survey-nps-score')).waitFor();
      // 2 promoters, 1 detractor of 3: 66.67 − 33.33 = 33.
      check(await page.locator(tid('survey-nps-score')).innerText() === '33', `NPS shown ${await page.locator(tid('survey-nps-score')).innerText()}`);
      await page.locator(`${tid('survey-nps-chart')} canvas`).waitFor();
      check((await page.locator('.open-answers').innerText()).includes('Invoice export keeps failing'), 'open answers missing');
      await page.selectOption(tid('survey-breakdown'), '$channel');
      await page.locator(tid('survey-segments')).waitFor();
      await shot(page, 'voc-survey');
    });

    await step('home: the top theme beside its customers\' stage, the NPS and the open SLA breaches', async () => {
      await page.goto(`${BASE}/#/p/${pid}/home`);
      await page.locator(tid('home-voc')).waitFor();
      const stages = page.locator(tid('journey-stage'));
      // ann and bob are at Activation (the third stage).
      const activation = stages.nth(2);
      await activation.locator(`${tid('journey-theme')}[data-id="${themes.invoice}"]`).waitFor();
      check((await stages.nth(1).locator(`${tid('journey-theme')}[data-id="${themes.dark}"]`).count()) === 1, 'Dark mode is not beside Acquisition (cy and dee signed up)');
      check(await page.locator(tid('home-nps')).innerText() === '33', `home NPS ${await page.locator(tid('home-nps')).innerText()}`);
      const sla = await api('GET', `/projects/${pid}/feedback/sla`).catch(() => null);
      if (sla) check(await page.locator(tid('home-sla-breaches')).innerText() === String(sla.breaches.length), 'SLA breaches differ from the API');
      await shot(page, 'voc-home');
      await page.click(`${tid('journey-theme')}[data-id="${themes.invoice}"]`);
      // The theme's items: ann's, and her detractor answer (3, "Invoice export
      // keeps failing"), which the survey filed as feedback under the theme
      // its text is like.
      const fromSurvey = (await api('GET', `/projects/${pid}/feedback?theme=${themes.invoice}`)).items.find((x) => x.source === 'survey');
      check(fromSurvey && fromSurvey.distinct_id === 'ann' && fromSurvey.text === 'Invoice export keeps failing', `the detractor's answer as feedback: ${JSON.stringify(fromSurvey)}`);
      await until('the theme\'s inbox', async () => page.url().includes(`theme=${themes.invoice}`) &&
        (await rowIds()).join() === [items.ko, fromSurvey.id].sort((a, b) => a - b).join());
      const navRows = await page.locator('#main-nav ul a').evaluateAll((els) => new Set(els.map((e) => Math.round(e.getBoundingClientRect().top))).size);
      check(navRows === 1, `the top bar's sections take ${navRows} rows at 1280 px`);
    });

    await step('no script errors in the pages', async () => {
      check(pageErrors.length === 0, `uncaught errors: ${pageErrors.join(' | ')}`);
    });
    await ctx.close();
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log(`${passed} passed, 0 failed`);
}, (err) => {
  console.error(`voc: ${err.message}`);
  console.log(`${passed} passed, 1 failed`);
  process.exit(1);
});
