// How to send the first event: the browser snippet (the server's
// websdk.Snippet, from /settings: its one source) and a curl call to
// /capture/.

import { h, codeBlock, loading } from './dom.js';
import { get, P } from './api.js';

export function curlExample(token) {
  return `curl -X POST ${location.origin}/capture/ \\
  -H 'Content-Type: application/json' \\
  -d '{"api_key":"${token}","event":"signed_up","distinct_id":"user-1","properties":{"plan":"free"}}'`;
}

// testedVersions is the line naming the SDK releases Journey was tested
// with (/settings' sdk_versions).
export function testedVersions(versions) {
  const v = versions || {};
  const names = Object.keys(v).sort().reverse().map((k) => `${k} ${v[k]}`);
  return names.length ? `Tested with ${names.join(' and ')}.` : '';
}

// sendFirstEvent renders both examples; the browser snippet comes from
// /settings, so there is one copy of it, in the server.
export function sendFirstEvent(project, scope) {
  const token = project.token || '<project token>';
  const jsHost = h('div', null, loading());
  get(P(project.id, '/settings'), { signal: scope.signal }).then((s) => {
    jsHost.replaceChildren(codeBlock(s.snippet, 'snippet-js'), h('p', { class: 'muted small' }, testedVersions(s.sdk_versions)));
  }).catch(() => {
    jsHost.replaceChildren(h('p', { class: 'muted small' }, 'The snippet is in Settings; or point posthog-js’s api_host at ', h('code', null, location.origin), '.'));
  });
  return h('div', { class: 'snippets' },
    h('h3', null, 'In a web page (posthog-js)'), jsHost,
    h('h3', null, 'From anywhere (curl)'), codeBlock(curlExample(token), 'snippet-curl'),
    h('p', { class: 'muted' }, 'Your project token is ', h('code', { 'data-testid': 'project-token' }, token),
      '. It only allows sending events, so it is safe in web pages.'));
}
