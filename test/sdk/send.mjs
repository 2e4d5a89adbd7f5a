// Sends events to a Journey server with the real SDKs and every wire
// encoding posthog-js and analytics.js use. Usage: node send.mjs URL TOKEN
// The Go test (internal/app/sdk_test.go) checks what arrived.
import { PostHog } from 'posthog-node';
import { Analytics } from '@segment/analytics-node';
import LZString from 'lz-string';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';

const [url, token] = process.argv.slice(2);
const day = new Date(Math.floor(Date.now() / 86400000) * 86400000);
const at = (min) => new Date(day.getTime() + min * 60000);

async function post(path, body, headers = {}) {
  const res = await fetch(url + path, { method: 'POST', body, headers });
  const text = await res.text();
  if (res.status !== 200 && res.status !== 204) throw new Error(`${path}: ${res.status} ${text}`);
}

// posthog-node: captures in several batches, identify, alias, groups.
const ph = new PostHog(token, { host: url, flushAt: 10, flushInterval: 0 });
ph.capture({ distinctId: 'node-anon', event: 'node_capture', timestamp: at(1), properties: { utm_source: 'ads' } });
for (let i = 0; i < 24; i++) ph.capture({ distinctId: `node-bulk-${i % 6}`, event: 'node_capture', timestamp: at(2) });
ph.identify({ distinctId: 'node-user', properties: { email: 'node@example.com' } });
ph.alias({ distinctId: 'node-user', alias: 'node-anon' });
ph.capture({ distinctId: 'node-user', event: 'node_capture', timestamp: at(3) });
ph.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { plan: 'pro' } });
await ph.shutdown();

// @segment/analytics-node: every call type, batched to /v1/batch.
const seg = new Analytics({ writeKey: token, host: url, maxEventsInBatch: 5, flushInterval: 50 });
const cb = (err) => { if (err) throw err; };
seg.track({ anonymousId: 'seg-anon', event: 'seg_track', timestamp: at(4), properties: { plan: 'free' } }, cb);
seg.page({ anonymousId: 'seg-anon', name: 'Home', timestamp: at(5), properties: { url: 'https://x.example/' } }, cb);
seg.identify({ userId: 'seg-user', anonymousId: 'seg-anon', traits: { email: 'seg@example.com' }, timestamp: at(6) }, cb);
seg.alias({ userId: 'seg-user', previousId: 'seg-old' }, cb);
seg.track({ userId: 'seg-old', event: 'seg_track', timestamp: at(7) }, cb);
seg.screen({ userId: 'seg-user', name: 'Settings', timestamp: at(8) }, cb);
seg.group({ userId: 'seg-user', groupId: 'globex', traits: { plan: 'growth' }, timestamp: at(9) }, cb);
for (let i = 0; i < 8; i++) seg.track({ userId: `seg-bulk-${i}`, event: 'seg_track', timestamp: at(10) }, cb);
await seg.closeAndFlush({ timeout: 10000 });

// posthog-js wire variants.
const ev = (event, distinct) => ({ event, uuid: randomUUID(), timestamp: at(11).toISOString(), properties: { distinct_id: distinct, token } });
const sentAt = new Date().toISOString();
// 1. current posthog-js: gzip sent as text/plain with no compression param.
await post('/e/?ip=1&_=' + Date.now(), gzipSync(JSON.stringify({ api_key: token, batch: [ev('js_gzip', 'js-1'), ev('js_gzip', 'js-2')], sent_at: sentAt })), { 'Content-Type': 'text/plain' });
// 2. sendBeacon: form body data=<base64> with compression=base64 and beacon=1.
const b64 = Buffer.from(JSON.stringify([ev('js_beacon', 'js-1')])).toString('base64');
await post('/e/?compression=base64&beacon=1', 'data=' + encodeURIComponent(b64), { 'Content-Type': 'application/x-www-form-urlencoded' });
// 3. older clients: lz-string base64.
const lz = LZString.compressToBase64(JSON.stringify([ev('js_lz64', 'js-1'), ev('js_lz64', 'js-3')]));
await post('/e/?compression=lz64', 'data=' + encodeURIComponent(lz), { 'Content-Type': 'application/x-www-form-urlencoded' });
// 4. a plain JSON array.
await post('/batch/', JSON.stringify([ev('js_array', 'js-1'), ev('js_array', 'js-2'), ev('js_array', 'js-3')]), { 'Content-Type': 'application/json' });
// 5. gzip by Content-Encoding header (posthog-node style) on /i/v0/e/.
await post('/i/v0/e/', gzipSync(JSON.stringify({ api_key: token, batch: [ev('js_header_gzip', 'js-4')] })), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });

// analytics.js wire: one call per short route, text/plain, writeKey in body and Basic auth.
const basic = 'Basic ' + Buffer.from(token + ':').toString('base64');
const short = [
  ['/v1/t', { type: 'track', event: 'ajs_track', anonymousId: 'ajs-anon', messageId: 'ajs-m1' }],
  ['/v1/p', { type: 'page', name: 'Pricing', anonymousId: 'ajs-anon', messageId: 'ajs-m2' }],
  ['/v1/s', { type: 'screen', name: 'Main', anonymousId: 'ajs-anon', messageId: 'ajs-m3' }],
  ['/v1/i', { type: 'identify', userId: 'ajs-user', anonymousId: 'ajs-anon', traits: { name: 'A' }, messageId: 'ajs-m4' }],
  ['/v1/g', { type: 'group', userId: 'ajs-user', groupId: 'initech', traits: { plan: 'free' }, messageId: 'ajs-m5' }],
  ['/v1/a', { type: 'alias', userId: 'ajs-user', previousId: 'ajs-prev', messageId: 'ajs-m6' }],
  ['/v1/track', { type: 'track', event: 'ajs_track', userId: 'ajs-user', messageId: 'ajs-m7' }],
];
for (const [path, msg] of short) {
  await post(path, JSON.stringify({ ...msg, writeKey: token, timestamp: at(12).toISOString(), sentAt: new Date().toISOString() }), { 'Content-Type': 'text/plain', Authorization: basic });
}
// The same messageId again (a retry): must not be stored twice.
await post('/v1/t', JSON.stringify({ type: 'track', event: 'ajs_track', anonymousId: 'ajs-anon', messageId: 'ajs-m1', writeKey: token, timestamp: at(12).toISOString() }), { 'Content-Type': 'text/plain' });
// Batching mode: /v1/b with writeKey only in the body.
await post('/v1/b', JSON.stringify({ writeKey: token, sentAt: new Date().toISOString(), batch: [
  { type: 'track', event: 'ajs_batch', userId: 'ajs-user', messageId: 'ajs-b1', timestamp: at(13).toISOString() },
  { type: 'track', event: 'ajs_batch', userId: 'ajs-prev', messageId: 'ajs-b2', timestamp: at(13).toISOString() },
] }), { 'Content-Type': 'text/plain' });
console.log('sent');
