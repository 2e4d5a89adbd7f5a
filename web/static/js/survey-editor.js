// The survey editor (#/p/{pid}/surveys/new and /surveys/{id}/edit): the
// questions (NPS, CSAT, rating, open text, single and multiple choice,
// link), targeting (URL, events, cohort, flag variant), the wait period,
// the schedule (start, end, repeats, a responses limit). The draft lives in
// vocmodel.js (surveyBody, surveyPatch); hints and the server's 400s are
// shown beside the field they name.

import { h, clear, field, select, errorBox, setError, loading, isAbort } from './dom.js';
import { get, post, api, P } from './api.js';
import { markField, clearMarks } from './form.js';
import { vocTabs } from './feedback.js';
import {
  QUESTION_KINDS, SURVEY_TYPES, MATCH_TYPES, SCHEDULES, newSurvey, newQuestion, surveyBody, surveyPatch, draftFromSurvey,
} from './vocmodel.js';

export default async function surveyEditorPage(ctx) {
  const { pid, main, scope } = ctx;
  const id = ctx.params[1] || null;
  clear(main, loading('Loading the editor…'));
  const [stored, cohorts, flags] = await Promise.all([
    id ? get(P(pid, `/surveys/${encodeURIComponent(id)}`), { signal: scope.signal }) : Promise.resolve(null),
    get(P(pid, '/cohorts'), { signal: scope.signal }).catch(() => []),
    get(P(pid, '/flags'), { signal: scope.signal }).catch(() => []),
  ]);
  const d = stored ? draftFromSurvey(stored) : newSurvey();
  const flagList = Array.isArray(flags) ? flags : (flags && flags.flags) || [];
  const cohortList = Array.isArray(cohorts) ? cohorts : (cohorts && cohorts.cohorts) || [];
  const formError = errorBox(null);
  const form = h('form', { class: 'survey-form', novalidate: true, 'data-testid': 'survey-form' });
  const qHost = h('div', { class: 'question-list' });

  const input = (key, attrs = {}) => {
    const el = h('input', { type: 'text', value: d[key], id: `sv-${key}`, 'data-testid': `survey-${key.replace(/_/g, '-')}`, ...attrs });
    el.addEventListener('input', () => { d[key] = el.type === 'checkbox' ? el.checked : el.value; });
    return el;
  };
  const pick = (key, options, attrs = {}) => {
    const { rerender, ...rest } = attrs;
    const el = select(options, d[key], { id: `sv-${key}`, 'data-testid': `survey-${key.replace(/_/g, '-')}`, ...rest });
    el.addEventListener('change', () => {
      d[key] = el.value;
      if (!rerender) return;
      renderSchedule();
      const again = form.querySelector(`#sv-${key}`);
      if (again) again.focus(); // the rebuilt control, so the keyboard stays where it was
    });
    return el;
  };

  const scheduleHost = h('div');
  function renderSchedule() {
    const startAt = input('start_at', { type: 'datetime-local', 'data-field': 'start_date' });
    clear(scheduleHost,
      field('Starts', pick('start', [['draft', 'Not yet (draft)'], ['now', 'Now'], ['at', 'At a time']], { rerender: true, 'data-field': 'start_date' })),
      d.start === 'at' ? field('Start at', startAt) : null,
      field('Ends at (optional)', input('end_at', { type: 'datetime-local', 'data-field': 'end_date' })),
      field('Shown', pick('schedule', SCHEDULES, { rerender: true, 'data-field': 'schedule' })),
      d.schedule === 'recurring' ? h('div', { class: 'inline' },
        field('Times', input('iteration_count', { type: 'number', min: '1', max: '500', 'data-field': 'iteration_count' })),
        field('Every (days)', input('iteration_days', { type: 'number', min: '1', max: '3650', 'data-field': 'iteration_frequency_days' }))) : null,
      field('Stop after this many responses (optional)', input('responses_limit', { type: 'number', min: '1', 'data-field': 'responses_limit' })));
  }

  function renderQuestions() {
    clear(qHost, d.questions.map((q, i) => questionCard(q, i)),
      h('button', { type: 'button', class: 'btn', 'data-testid': 'survey-add-question', onclick: () => { d.questions.push(newQuestion('open')); renderQuestions(); focus(`survey-q-text-${d.questions.length - 1}`); } }, 'Add a question'));
  }

  function focus(testid) {
    const el = form.querySelector(`[data-testid="${testid}"]`);
    if (el) el.focus();
  }

  function questionCard(q, i) {
    const at = `questions[${i}]`;
    const bind = (el, key, prop = 'value') => { el.addEventListener('input', () => { q[key] = prop === 'checked' ? el.checked : el.value; }); el.addEventListener('change', () => { q[key] = prop === 'checked' ? el.checked : el.value; }); return el; };
    const kind = select(QUESTION_KINDS, q.kind, { id: `sv-q-kind-${q.key}`, 'data-testid': `survey-q-kind-${i}`, 'data-field': `${at}.type` });
    kind.addEventListener('change', () => {
      const fresh = newQuestion(kind.value);
      d.questions[i] = { ...fresh, id: q.id, question: q.question && !isDefaultText(q) ? q.question : fresh.question, key: q.key };
      renderQuestions();
      focus(`survey-q-kind-${i}`);
    });
    const text = bind(h('input', { type: 'text', value: q.question, id: `sv-q-text-${q.key}`, 'data-testid': `survey-q-text-${i}`, 'data-field': `${at}.question` }), 'question');
    const optional = bind(h('input', { type: 'checkbox', id: `sv-q-opt-${q.key}`, checked: q.optional }), 'optional', 'checked');
    const parts = [field('Kind', kind), field('Question', text)];
    if (q.kind === 'rating') {
      parts.push(h('div', { class: 'inline' },
        field('Display', bind(select([['number', 'Numbers'], ['emoji', 'Emoji']], q.display, { id: `sv-q-disp-${q.key}`, 'data-field': `${at}.display` }), 'display')),
        field('Scale', bind(select(['2', '3', '5', '7', '10'], String(q.scale), { id: `sv-q-scale-${q.key}`, 'data-testid': `survey-q-scale-${i}`, 'data-field': `${at}.scale` }), 'scale'))));
    }
    if (q.kind === 'csat') parts.push(field('Display', bind(select([['number', 'Numbers 1–5'], ['emoji', 'Emoji']], q.display, { id: `sv-q-disp-${q.key}` }), 'display')));
    if (q.kind === 'nps' || q.kind === 'csat' || q.kind === 'rating') {
      parts.push(h('div', { class: 'inline' },
        field('Low end label', bind(h('input', { type: 'text', value: q.lower, id: `sv-q-lo-${q.key}`, 'data-field': `${at}.lowerBoundLabel` }), 'lower')),
        field('High end label', bind(h('input', { type: 'text', value: q.upper, id: `sv-q-hi-${q.key}`, 'data-field': `${at}.upperBoundLabel` }), 'upper'))));
    }
    if (q.kind === 'single_choice' || q.kind === 'multiple_choice') {
      const ta = bind(h('textarea', { rows: '4', id: `sv-q-ch-${q.key}`, 'data-testid': `survey-q-choices-${i}`, 'data-field': `${at}.choices` }), 'choices');
      ta.value = q.choices;
      parts.push(field('Choices, one a line', ta),
        h('div', { class: 'check' }, bind(h('input', { type: 'checkbox', id: `sv-q-oc-${q.key}`, checked: q.open_choice }), 'open_choice', 'checked'), h('label', { for: `sv-q-oc-${q.key}` }, 'The last choice takes their own words (Other…)')));
    }
    if (q.kind === 'link') {
      parts.push(field('Link', bind(h('input', { type: 'url', value: q.link, id: `sv-q-link-${q.key}`, 'data-testid': `survey-q-link-${i}`, 'data-field': `${at}.link` }), 'link')));
    }
    parts.push(field('Button text (optional)', bind(h('input', { type: 'text', value: q.button, id: `sv-q-btn-${q.key}`, 'data-field': `${at}.buttonText` }), 'button')));
    parts.push(h('div', { class: 'check' }, optional, h('label', { for: optional.id }, 'Optional')));
    const move = (delta) => {
      const j = i + delta;
      if (j < 0 || j >= d.questions.length) return;
      [d.questions[i], d.questions[j]] = [d.questions[j], d.questions[i]];
      renderQuestions();
      focus(`survey-q-kind-${j}`);
    };
    return h('fieldset', { class: 'card question-card', 'data-testid': 'survey-question', 'data-field': at },
      h('legend', null, `Question ${i + 1}`), parts,
      h('div', { class: 'inline' },
        h('button', { type: 'button', class: 'btn small', disabled: i === 0, onclick: () => move(-1) }, 'Move up'),
        h('button', { type: 'button', class: 'btn small', disabled: i === d.questions.length - 1, onclick: () => move(1) }, 'Move down'),
        h('button', { type: 'button', class: 'btn small danger', 'data-testid': `survey-q-remove-${i}`, disabled: d.questions.length === 1, onclick: () => { d.questions.splice(i, 1); renderQuestions(); } }, 'Remove')));
  }

  const cohortOpts = [['', 'Everyone'], ...cohortList.map((c) => [String(c.id), c.name])];
  const flagOpts = [['', 'No flag'], ...flagList.map((f) => [f.key, f.key])];
  renderSchedule();
  renderQuestions();
  const thank = input('thank_you', { type: 'checkbox', checked: d.thank_you });
  clear(form,
    h('section', { class: 'card' }, h('h2', null, 'Survey'),
      field('Name', input('name', { 'data-field': 'name', required: true })),
      field('Description (optional)', input('description', { 'data-field': 'description' })),
      field('Shown as', pick('type', SURVEY_TYPES, { 'data-field': 'type' }), 'Widget surveys open from a feedback button; API surveys are for your own UI.'),
      h('div', { class: 'check' }, thank, h('label', { for: thank.id }, 'Say thank you after the answer'))),
    h('section', { class: 'card' }, h('h2', null, 'Questions'), qHost),
    h('section', { class: 'card' }, h('h2', null, 'Who sees it'),
      h('div', { class: 'inline' },
        field('Page URL', pick('url_match', MATCH_TYPES, { 'data-field': 'conditions.urlMatchType' })),
        field('URL', input('url', { 'data-field': 'conditions.url', placeholder: '/billing' }))),
      field('After one of these events (comma separated, optional)', input('events', { 'data-field': 'conditions.events.values' })),
      field('Cohort', pick('cohort', cohortOpts, { 'data-field': 'conditions.cohort' }), 'Journey serves the cohort as a flag posthog-js checks.'),
      h('div', { class: 'inline' },
        field('Feature flag', pick('flag', flagOpts, { 'data-field': 'linked_flag_key' })),
        field('Variant (optional)', input('flag_variant', { 'data-field': 'conditions.linkedFlagVariant' }))),
      field('Wait period (days)', input('wait_days', { type: 'number', min: '0', max: '3650', 'data-field': 'conditions.seenSurveyWaitPeriodInDays' }), 'A person sees at most one survey in this many days.')),
    h('section', { class: 'card' }, h('h2', null, 'Schedule'), scheduleHost),
    formError,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'survey-save' }, stored ? 'Save survey' : 'Create survey'),
      h('a', { class: 'btn', href: stored ? `#/p/${pid}/surveys/${stored.id}` : `#/p/${pid}/surveys` }, 'Cancel')));
  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, stored ? `Edit “${stored.name}”` : 'New survey'), vocTabs(pid, 'surveys')),
    form);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearMarks(form);
    for (const el of form.querySelectorAll('.field-error')) el.remove();
    setError(formError, null);
    const { body, errors } = stored ? surveyPatch(d, stored) : surveyBody(d);
    if (errors.length) { showErrors(errors); return; }
    try {
      const out = stored
        ? await api('PATCH', P(pid, `/surveys/${stored.id}`), body, { signal: scope.signal })
        : await post(P(pid, '/surveys'), body, { signal: scope.signal });
      ctx.navigate(`#/p/${pid}/surveys/${out.id}`);
    } catch (x) {
      if (isAbort(x)) return;
      if (x.field) showErrors([{ field: x.field, msg: x.message }]);
      else setError(formError, x);
    }
  });

  function showErrors(errors) {
    const unplaced = [];
    for (const er of errors) {
      const note = h('small', { class: 'field-error error-text', role: 'alert', 'data-testid': 'field-error', 'data-field-error': er.field }, er.msg);
      const els = markField(form, er.field, note);
      if (!els.length) { unplaced.push(er); continue; }
      (els[0].closest('.field') || els[0]).after(note);
    }
    setError(formError, unplaced.length ? unplaced.map((x) => `${x.field}: ${x.msg}`).join(' · ') : `${errors.length === 1 ? 'A field needs' : `${errors.length} fields need`} a change (marked).`);
    const first = form.querySelector('[aria-invalid="true"]');
    if (first && first.focus) first.focus();
  }
}

function isDefaultText(q) {
  return q.question === newQuestion(q.kind).question;
}
