// The learning archive's links: an experiment opens its results, a
// campaign's decision (kind "campaign", issue 15) its campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('archive entries link to their experiment or campaign', async () => {
  const { archiveHref } = await import('../static/js/archive.js');
  assert.equal(archiveHref(3, { id: 7, kind: 'experiment' }), '#/p/3/experiments/7');
  assert.equal(archiveHref(3, { id: 7 }), '#/p/3/experiments/7');
  assert.equal(archiveHref(3, { id: 8, kind: 'campaign', campaign_id: 12 }), '#/p/3/campaigns/12');
  // A campaign entry without its campaign still opens something real.
  assert.equal(archiveHref(3, { id: 8, kind: 'campaign' }), '#/p/3/experiments/8');
});
