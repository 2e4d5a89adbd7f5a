// The campaign editor: #/p/{pid}/campaigns/new[?kind=broadcast|?copy={id}]
// and #/p/{pid}/campaigns/{id}/edit. A triggered reminder: the trigger
// event and its filters (the insight builder's filter rows, form.js) or
// entering a cohort, the
// goal (an event, matched on a trigger property such as the same item,
// within a window), the wait (a fixed delay or the person's best time
// after a minimum delay), the holdout and attribution, the audience rules
// (frequency cap, quiet hours, re-eligibility, send rate), the channel
// (webhook, email or Web Push) and the message variants with their
// weights and templates. A broadcast: a cohort and a time instead of the
// trigger and wait. Saved campaigns preview every variant for a real
// person (POST /campaigns/{id}/preview) and send a test to the user
// (POST /campaigns/{id}/test).
//
// The draft (campaignmodel.js) is the single source of truth: controls
// write into it, structural changes rebuild the form, and Save turns it
// into the API's body. Controls carry data-field, the server's path of
// what they edit, so a hint or a 400 {"error","field"} is shown beside
// the right control.

import { h, clear, field, datalist, errorBox, setError, loading, fmtNum, isAbort, uid, codeBlock } from './dom.js';
import { get, post, api, P, qs } from './api.js';
import { formContext, markField, clearMarks } from './form.js';
import { firstErrorPerField } from './flagmodel.js';
import {
  KINDS, CHANNELS, URGENCIES, newDraft, newVariant, draftFromCampaign, campaignBody, patchBody, weightShares, normalizeDuration,
} from './campaignmodel.js';

const TEMPLATE_HELP = 'Templates: {{person.name}}, {{ person.name | there }} (a default), {{event.price}} (trigger properties), {{item}} (the matched value), {{campaign.name}}. Values are escaped for the channel.';

export default async function campaignEditorPage(ctx) {
  const { pid, main, scope } = ctx;
  const idParam = ctx.params[1];
  const isNew = !idParam;
  const copyOf = isNew ? ctx.query.get('copy') : null;
  clear(main, h('h1', null, isNew ? 'New campaign' : 'Edit campaign'), loading());

  const lists = { events: datalist(uid('dl-events'), []), props: datalist(uid('dl-props'), []), host: h('div', { hidden: true }) };
  const eventsP = get(P(pid, '/events'), { signal: scope.signal }).catch(() => []);
  const cohortsP = get(P(pid, '/cohorts'), { signal: scope.signal }).catch(() => []);
  get(P(pid, '/properties'), { signal: scope.signal }).then((props) => {
    clear(lists.props, (props || []).map((p) => h('option', { value: p.property, label: `${fmtNum(p.count)} events` })));
  }).catch(() => {});

  let stored = null;
  let d;
  try {
    if (!isNew || copyOf) {
      const c = await get(P(pid, `/campaigns/${encodeURIComponent(idParam || copyOf)}`), { signal: scope.signal });
      d = draftFromCampaign(c);
      if (isNew) d.name = `${d.name} (copy)`;
      else stored = c;
    } else {
      d = newDraft(ctx.query.get('kind'));
    }
  } catch (err) {
    if (isAbort(err)) return;
    clear(main, h('h1', null, 'Campaign'), errorBox(err.status === 404 ? 'This campaign does not exist (it may have been deleted).' : err),
      h('p', null, h('a', { href: `#/p/${pid}/campaigns` }, 'All campaigns')));
    return;
  }
  const [events, cohorts] = await Promise.all([eventsP, cohortsP]);
  if (scope.disposed) return;
  clear(lists.events, (events || []).map((e) => h('option', { value: e.event, label: `${fmtNum(e.count)} in the last 30 days` })));
  const stopped = stored && stored.status === 'stopped';

  const form = h('form', { class: 'campaign-form', 'data-testid': 'campaign-form', novalidate: true });
  const formError = errorBox();
  formError.setAttribute('data-testid', 'campaign-error');
  const saveStatus = h('span', { class: 'save-status', role: 'status', 'data-testid': 'campaign-save-status' });
  const secretHost = h('div', { 'data-testid': 'campaign-secret-host' });
  const title = h('h1', { 'data-testid': 'campaign-editor-title' }, isNew ? 'New campaign' : `Edit ${stored.name}`);
  const sideHost = h('aside', { class: 'flag-side' });

  clear(main, lists.events, lists.props, lists.host,
    h('p', { class: 'crumbs' }, h('a', { href: `#/p/${pid}/campaigns` }, 'Campaigns'), ' / ',
      stored ? [h('a', { href: `#/p/${pid}/campaigns/${stored.id}` }, stored.name), ' / '] : null),
    h('div', { class: 'page-head' }, title),
    stopped ? h('p', { class: 'notice', 'data-testid': 'campaign-stopped-notice' }, 'This campaign is stopped: it cannot change. ',
      h('a', { href: `#/p/${pid}/campaigns/new?copy=${stored.id}` }, 'Copy it into a new campaign'), '.') : null,
    secretHost,
    h('div', { class: 'flag-layout' }, h('div', { class: 'flag-main' }, form), sideHost));

  const rerender = (focusTestid) => {
    const active = document.activeElement;
    const keep = focusTestid || (active && form.contains(active) ? active.getAttribute('data-testid') : null);
    renderForm();
    if (keep) {
      const el = form.querySelector(`[data-testid="${CSS.escape(keep)}"]`);
      if (el) el.focus();
    }
  };
  const fx = formContext({ pid, scope, known: (events || []).map((e) => e.event), actions: [], lists, rerender });

  // durationInput edits a duration: days and weeks typed ("3d") are
  // written back as Go's hours when the field is left.
  const durationInput = (path, value, set, attrs) => {
    const el = fx.textInput(path, value, set, { class: 'narrow', autocomplete: 'off', ...attrs });
    el.addEventListener('change', () => {
      const n = normalizeDuration(el.value);
      if (n.value && n.value !== el.value.trim()) { el.value = n.value; set(n.value); }
    });
    return el;
  };

  // -------------------------------------------------------------- sections

  function basics() {
    return h('section', { class: 'card' }, h('h2', null, 'Campaign'),
      h('div', { class: 'inline wrap' },
        field('Name', fx.textInput('name', d.name, (v) => { d.name = v; }, { 'data-testid': 'campaign-name', placeholder: 'Cart reminder', required: true })),
        field('Kind', fx.selectInput('kind', KINDS, d.kind, (v) => { d.kind = v; rerender('campaign-kind'); }, { 'data-testid': 'campaign-kind' }))),
      isNew ? h('label', { class: 'check' }, fx.checkbox('status', d.activate, (v) => { d.activate = v; }, { 'data-testid': 'campaign-activate' }),
        'Activate when saved (otherwise it is saved as a draft)') : null);
  }

  function triggerSection() {
    if (d.kind === 'broadcast') {
      const at = h('input', { type: 'datetime-local', value: d.at, 'data-field': 'broadcast.at', 'data-testid': 'campaign-broadcast-at' });
      at.addEventListener('input', () => { d.at = at.value; });
      return h('section', { class: 'card' }, h('h2', null, 'Audience and time'),
        h('div', { class: 'inline wrap' },
          field('Cohort', cohortPicker('broadcast.cohort', d.cohort, (v) => { d.cohort = v; }, 'campaign-cohort')),
          field('Send at (your time)', at, 'Empty: when the campaign is activated.')));
    }
    const mode = field('Starts when', fx.selectInput('trigger', [['event', 'A person does an event'], ['cohort', 'A person enters a cohort']], d.trigger_mode,
      (v) => { d.trigger_mode = v; rerender('campaign-trigger-mode'); }, { 'data-testid': 'campaign-trigger-mode' }));
    if (d.trigger_mode === 'cohort') {
      return h('section', { class: 'card' }, h('h2', null, 'Trigger'), mode,
        field('Cohort', cohortPicker('trigger.cohort', d.trigger_cohort, (v) => { d.trigger_cohort = v; }, 'campaign-trigger-cohort'),
          'The cohort is evaluated regularly; each person new in it gets one message.'));
    }
    return h('section', { class: 'card' }, h('h2', null, 'Trigger'), mode,
      h('p', { class: 'muted hint' }, 'Each such event of a person starts one reminder (the audience rules below may skip it).'),
      field('When a person does', fx.plainEventInput('trigger.event', d.trigger.event, (v) => { d.trigger.event = v; }, { 'data-testid': 'campaign-trigger-event', placeholder: 'added_to_cart' })),
      fx.subFilters(d.trigger, 'trigger', 'trigger-', () => d.trigger.event, 'the trigger'));
  }

  // cohortPicker chooses one of the project's cohorts (a stored id that is
  // gone stays choosable, marked).
  function cohortPicker(path, value, set, testid) {
    const opts = (cohorts || []).map((c) => [String(c.id), c.name]);
    if (value && !opts.some(([v]) => v === value)) opts.push([value, `cohort ${value} (not found)`]);
    if (!opts.length) return h('p', { class: 'muted small', 'data-field': path }, 'This project has no cohorts yet: save one from an insight.');
    return fx.selectInput(path, [['', 'Choose a cohort…'], ...opts], value, set, { 'data-testid': testid });
  }

  function goalSection() {
    const broadcast = d.kind === 'broadcast';
    return h('section', { class: 'card' }, h('h2', null, 'Goal'),
      h('p', { class: 'muted hint' }, broadcast
        ? 'Optional: the conversion the report counts after the message.'
        : 'The conversion: doing it before the message cancels the reminder; after it, it counts as the message\'s conversion.'),
      h('div', { class: 'inline wrap' },
        field('Goal event', fx.plainEventInput('goal.event', d.goal.event, (v) => { d.goal.event = v; }, { 'data-testid': 'campaign-goal-event', placeholder: 'order_completed', required: !broadcast })),
        broadcast || d.trigger_mode === 'cohort' ? null : field('Same value of the trigger\'s', fx.propInput('goal.match', d.goal.match, (v) => { d.goal.match = v; }, { 'data-testid': 'campaign-goal-match', placeholder: 'item' }),
          'Optional: a purchase of another item does not count.'),
        broadcast ? null : field('Within', durationInput('goal.within', d.goal.within, (v) => { d.goal.within = v; }, { 'data-testid': 'campaign-goal-within', placeholder: '72h' }))),
      fx.subFilters(d.goal, 'goal', 'goal-', () => d.goal.event, 'the goal'));
  }

  function timingSection() {
    if (d.kind === 'broadcast') return null;
    const best = d.wait_mode === 'best_time';
    return h('section', { class: 'card', 'data-field': 'wait' }, h('h2', null, 'When to send'),
      field('Wait', fx.selectInput('wait', [['delay', 'A fixed delay after the trigger'], ['best_time', 'The person\'s best time (most engaged hour)']], d.wait_mode,
        (v) => { d.wait_mode = v; rerender('campaign-wait-mode'); }, { 'data-testid': 'campaign-wait-mode' })),
      best
        ? field('At least after', durationInput('wait.min_delay', d.min_delay, (v) => { d.min_delay = v; }, { 'data-testid': 'campaign-min-delay', placeholder: '1h' }),
          'Each person\'s most engaged local hour over the last 90 days, never sooner than this; new persons get the project\'s.')
        : field('Delay', durationInput('wait.delay', d.delay, (v) => { d.delay = v; }, { 'data-testid': 'campaign-delay', placeholder: '24h' }),
          '0s sends at once. The campaign\'s golden-time report shows when conversions come.'));
  }

  function measurementSection() {
    return h('section', { class: 'card' }, h('h2', null, 'Measurement'),
      h('div', { class: 'inline wrap' },
        field('Holdout %', fx.numInput('holdout', d.holdout, (v) => { d.holdout = v ?? ''; }, { 'data-testid': 'campaign-holdout', min: 0, max: 99, step: 'any', class: 'narrow' }),
          'Persons held out get nothing (a "would have sent" record): the lift is measured against them.'),
        field('Attribution window', durationInput('attribution', d.attribution, (v) => { d.attribution = v; }, { 'data-testid': 'campaign-attribution', placeholder: '72h' }),
          'A goal this long after the message is its conversion.')));
  }

  function audienceSection() {
    const cap = h('div', { class: 'inline wrap', hidden: !d.cap_on },
      field('At most', fx.numInput('audience.frequency_cap.count', d.cap_count, (v) => { d.cap_count = v; }, { 'data-testid': 'campaign-cap-count', min: 1, max: 1000, class: 'narrow' })),
      field('messages per', durationInput('audience.frequency_cap.per', d.cap_per, (v) => { d.cap_per = v; }, { 'data-testid': 'campaign-cap-per', placeholder: '24h' })));
    const timeIn = (path, value, set, testid) => {
      const el = h('input', { type: 'time', value, 'data-field': path, 'data-testid': testid });
      el.addEventListener('input', () => set(el.value));
      return el;
    };
    const quiet = h('div', { class: 'inline wrap', hidden: !d.quiet_on },
      field('From', timeIn('audience.quiet_hours.start', d.quiet_start, (v) => { d.quiet_start = v; }, 'campaign-quiet-start')),
      field('To', timeIn('audience.quiet_hours.end', d.quiet_end, (v) => { d.quiet_end = v; }, 'campaign-quiet-end')));
    return h('section', { class: 'card', 'data-field': 'audience' }, h('h2', null, 'Audience rules'),
      h('label', { class: 'check' }, fx.checkbox('audience.frequency_cap', d.cap_on, (v) => { d.cap_on = v; cap.hidden = !v; }, { 'data-testid': 'campaign-cap-on' }),
        'Frequency cap per person on this channel (all campaigns)'),
      cap,
      h('label', { class: 'check' }, fx.checkbox('audience.quiet_hours', d.quiet_on, (v) => { d.quiet_on = v; quiet.hidden = !v; }, { 'data-testid': 'campaign-quiet-on' }),
        'Quiet hours in the person\'s time zone (a send moves to their end)'),
      quiet,
      h('div', { class: 'inline wrap' },
        field('Re-eligible after', durationInput('audience.reeligible_after', d.reeligible_after, (v) => { d.reeligible_after = v; }, { 'data-testid': 'campaign-reeligible', placeholder: 'none' }),
          'After a reminder, a person\'s triggers are skipped this long.'),
        field('Send rate (per second)', fx.numInput('audience.send_rate', d.send_rate, (v) => { d.send_rate = v ?? ''; }, { 'data-testid': 'campaign-send-rate', min: 0, step: 'any', class: 'narrow', placeholder: 'no cap' }))));
  }

  function channelSection() {
    const ch = d.channel;
    const text = (key, label, attrs, hint) => field(label, fx.textInput(`channel.${key}`, ch[key], (v) => { ch[key] = v; }, { 'data-testid': `campaign-channel-${key}`, ...attrs }), hint);
    let fields;
    if (ch.type === 'email') {
      fields = [h('div', { class: 'inline wrap' }, text('from', 'From', { placeholder: 'Shop <news@shop.example>' }), text('reply_to', 'Reply to', { placeholder: 'optional' })),
        text('subject', 'Default subject', { placeholder: 'for variants without one' }),
        h('p', { class: 'muted hint' }, 'Sent through the server\'s SMTP relay (--smtp) to the person\'s $email, with one-click unsubscribe.')];
    } else if (ch.type === 'web_push') {
      fields = [h('div', { class: 'inline wrap' },
        field('Time to live', durationInput('channel.ttl', ch.ttl, (v) => { ch.ttl = v; }, { 'data-testid': 'campaign-channel-ttl', placeholder: '24h' })),
        field('Urgency', fx.selectInput('channel.urgency', URGENCIES, ch.urgency || '', (v) => { ch.urgency = v; }, { 'data-testid': 'campaign-channel-urgency' }))),
      h('p', { class: 'muted hint' }, 'Sent to the browsers that subscribed through /push/subscribe (the server needs its --vapid-* keys).')];
    } else {
      fields = [text('url', 'URL', { placeholder: 'https://hooks.example/journey', type: 'url' }, 'Journey POSTs each message as JSON, signed by Standard Webhooks.'),
        text('secret', 'Signing secret', { placeholder: stored && stored.channel && stored.channel.type === 'webhook' ? 'unchanged (stored)' : 'empty: Journey makes one', autocomplete: 'off' },
          'whsec_… (Standard Webhooks). It is shown once, when Journey makes it.')];
    }
    return h('section', { class: 'card', 'data-field': 'channel' }, h('h2', null, 'Channel'),
      field('Send by', fx.selectInput('channel.type', CHANNELS, ch.type, (v) => { ch.type = v; rerender('campaign-channel-type'); }, { 'data-testid': 'campaign-channel-type' })),
      fields);
  }

  const shareBoxes = [];
  function updateShares() {
    const shares = weightShares(d.variants);
    shareBoxes.forEach((el, i) => { el.textContent = `${fmtNum(shares[i] ?? 0)}% of messages`; });
  }

  function variantsSection() {
    const subjectLabel = d.channel.type === 'email' ? 'Subject' : d.channel.type === 'web_push' ? 'Title' : 'Subject (in the payload)';
    shareBoxes.length = 0;
    const rows = d.variants.map((v, i) => {
      const p = `variants[${i}]`;
      const share = h('small', { class: 'hint', 'data-testid': `variant-share-${i}` });
      shareBoxes.push(share);
      const body = h('textarea', { rows: 3, 'data-field': `${p}.body`, 'data-testid': `campaign-variant-body-${i}`, placeholder: 'Still thinking about {{item}}? It is waiting in your cart.' });
      body.value = v.body;
      body.addEventListener('input', () => { v.body = body.value; });
      const weight = field('Weight', fx.numInput(`${p}.weight`, v.weight, (x) => { v.weight = x ?? ''; updateShares(); },
        { 'data-testid': `campaign-variant-weight-${i}`, min: 0, step: 'any', class: 'narrow' }));
      weight.append(share);
      return h('li', { class: 'variant-card', 'data-field': p, 'data-testid': `campaign-variant-${i}` },
        h('div', { class: 'inline wrap' },
          field('Name', fx.textInput(`${p}.name`, v.name, (x) => { v.name = x; }, { 'data-testid': `campaign-variant-name-${i}`, class: 'narrow' })),
          weight,
          d.variants.length > 1 ? fx.removeBtn(`Remove variant ${v.name || i + 1}`, () => { d.variants.splice(i, 1); rerender('campaign-variant-add'); }, `campaign-variant-remove-${i}`) : null),
        field(subjectLabel, fx.textInput(`${p}.subject`, v.subject, (x) => { v.subject = x; }, { 'data-testid': `campaign-variant-subject-${i}` })),
        field('Body', body),
        field('Link', fx.textInput(`${p}.url`, v.url, (x) => { v.url = x; }, { 'data-testid': `campaign-variant-url-${i}`, placeholder: 'https://shop.example/item/{{item}}' }),
          'Clicks go through Journey\'s tracking link, which redirects here only.'));
    });
    updateShares();
    return h('section', { class: 'card', 'data-field': 'variants' }, h('h2', null, 'Messages'),
      h('p', { class: 'muted hint' }, 'Two or more copies split by weight test which words work. ', TEMPLATE_HELP),
      h('ol', { class: 'rows variant-list', 'aria-label': 'Variants' }, rows),
      d.variants.length < 10 ? fx.addBtn('Add variant', () => { d.variants.push({ ...newVariant(d.variants.length), weight: 50 }); rerender(`campaign-variant-name-${d.variants.length - 1}`); }, 'campaign-variant-add') : null);
  }

  function renderForm() {
    clear(form, basics(), triggerSection(), goalSection(), timingSection(), measurementSection(), audienceSection(), channelSection(), variantsSection(),
      ctx.canWrite && !stopped ? h('div', { class: 'form-actions save-row' },
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'campaign-save' }, isNew ? 'Create campaign' : 'Save'),
        stored ? h('a', { class: 'btn', href: `#/p/${pid}/campaigns/${stored.id}` }, 'Cancel') : null,
        saveStatus) : (ctx.canWrite ? null : h('p', { class: 'muted' }, 'Changing campaigns needs the member role.')),
      formError);
  }

  // A hint found before sending goes away once the draft is valid.
  let clientError = false;
  const recheck = () => {
    if (clientError && campaignBody(d).errors.length === 0) {
      clientError = false;
      clearFieldErrors();
    }
  };
  form.addEventListener('input', recheck);
  form.addEventListener('change', recheck);
  form.addEventListener('submit', (e) => { e.preventDefault(); save(); });

  // -------------------------------------------------------------- errors

  function clearFieldErrors() {
    setError(formError, null);
    clearMarks(form);
    for (const el of form.querySelectorAll('.field-error')) el.remove();
  }

  // fieldError shows msg beside the control that edits path (or its
  // nearest enclosing one); false when none is on the form.
  function fieldError(path, msg) {
    const note = h('small', { class: 'field-error error-text', role: 'alert', 'data-testid': 'field-error', 'data-field-error': path }, msg);
    const els = markField(form, path, note);
    if (!els.length) return false;
    const el = els[0];
    const holder = el.closest('.field') || el;
    holder.after(note);
    const drop = () => note.remove();
    el.addEventListener('input', drop, { once: true });
    el.addEventListener('change', drop, { once: true });
    return true;
  }

  function showErrors(errors) {
    clientError = true;
    const list = firstErrorPerField(errors);
    const unplaced = list.filter((e) => !fieldError(e.field, e.msg));
    setError(formError, list.length === 1 && !unplaced.length ? 'Fix the field marked below.'
      : `${list.length} fields need a change${unplaced.length ? `: ${unplaced.map((e) => `${e.field}: ${e.msg}`).join(' · ')}` : ' (marked below).'}`);
    const first = form.querySelector('[aria-invalid="true"]');
    if (first && first.focus) first.focus();
  }

  // -------------------------------------------------------------- save

  async function save() {
    clearFieldErrors();
    saveStatus.textContent = '';
    clientError = false;
    const { body, errors } = stored ? patchBody(d) : campaignBody(d);
    if (errors.length) { showErrors(errors); return; }
    const btn = form.querySelector('[data-testid="campaign-save"]');
    if (btn) btn.disabled = true;
    try {
      const saved = stored
        ? await api('PATCH', P(pid, `/campaigns/${stored.id}`), body, { signal: scope.signal })
        : await post(P(pid, '/campaigns'), body, { signal: scope.signal });
      if (saved.webhook_secret) {
        showSecret(saved);
        return;
      }
      ctx.navigate(`#/p/${pid}/campaigns/${saved.id}`);
    } catch (err) {
      if (isAbort(err)) return;
      const placed = err.field && fieldError(err.field, err.message);
      setError(formError, placed ? `${err.message} (${err.field}, marked below)` : err);
      const first = form.querySelector('[aria-invalid="true"]');
      if (first && first.focus) first.focus();
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  // showSecret shows the webhook secret Journey made, answered this once.
  function showSecret(saved) {
    clear(form);
    clear(sideHost);
    title.textContent = `Campaign ${saved.name} saved`;
    clear(secretHost, h('section', { class: 'card', 'data-testid': 'campaign-secret' },
      h('h2', null, 'Your webhook signing secret'),
      h('p', null, 'Journey made this secret to sign the campaign\'s webhooks. Copy it into your receiver now: it is not shown again.'),
      codeBlock(saved.webhook_secret, 'campaign-secret-value'),
      h('div', { class: 'form-actions' }, h('a', { class: 'btn primary', href: `#/p/${pid}/campaigns/${saved.id}`, 'data-testid': 'campaign-open' }, 'Open the campaign'))));
  }

  // -------------------------------------------------------------- preview and test

  function previewPanel() {
    if (!stored) {
      return h('section', { class: 'card', 'data-testid': 'campaign-preview-later' }, h('h2', null, 'Preview'),
        h('p', { class: 'muted' }, 'Save the campaign (a draft sends nothing) to preview its messages with a real person\'s data and to send yourself a test.'));
    }
    const persons = datalist(uid('dl-persons'), []);
    const personIn = h('input', { type: 'text', list: persons.id, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'campaign-preview-person', placeholder: 'a distinct id' });
    let suggested = ''; // the newest person's id: a preview needs no typing
    get(P(pid, `/persons${qs({ limit: 20 })}`), { signal: scope.signal }).then((list) => {
      const ids = (list || []).flatMap((p) => (p.distinct_ids || []).slice(0, 1));
      clear(persons, ids.map((id) => h('option', { value: id })));
      if (ids.length) { suggested = ids[0]; personIn.placeholder = suggested; }
    }).catch(() => {});
    const eventIn = h('textarea', { rows: 2, spellcheck: 'false', 'data-testid': 'campaign-preview-event', placeholder: '{"item": "sku-42", "price": 30}' });
    const out = h('div', { 'data-testid': 'campaign-preview', 'aria-live': 'polite' });
    const err = errorBox();
    const variantSel = h('select', { 'data-testid': 'campaign-test-variant' }, (stored.variants || []).map((v) => h('option', { value: v.name }, v.name)));
    const toIn = h('input', { type: 'email', value: ctx.session.user.email, 'data-testid': 'campaign-test-to' });
    const testOut = h('p', { class: 'small', role: 'status', 'data-testid': 'campaign-test-result' });
    const isEmail = stored.channel && stored.channel.type === 'email';

    const request = () => {
      setError(err, null);
      const distinctId = personIn.value.trim() || suggested;
      if (!distinctId) { setError(err, 'Give the distinct id of a person to render the messages for.'); personIn.focus(); return null; }
      let event = {};
      const t = eventIn.value.trim();
      if (t) {
        try { event = JSON.parse(t); } catch (e) { setError(err, `The trigger's properties are not JSON: ${e.message}`); eventIn.focus(); return null; }
        if (!event || typeof event !== 'object' || Array.isArray(event)) { setError(err, 'The trigger\'s properties are one JSON object.'); return null; }
      }
      return { distinct_id: distinctId, event };
    };
    const runPreview = async () => {
      const req = request();
      if (!req) return;
      clear(out, loading('Rendering…'));
      try {
        const res = await post(P(pid, `/campaigns/${stored.id}/preview`), req, { signal: scope.signal });
        clear(out, h('p', { class: 'muted small' }, `For person ${res.person_id} (the saved version of the campaign):`),
          (res.variants || []).map((v) => h('div', { class: 'message-preview', 'data-testid': 'campaign-preview-variant', 'data-variant': v.name },
            h('h3', null, `Variant ${v.name}`),
            v.subject ? h('p', { class: 'preview-subject', 'data-testid': 'preview-subject' }, h('b', null, v.subject)) : null,
            h('pre', { class: 'preview-body', 'data-testid': 'preview-body' }, v.body || ''),
            v.url ? h('p', { class: 'small' }, 'Link: ', h('code', { 'data-testid': 'preview-url' }, v.url)) : null)));
      } catch (e) {
        if (isAbort(e)) return;
        clear(out);
        setError(err, e.status === 404 ? `${e.message}: no person has that distinct id in this project.` : e);
      }
    };
    const runTest = async (btn) => {
      const req = request();
      if (!req) return;
      btn.disabled = true;
      testOut.textContent = 'Sending…';
      try {
        const body = { ...req, variant: variantSel.value };
        if (isEmail && toIn.value.trim()) body.to = toIn.value.trim();
        const res = await post(P(pid, `/campaigns/${stored.id}/test`), body, { signal: scope.signal });
        testOut.textContent = res.delivered ? `Delivered (${res.outcome}).` : `Not delivered: ${res.outcome}.`;
        testOut.className = `small ${res.delivered ? 'ok' : 'error-text'}`;
      } catch (e) {
        if (isAbort(e)) return;
        testOut.textContent = '';
        setError(err, e);
      } finally {
        btn.disabled = false;
      }
    };
    const testBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'campaign-test-send' }, 'Send test to me');
    testBtn.addEventListener('click', () => runTest(testBtn));
    return h('section', { class: 'card', 'aria-labelledby': 'preview-h' },
      h('h2', { id: 'preview-h' }, 'Preview with a real person'),
      persons,
      field('Person (distinct id)', personIn),
      field('Trigger event properties (JSON, optional)', eventIn),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn', 'data-testid': 'campaign-preview-run', onclick: runPreview }, 'Preview')),
      err, out,
      ctx.canWrite ? [h('h3', null, 'Send a test'),
        h('p', { class: 'muted hint' }, isEmail ? 'Renders the variant for that person and emails it to you, once, at once (no events, not tracked).'
          : `Renders the variant for that person and sends it once, at once, to the campaign's ${stored.channel.type === 'web_push' ? 'push subscription of that person' : 'webhook'} (no events, not tracked).`),
        h('div', { class: 'inline wrap' }, field('Variant', variantSel), isEmail ? field('To', toIn) : null),
        h('div', { class: 'form-actions' }, testBtn), testOut] : null);
  }

  renderForm();
  clear(sideHost, previewPanel());
  if (isNew) {
    const k = form.querySelector('[data-testid="campaign-name"]');
    if (k) k.focus();
  }
}
