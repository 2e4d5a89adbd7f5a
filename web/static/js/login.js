// Log in, or create the first server admin while the server has no user.

import { h, clear, field, errorBox, setError, loading, isAbort } from './dom.js';
import { get, post, setCsrf } from './api.js';

export default async function loginPage(ctx) {
  const { main, scope } = ctx;
  clear(main, h('div', { class: 'login' }, loading()));
  let status = { bootstrapped: true };
  try {
    status = await get('/status', { signal: scope.signal, allow401: true });
  } catch (err) {
    if (isAbort(err)) return;
    // Without the status we still offer the login form; it says what fails.
  }
  clear(main, h('div', { class: 'login' }, status.bootstrapped ? loginForm(ctx) : bootstrapForm(ctx)));
  main.querySelector('input').focus();
}

function loginForm(ctx) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'username', 'data-testid': 'login-email' });
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'current-password', 'data-testid': 'login-password' });
  const err = errorBox();
  err.setAttribute('data-testid', 'login-error');
  const btn = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'login-submit' }, 'Log in');
  const form = h('form', { class: 'card', 'data-testid': 'login-form' },
    h('h1', null, 'Log in to Journey'),
    field('Email', email), field('Password', password),
    h('div', { class: 'form-actions' }, btn), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(err, null);
    btn.disabled = true;
    btn.textContent = 'Logging in…';
    try {
      const r = await post('/login', { email: email.value.trim(), password: password.value }, { allow401: true, signal: ctx.scope.signal });
      setCsrf(r.csrf_token);
      await ctx.onLoggedIn();
    } catch (e2) {
      if (isAbort(e2)) return;
      setError(err, e2);
      password.select();
    } finally {
      btn.disabled = false;
      btn.textContent = 'Log in';
    }
  });
  return form;
}

function bootstrapForm(ctx) {
  const key = h('input', { type: 'password', required: true, autocomplete: 'off', 'data-testid': 'bootstrap-key' });
  const email = h('input', { type: 'email', required: true, autocomplete: 'username', 'data-testid': 'bootstrap-email' });
  const password = h('input', { type: 'password', required: true, minlength: 8, autocomplete: 'new-password', 'data-testid': 'bootstrap-password' });
  const err = errorBox();
  const btn = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'bootstrap-submit' }, 'Create admin and log in');
  const form = h('form', { class: 'card', 'data-testid': 'bootstrap-form' },
    h('h1', null, 'Create the first admin'),
    h('p', { class: 'muted' }, 'This server has no user yet. Prove you run it with its admin key (--admin-key or JOURNEY_ADMIN_KEY; without one, journey serve printed a one-time key), then choose the email and password of the first server admin.'),
    field('Server admin key', key), field('Email', email), field('Password', password, 'At least 8 characters.'),
    h('div', { class: 'form-actions' }, btn), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setError(err, null);
    btn.disabled = true;
    try {
      const r = await post('/bootstrap', { admin_key: key.value, email: email.value.trim(), password: password.value }, { allow401: true, signal: ctx.scope.signal });
      if (r && r.csrf_token) setCsrf(r.csrf_token);
      await ctx.onLoggedIn();
    } catch (e2) {
      if (!isAbort(e2)) setError(err, e2);
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}
