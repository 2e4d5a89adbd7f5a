/*! Journey feedback widget (SPEC §7, issue 16 item 5). One script tag, no
 * dependencies, served by Journey at /widget/feedback.js:
 *
 *   <script src="https://journey.example/widget/feedback.js" data-token="jpt_…" async></script>
 *
 * A "Feedback" button opens a small form in a Shadow DOM (the page's styles
 * neither reach it nor are touched by it); what is sent goes to Journey's
 * POST /feedback/ with the project token. Who sent it:
 *  - posthog-js on the page: posthog.get_distinct_id(), the id its events carry;
 *  - else Segment analytics.js: analytics.user().id(), else its anonymousId();
 *  - else an id the site gave (JourneyFeedback.identify(id));
 *  - else an anonymous id kept in localStorage. Once the page identifies
 *    (posthog-js or Segment appear, or identify() is called), the widget
 *    links that anonymous id to the page's id with one $identify event
 *    ({distinct_id, $anon_distinct_id}), as posthog-js itself does, so the
 *    earlier feedback joins the person's events.
 *
 * Options (data-* attributes of the script tag, or JourneyFeedback.init({…})):
 *   token (required), host (default: where this script came from), label,
 *   title, placeholder, tags (comma separated), position (right|left),
 *   button ("false": no launcher; call JourneyFeedback.open() from your own),
 *   lang (en|ko; default the page's <html lang>).
 * API: JourneyFeedback.open(), .close(), .identify(id), .reset() (on logout),
 * .distinctId(), .last (the last stored item's {id}).
 *
 * Keyboard: the launcher is a button (Tab, Enter or Space); the form traps
 * focus while open (Tab and Shift+Tab cycle), Esc closes it and gives focus
 * back to the launcher, Ctrl/Cmd+Enter sends from the text box.
 */
(function () {
  'use strict';
  if (window.JourneyFeedback && window.JourneyFeedback.version) return; // the tag twice

  var VERSION = '1';
  var script = document.currentScript;
  var MAX_TEXT = 10000; // bytes, the server's limit (voc: text 1–10 000)
  var TEXTS = {
    en: {
      label: 'Feedback', title: 'Send us feedback', field: 'Your message', placeholder: 'What works, what does not, what you miss…',
      send: 'Send', cancel: 'Cancel', close: 'Close', sending: 'Sending…', thanks: 'Thank you! We read every message.',
      empty: 'Write a few words first.', tooLong: 'This is too long: at most 10 000 bytes.', failed: 'Could not send it. Try again in a moment.',
      slow: 'Too many messages from here. Try again in {s} seconds.', hint: 'Ctrl+Enter sends',
    },
    ko: {
      label: '피드백', title: '의견 보내기', field: '메시지', placeholder: '좋은 점, 불편한 점, 바라는 점…',
      send: '보내기', cancel: '취소', close: '닫기', sending: '보내는 중…', thanks: '감사합니다! 모든 의견을 읽고 있어요.',
      empty: '먼저 내용을 적어 주세요.', tooLong: '너무 깁니다: 최대 10 000바이트.', failed: '보내지 못했어요. 잠시 후 다시 시도해 주세요.',
      slow: '요청이 너무 많아요. {s}초 후 다시 시도해 주세요.', hint: 'Ctrl+Enter로 보내기',
    },
  };

  var cfg = null;
  var ui = null;
  var linking = false;

  // ------------------------------------------------------------ storage
  // localStorage can throw (disabled, private modes): keep values in memory then.
  var memory = {};
  function key(name) { return 'journey_feedback:' + cfg.token + ':' + name; }
  function load(name) {
    try { var v = window.localStorage.getItem(key(name)); if (v !== null) return v; } catch (e) { /* memory below */ }
    return Object.prototype.hasOwnProperty.call(memory, key(name)) ? memory[key(name)] : null;
  }
  function store(name, value) {
    memory[key(name)] = value;
    try { window.localStorage.setItem(key(name), value); } catch (e) { /* memory only */ }
  }
  function drop(name) {
    delete memory[key(name)];
    try { window.localStorage.removeItem(key(name)); } catch (e) { /* memory only */ }
  }

  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  function anonId() {
    var id = load('anon');
    if (!id) {
      id = 'jfa_' + randomId();
      store('anon', id);
    }
    return id;
  }

  // ------------------------------------------------------------ identity

  // pageIdentity is the distinct id the page's own analytics use, or ''.
  // posthog-js's snippet stub answers undefined until the library loaded.
  function pageIdentity() {
    var ph = window.posthog;
    try {
      if (ph && typeof ph.get_distinct_id === 'function') {
        var pid = ph.get_distinct_id();
        if (typeof pid === 'string' && pid) return pid;
      }
    } catch (e) { /* not posthog-js after all */ }
    var an = window.analytics;
    try {
      if (an && typeof an.user === 'function') {
        var u = an.user();
        var sid = (u && typeof u.id === 'function' && u.id()) || (u && typeof u.anonymousId === 'function' && u.anonymousId());
        if (sid) return String(sid);
      }
    } catch (e) { /* the Segment snippet before it loaded */ }
    return '';
  }

  function distinctId() {
    return pageIdentity() || load('user') || anonId();
  }

  // link gives the anonymous id's feedback to the page's person, once: a
  // $identify {distinct_id: page id, $anon_distinct_id: anonymous id}
  // through Journey's capture, which merges the two as it does for
  // posthog-js. Once only, so a later user of the same browser (after the
  // site's own logout) is never merged with the first.
  function link() {
    if (!cfg || linking || load('anon_used') !== '1' || load('linked')) return;
    var anon = load('anon');
    var target = pageIdentity() || load('user');
    if (!anon || !target || target === anon) return;
    linking = true;
    var body = JSON.stringify({
      api_key: cfg.token,
      batch: [{
        event: '$identify', distinct_id: target, uuid: randomId(), timestamp: new Date().toISOString(),
        properties: { distinct_id: target, $anon_distinct_id: anon, $lib: 'journey-feedback', $lib_version: VERSION },
      }],
    });
    // text/plain: a simple request, no preflight (capture reads the JSON).
    fetch(cfg.host + '/e/', { method: 'POST', body: body, headers: { 'Content-Type': 'text/plain' }, keepalive: true, credentials: 'omit' })
      .then(function (res) { if (res.ok) store('linked', target); })
      .catch(function () { /* tried again at the next open, send or page */ })
      .then(function () { linking = false; });
  }

  // watch links as soon as the page identifies: posthog-js's $identify
  // (eventCaptured), Segment's identify, or an SDK that loads after this
  // script (checked every 2 s for a minute).
  var hooked = { posthog: false, segment: false };
  function hook() {
    var ph = window.posthog;
    if (!hooked.posthog && ph && ph.__loaded && typeof ph.on === 'function') {
      try {
        ph.on('eventCaptured', function (ev) { if (ev && ev.event === '$identify') setTimeout(link, 0); });
        hooked.posthog = true;
      } catch (e) { /* an older posthog-js: the timer and the form still link */ }
    }
    var an = window.analytics;
    if (!hooked.segment && an && typeof an.on === 'function' && typeof an.user === 'function') {
      try {
        an.on('identify', function () { setTimeout(link, 0); });
        hooked.segment = true;
      } catch (e) { /* the timer and the form still link */ }
    }
  }
  function watch() {
    var tries = 0;
    var timer = setInterval(function () {
      hook();
      link();
      tries += 1;
      if (tries >= 30 || (hooked.posthog || hooked.segment)) clearInterval(timer);
    }, 2000);
    hook();
    link();
    document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') link(); });
  }

  // ------------------------------------------------------------ UI

  var CSS = [
    ':host { all: initial; }',
    '*, *::before, *::after { box-sizing: border-box; }',
    '.wrap { position: fixed; bottom: 20px; z-index: 2147483000; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans KR", sans-serif; color: #1d2433; }',
    '.wrap.right { right: 20px; } .wrap.left { left: 20px; }',
    '.launcher { all: unset; cursor: pointer; background: #3355dd; color: #fff; border-radius: 999px; padding: 10px 16px; font-weight: 600; box-shadow: 0 4px 14px rgba(0,0,0,.18); }',
    '.launcher:hover { background: #2a47bd; }',
    ':focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }',
    '.panel { position: absolute; bottom: 52px; width: min(360px, calc(100vw - 40px)); background: #fff; border: 1px solid #d6dbe6; border-radius: 12px; padding: 16px; box-shadow: 0 12px 32px rgba(0,0,0,.2); }',
    '.wrap.right .panel { right: 0; } .wrap.left .panel { left: 0; }',
    '.panel[hidden] { display: none; }',
    'h2 { margin: 0 0 10px; font-size: 16px; }',
    'label { display: block; font-weight: 600; margin-bottom: 4px; }',
    'textarea { display: block; width: 100%; min-height: 110px; resize: vertical; font: inherit; color: inherit; border: 1px solid #b9c1d1; border-radius: 8px; padding: 8px; background: #fff; }',
    '.hint { color: #5b6478; font-size: 12px; margin-top: 4px; }',
    '.row { display: flex; justify-content: flex-end; gap: 8px; margin-top: 12px; }',
    'button.b { font: inherit; border-radius: 8px; padding: 7px 14px; cursor: pointer; border: 1px solid #b9c1d1; background: #fff; color: #1d2433; }',
    'button.primary { background: #3355dd; border-color: #3355dd; color: #fff; font-weight: 600; }',
    'button[disabled] { opacity: .6; cursor: default; }',
    '.error { color: #b3261e; margin: 8px 0 0; }',
    '.status { margin: 8px 0 0; }',
    '.error:empty, .status:empty { display: none; }',
    '.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }',
    '@media (prefers-reduced-motion: no-preference) { .panel { transition: opacity .12s; } }',
  ].join('\n');

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }

  function build() {
    var t = cfg.texts;
    var host = el('div', { id: 'journey-feedback', 'data-journey-feedback': VERSION });
    var root = host.attachShadow({ mode: 'open' });
    var style = el('style', {}, CSS);
    var wrap = el('div', { class: 'wrap ' + (cfg.position === 'left' ? 'left' : 'right') });
    var launcher = el('button', { type: 'button', class: 'launcher', part: 'launcher', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', 'aria-controls': 'jf-panel' }, cfg.label || t.label);
    if (cfg.button === 'false') launcher.hidden = true;
    var panel = el('div', { id: 'jf-panel', class: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'jf-title' });
    panel.hidden = true;
    var title = el('h2', { id: 'jf-title' }, cfg.title || t.title);
    var form = el('form', { novalidate: '' });
    var label = el('label', { for: 'jf-text' }, t.field);
    var text = el('textarea', { id: 'jf-text', name: 'text', placeholder: cfg.placeholder || t.placeholder, 'aria-describedby': 'jf-hint jf-error', maxlength: String(MAX_TEXT) });
    var hint = el('div', { id: 'jf-hint', class: 'hint' }, t.hint);
    var error = el('p', { id: 'jf-error', class: 'error', role: 'alert' });
    var status = el('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    var send = el('button', { type: 'submit', class: 'b primary' }, t.send);
    var cancel = el('button', { type: 'button', class: 'b' }, t.cancel);
    var row = el('div', { class: 'row' });
    row.append(cancel, send);
    form.append(label, text, hint, error, status, row);
    panel.append(title, form);
    wrap.append(panel, launcher);
    root.append(style, wrap);
    (document.body || document.documentElement).append(host);

    ui = { host: host, root: root, launcher: launcher, panel: panel, form: form, label: label, text: text, hint: hint, error: error, status: status, send: send, cancel: cancel, done: false };
    launcher.addEventListener('click', function () { if (panel.hidden) open(); else close(); });
    cancel.addEventListener('click', function () { close(); });
    form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
    text.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); }
    });
    text.addEventListener('input', function () { ui.error.textContent = ''; text.removeAttribute('aria-invalid'); });
    panel.addEventListener('keydown', trap);
  }

  // focusables in the open panel, in tab order (all are plain controls).
  function focusables() {
    return Array.prototype.filter.call(ui.panel.querySelectorAll('button, textarea'), function (x) { return !x.disabled && !x.hidden; });
  }

  // trap keeps Tab inside the dialog and closes it on Escape.
  function trap(e) {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
      return;
    }
    if (e.key !== 'Tab') return;
    var list = focusables();
    if (!list.length) return;
    var first = list[0];
    var last = list[list.length - 1];
    var active = ui.root.activeElement;
    if (e.shiftKey && (active === first || list.indexOf(active) < 0)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || list.indexOf(active) < 0)) {
      e.preventDefault();
      first.focus();
    }
  }

  function open() {
    if (!ui) return;
    link();
    if (ui.done) reset();
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.text.focus();
  }

  function close() {
    if (!ui || ui.panel.hidden) return;
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    if (!ui.launcher.hidden) ui.launcher.focus();
  }

  // reset empties the form for the next message.
  function reset() {
    ui.done = false;
    ui.text.value = '';
    showForm(true);
    ui.cancel.textContent = cfg.texts.cancel;
    ui.status.textContent = '';
    ui.error.textContent = '';
  }

  // showForm shows the text box and Send, or (false) only the thanks and Close.
  function showForm(on) {
    ui.label.hidden = ui.text.hidden = ui.hint.hidden = ui.send.hidden = !on;
  }

  function fail(msg) {
    ui.error.textContent = msg;
    ui.text.setAttribute('aria-invalid', 'true');
    ui.text.focus();
  }

  function submit() {
    var t = cfg.texts;
    if (ui.send.disabled || ui.done) return;
    var text = ui.text.value.trim();
    if (!text) return fail(t.empty);
    if (new TextEncoder().encode(text).length > MAX_TEXT) return fail(t.tooLong);
    var page = pageIdentity() || load('user');
    var id = page || anonId();
    var body = { token: cfg.token, text: text, distinct_id: id };
    if (cfg.tags.length) body.tags = cfg.tags;
    ui.send.disabled = true;
    ui.status.textContent = t.sending;
    ui.error.textContent = '';
    // text/plain keeps it a simple request: no CORS preflight.
    fetch(cfg.host + '/feedback/', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'text/plain' }, credentials: 'omit' })
      .then(function (res) {
        return res.text().then(function (raw) {
          var data = null;
          try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
          if (res.status === 429) {
            var s = Number(res.headers.get('Retry-After')) || 5;
            throw new Error(t.slow.replace('{s}', String(s)));
          }
          if (!res.ok) throw new Error((data && data.error) || t.failed);
          return data;
        });
      })
      .then(function (data) {
        if (!page) store('anon_used', '1');
        api.last = { id: data && data.id, distinct_id: id };
        ui.host.setAttribute('data-last-id', String(data && data.id));
        ui.done = true;
        ui.status.textContent = '';
        showForm(false);
        ui.cancel.textContent = t.close;
        ui.status.textContent = t.thanks;
        ui.cancel.focus();
        link();
      })
      .catch(function (err) {
        ui.status.textContent = '';
        // A TypeError is the network's (offline, blocked): no words of the server's.
        fail(err && err.message && !(err instanceof TypeError) ? err.message : t.failed);
      })
      .then(function () { ui.send.disabled = false; });
  }

  // ------------------------------------------------------------ setup

  function configure(opts) {
    var host = opts.host;
    if (!host && script && script.src) host = script.src.replace(/\/widget\/feedback\.js(?:[?#].*)?$/, '');
    var lang = String(opts.lang || document.documentElement.lang || 'en').toLowerCase().slice(0, 2);
    var tags = opts.tags;
    if (typeof tags === 'string') tags = tags.split(',');
    return {
      token: String(opts.token || ''),
      host: String(host || '').replace(/\/+$/, ''),
      label: opts.label, title: opts.title, placeholder: opts.placeholder,
      tags: (tags || []).map(function (x) { return String(x).trim(); }).filter(Boolean),
      position: opts.position, button: String(opts.button == null ? 'true' : opts.button),
      texts: TEXTS[lang] || TEXTS.en,
    };
  }

  function init(opts) {
    if (cfg) return api;
    var c = configure(opts || {});
    if (!c.token || !c.host) {
      if (window.console) console.warn('Journey feedback: a data-token and a host are needed');
      return api;
    }
    cfg = c;
    var start = function () { build(); watch(); };
    if (document.body) start();
    else document.addEventListener('DOMContentLoaded', start);
    return api;
  }

  var api = {
    version: VERSION,
    init: init,
    open: function () { open(); },
    close: function () { close(); },
    // identify: the site's own user id, for sites without posthog-js or
    // Segment; earlier anonymous feedback is linked to it.
    identify: function (id) {
      if (!cfg || id == null || String(id) === '') return;
      store('user', String(id));
      link();
    },
    // reset forgets who this is (the site's logout): a new anonymous id.
    reset: function () {
      if (!cfg) return;
      ['user', 'anon', 'anon_used', 'linked'].forEach(drop);
    },
    distinctId: function () { return cfg ? distinctId() : ''; },
    last: null,
  };
  window.JourneyFeedback = api;

  if (script && script.dataset && script.dataset.token) {
    var d = script.dataset;
    init({ token: d.token, host: d.host, label: d.label, title: d.title, placeholder: d.placeholder, tags: d.tags, position: d.position, button: d.button, lang: d.lang });
  }
})();
