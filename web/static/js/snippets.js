// How to send the first event: the posthog-js snippet (the server's own,
// from /settings, when the user may read it) and a curl call to /capture/.

import { h, codeBlock } from './dom.js';
import { get, P } from './api.js';

export function fallbackSnippet(token) {
  return `// npm install posthog-js
import posthog from 'posthog-js'

posthog.init('${token}', { api_host: '${location.origin}' })
posthog.capture('signed_up', { plan: 'free' })`;
}

export function curlExample(token) {
  return `curl -X POST ${location.origin}/capture/ \\
  -H 'Content-Type: application/json' \\
  -d '{"api_key":"${token}","event":"signed_up","distinct_id":"user-1","properties":{"plan":"free"}}'`;
}

// sendFirstEvent renders both examples; the server snippet replaces the
// built one when /settings answers.
export function sendFirstEvent(project, scope) {
  const token = project.token || '<project token>';
  const jsHost = h('div', null, codeBlock(fallbackSnippet(token), 'snippet-js'));
  get(P(project.id, '/settings'), { signal: scope.signal }).then((s) => {
    if (s && s.snippet) jsHost.replaceChildren(codeBlock(s.snippet, 'snippet-js'));
  }).catch(() => { /* keep the built snippet */ });
  return h('div', { class: 'snippets' },
    h('h3', null, 'In a web page (posthog-js)'), jsHost,
    h('h3', null, 'From anywhere (curl)'), codeBlock(curlExample(token), 'snippet-curl'),
    h('p', { class: 'muted' }, 'Your project token is ', h('code', { 'data-testid': 'project-token' }, token),
      '. It only allows sending events, so it is safe in web pages.'));
}
