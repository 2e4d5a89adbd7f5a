// Evaluates a Journey project's flags with posthog-node, locally (from
// /flags/definitions, with the secret key) and remotely (/flags), for
// every subject of a file, and sends a few $feature_flag_called events.
// Usage: node flags.mjs URL TOKEN SECRET SUBJECTS.json OUT.json
// SUBJECTS.json: [{"id": "<distinct id>", "props": {…person properties}}]
// OUT.json: {"local": {id: {key: value}}, "remote": {…}, "ready": bool}
// The Go test (internal/app/flags_sdk_test.go) compares the answers with
// the server's and checks the events that arrived.
import { PostHog } from 'posthog-node';
import { readFileSync, writeFileSync } from 'node:fs';

const [url, token, secret, subjectsFile, outFile] = process.argv.slice(2);
const subjects = JSON.parse(readFileSync(subjectsFile, 'utf8'));

const local = new PostHog(token, { host: url, personalApiKey: secret, featureFlagsPollingInterval: 3600000, flushAt: 20, flushInterval: 0 });
const remote = new PostHog(token, { host: url, flushAt: 20, flushInterval: 0 });
const errors = [];
local.on('error', (e) => errors.push(String(e)));
remote.on('error', (e) => errors.push(String(e)));

const out = { local: {}, remote: {}, ready: await local.waitForLocalEvaluationReady(10000) };

for (const s of subjects) {
  out.local[s.id] = await local.getAllFlags(s.id, { personProperties: s.props, onlyEvaluateLocally: true });
}
// A reload sends the ETag it has: the server answers 304.
await local.reloadFeatureFlags();

let next = 0;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < subjects.length) {
    const s = subjects[next++];
    out.remote[s.id] = await remote.getAllFlags(s.id, { personProperties: s.props });
  }
}));

// Exposures: one locally evaluated, one remotely, per subject.
for (const s of subjects.slice(0, 3)) {
  await local.getFeatureFlag('checkout', s.id, { personProperties: s.props });
  await remote.getFeatureFlag('banner', s.id, { personProperties: s.props });
}
await local.shutdown();
await remote.shutdown();
out.errors = errors;
writeFileSync(outFile, JSON.stringify(out));
