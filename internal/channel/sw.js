// Journey Web Push service worker.
//
// Shows the notification a campaign sends and opens its link on click.
// The push payload (decrypted by the browser) is the JSON
// {"title", "body", "url", "key"}: the key is the message's idempotency
// key and becomes the notification's tag, so a re-delivered message
// replaces the one already shown instead of showing twice.
'use strict';

function safeURL(u) {
  if (typeof u !== 'string' || u === '') return null;
  try {
    const x = new URL(u, self.location.origin);
    return x.protocol === 'https:' || x.protocol === 'http:' ? x.href : null;
  } catch (e) {
    return null;
  }
}

function str(v) {
  return typeof v === 'string' ? v : '';
}

self.addEventListener('push', (event) => {
  let msg = {};
  if (event.data) {
    try {
      msg = event.data.json() || {};
    } catch (e) {
      msg = { body: event.data.text() };
    }
  }
  const options = {
    body: str(msg.body),
    data: { url: safeURL(msg.url) },
  };
  if (str(msg.key) !== '') options.tag = msg.key;
  event.waitUntil(self.registration.showNotification(str(msg.title) || 'Notification', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  if (!url) return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) {
      if (w.url === url && 'focus' in w) return w.focus();
    }
    if (self.clients.openWindow) return self.clients.openWindow(url);
  })());
});

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
