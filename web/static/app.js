// Journey web UI: session, top bar and hash router. Pages live in js/ and
// are imported when first visited; each page gets a Scope that the router
// disposes on the next route change (requests aborted, charts disposed,
// timers and event sources stopped).
//
// Routes:  #/login  #/p/{pid}/home  #/p/{pid}/insight[?spec=…|/{id}]
//          #/p/{pid}/dashboards[/{id}]  #/p/{pid}/persons[/{id}]
//          #/p/{pid}/live  #/p/{pid}/actions  #/p/{pid}/settings
//          #/p/{pid}/flags[/new|/{id}]  #/p/{pid}/experiments[/new|/{id}]
//          #/p/{pid}/archive[?q=&metric=&event=&outcome=&stage=]
//          #/p/{pid}/campaigns[?status=|/new[?kind=broadcast|?copy={id}]|/{id}[/edit]]
//          #/p/{pid}/feedback[?q=&status=&theme=&tag=|/{id}]  #/p/{pid}/themes[?sort=]
//          #/p/{pid}/surveys[?status=|/new|/{id}[/edit]]
// and the path /share/<token> (read-only shared dashboard, no login).

import { h, clear, Scope, errorBox, isAbort } from './js/dom.js';
import { get, post, setCsrf, setUnauthorizedHandler } from './js/api.js';
import { showInvites } from './js/invites.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const renderTime = document.getElementById('render-time');
const invitesBar = document.getElementById('invites');

const pageModule = (path, name = 'default') => () => import(path).then((m) => m[name]);

const ROUTES = [
  { re: /^\/login$/, page: pageModule('./js/login.js'), public: true },
  { re: /^\/p\/([^/]+)(?:\/home)?$/, page: pageModule('./js/home.js'), nav: 'home' },
  { re: /^\/p\/([^/]+)\/insight(?:\/([^/]+))?$/, page: pageModule('./js/builder.js'), nav: 'insight' },
  { re: /^\/p\/([^/]+)\/dashboards$/, page: pageModule('./js/dashboards.js', 'dashboardsPage'), nav: 'dashboards' },
  { re: /^\/p\/([^/]+)\/dashboards\/([^/]+)$/, page: pageModule('./js/dashboards.js', 'dashboardPage'), nav: 'dashboards' },
  { re: /^\/p\/([^/]+)\/persons$/, page: pageModule('./js/persons.js', 'personsPage'), nav: 'persons' },
  { re: /^\/p\/([^/]+)\/persons\/([^/]+)$/, page: pageModule('./js/persons.js', 'personPage'), nav: 'persons' },
  { re: /^\/p\/([^/]+)\/live$/, page: pageModule('./js/live.js'), nav: 'live' },
  { re: /^\/p\/([^/]+)\/actions$/, page: pageModule('./js/actions.js'), nav: 'actions' },
  { re: /^\/p\/([^/]+)\/settings$/, page: pageModule('./js/settings.js'), nav: 'settings' },
  { re: /^\/p\/([^/]+)\/flags$/, page: pageModule('./js/flags.js'), nav: 'flags' },
  { re: /^\/p\/([^/]+)\/flags\/([^/]+)$/, page: pageModule('./js/flag-editor.js'), nav: 'flags' },
  { re: /^\/p\/([^/]+)\/experiments$/, page: pageModule('./js/experiments.js'), nav: 'experiments' },
  { re: /^\/p\/([^/]+)\/experiments\/new$/, page: pageModule('./js/experiments.js', 'wizardPage'), nav: 'experiments' },
  { re: /^\/p\/([^/]+)\/experiments\/([^/]+)$/, page: pageModule('./js/experiment.js'), nav: 'experiments' },
  { re: /^\/p\/([^/]+)\/archive$/, page: pageModule('./js/archive.js'), nav: 'experiments' },
  { re: /^\/p\/([^/]+)\/campaigns$/, page: pageModule('./js/campaigns.js'), nav: 'campaigns' },
  { re: /^\/p\/([^/]+)\/campaigns\/new$/, page: pageModule('./js/campaign-editor.js'), nav: 'campaigns' },
  { re: /^\/p\/([^/]+)\/campaigns\/([^/]+)\/edit$/, page: pageModule('./js/campaign-editor.js'), nav: 'campaigns' },
  { re: /^\/p\/([^/]+)\/campaigns\/([^/]+)$/, page: pageModule('./js/campaign.js'), nav: 'campaigns' },
  { re: /^\/p\/([^/]+)\/feedback$/, page: pageModule('./js/feedback.js'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/feedback\/(\d+)$/, page: pageModule('./js/feedback.js', 'itemPage'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/themes$/, page: pageModule('./js/themes.js'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/surveys$/, page: pageModule('./js/surveys.js'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/surveys\/new$/, page: pageModule('./js/survey-editor.js'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/surveys\/(\d+)\/edit$/, page: pageModule('./js/survey-editor.js'), nav: 'feedback' },
  { re: /^\/p\/([^/]+)\/surveys\/(\d+)$/, page: pageModule('./js/survey.js'), nav: 'feedback' },
];

const NAV = [['home', 'Home', 'home'], ['insight', 'Insights', 'insight'], ['dashboards', 'Dashboards', 'dashboards'],
  ['persons', 'Persons', 'persons'], ['live', 'Live events', 'live'], ['actions', 'Actions', 'actions'],
  ['flags', 'Flags', 'flags'], ['experiments', 'Experiments', 'experiments'],
  ['campaigns', 'Campaigns', 'campaigns'], ['feedback', 'Feedback', 'feedback'], ['settings', 'Settings', 'settings']];

let session = null; // GET /me: {user, csrf_token, projects}
let current = null; // {scope, seq}
let routeSeq = 0;

async function loadSession() {
  const me = await get('/me', { allow401: true });
  session = me;
  setCsrf(me.csrf_token);
  // Not awaited: pages need not wait for the invites banner.
  showInvites(invitesBar, {
    onAccepted: async (inv) => {
      await loadSession();
      navigate(`#/p/${inv.project_id}/home`);
    },
  });
  return me;
}

function hideInvites() {
  clear(invitesBar);
  invitesBar.hidden = true;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// replace changes the URL without routing (the builder records the spec
// it ran, so reload and back return to the same insight).
function replace(hash) {
  history.replaceState(history.state, '', hash);
}

setUnauthorizedHandler(() => {
  session = null;
  hideInvites();
  if (location.pathname.startsWith('/share/')) return;
  const here = location.hash.slice(1);
  if (!here.startsWith('/login')) navigate(`#/login?next=${encodeURIComponent(here)}`);
});

// ---------------------------------------------------------------- top bar

function renderTopbar(pid, nav) {
  if (!session) {
    topbar.hidden = true;
    return;
  }
  topbar.hidden = false;
  const projects = session.projects || [];
  const switcher = h('select', { id: 'project-switcher', 'data-testid': 'project-switcher' },
    projects.map((p) => h('option', { value: String(p.id) }, p.name)));
  switcher.value = pid != null ? String(pid) : '';
  switcher.addEventListener('change', () => {
    const section = nav === 'insight' || !nav ? 'home' : nav;
    navigate(`#/p/${switcher.value}/${section}`);
  });
  const navEl = h('nav', { id: 'main-nav', class: 'nav', 'aria-label': 'Main' },
    projects.length ? h('div', { class: 'project-pick' }, h('label', { for: 'project-switcher', class: 'sr-only' }, 'Project'), switcher) : null,
    h('ul', null, pid != null ? NAV.map(([key, label, path]) => h('li', null, h('a', {
      href: `#/p/${pid}/${path}`,
      'data-testid': `nav-${key}`,
      'aria-current': key === nav ? 'page' : null,
      onclick: () => closeNav(),
    }, label))) : null),
    h('div', { class: 'user' },
      h('span', { class: 'muted small', 'data-testid': 'user-email' }, session.user.email),
      h('button', { type: 'button', class: 'btn small', 'data-testid': 'logout', onclick: logout }, 'Log out')));
  const toggle = h('button', { type: 'button', class: 'nav-toggle', 'aria-expanded': 'false', 'aria-controls': 'main-nav', 'data-testid': 'nav-toggle' },
    h('span', { 'aria-hidden': 'true' }, '☰'), h('span', { class: 'sr-only' }, 'Menu'));
  toggle.addEventListener('click', () => {
    const open = !topbar.classList.contains('open');
    topbar.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  });
  clear(topbar, h('a', { class: 'brand', href: pid != null ? `#/p/${pid}/home` : '#/' }, 'Journey'), toggle, navEl);
}

function closeNav() {
  topbar.classList.remove('open');
  const t = topbar.querySelector('.nav-toggle');
  if (t) t.setAttribute('aria-expanded', 'false');
}

async function logout() {
  try { await post('/logout', {}); } catch { /* the session ends client-side anyway */ }
  session = null;
  setCsrf('');
  hideInvites();
  navigate('#/login');
}

// ---------------------------------------------------------------- router

function message(title, text, extra) {
  clear(main, h('section', { class: 'card empty-state' }, h('h1', null, title), h('p', null, text), extra || null));
}

async function route() {
  const t0 = performance.now();
  const seq = ++routeSeq;
  if (current) current.scope.dispose();
  const scope = new Scope();
  current = { scope, seq };
  delete document.body.dataset.dashboardRenderMs;
  renderTime.textContent = '';
  closeNav();

  const reportRender = () => {
    if (seq !== routeSeq) return;
    const ms = Math.round(performance.now() - t0);
    document.body.dataset.dashboardRenderMs = String(ms);
    renderTime.textContent = `Dashboard drawn in ${ms} ms`;
  };

  // Shared dashboards live at a path, not a hash, and need no session.
  if (location.pathname.startsWith('/share/')) {
    const token = decodeURIComponent(location.pathname.slice('/share/'.length).replace(/\/+$/, ''));
    topbar.hidden = false;
    clear(topbar, h('span', { class: 'brand' }, 'Journey'));
    const mod = await import('./js/shared.js');
    if (seq !== routeSeq) return;
    await runPage(mod.default, { main, scope, token, reportRender });
    return;
  }

  const hash = location.hash.slice(1) || '/';
  const qi = hash.indexOf('?');
  const path = qi < 0 ? hash : hash.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));

  if (path !== '/login' && !session) {
    try {
      await loadSession();
    } catch (err) {
      if (seq !== routeSeq) return;
      if (err.status === 401) {
        replace(`#/login?next=${encodeURIComponent(hash)}`);
        return route();
      }
      message('Journey is not reachable', err.message, h('button', { type: 'button', class: 'btn', onclick: () => route() }, 'Try again'));
      return;
    }
    if (seq !== routeSeq) return;
  }

  if (path === '/' || path === '') {
    const first = (session.projects || [])[0];
    if (first) {
      replace(`#/p/${first.id}/home`);
      return route();
    }
    renderTopbar(null, null);
    return noProjects(scope);
  }

  const r = ROUTES.find((x) => x.re.test(path));
  if (!r) {
    renderTopbar(null, null);
    message('Page not found', `Nothing lives at #${path}.`, h('a', { href: '#/' }, 'Go home'));
    return;
  }
  const params = path.match(r.re).slice(1).map((p) => (p == null ? p : decodeURIComponent(p)));
  // Drop the previous page at once (its data must not pass for the new
  // page's) and say which route main shows, for tests and styles.
  main.dataset.path = path;
  clear(main, h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));

  if (r.public) {
    topbar.hidden = true;
    const page = await r.page();
    if (seq !== routeSeq) return;
    await runPage(page, {
      main, scope, query, params,
      onLoggedIn: async () => {
        await loadSession();
        const next = query.get('next');
        navigate(next && next !== '/login' && !next.startsWith('/login?') ? `#${next}` : '#/');
      },
    });
    return;
  }

  const pid = params[0];
  const project = (session.projects || []).find((p) => String(p.id) === String(pid));
  renderTopbar(project ? pid : null, r.nav);
  if (!project) {
    message('Project not found', 'This project does not exist or you are not one of its members.', h('a', { href: '#/' }, 'Go to your projects'));
    return;
  }
  const role = session.user.is_admin ? 'admin' : project.role;
  let page;
  try {
    page = await r.page();
  } catch (err) {
    message('Could not load this page', `${err.message}. Reload to try again.`);
    return;
  }
  if (seq !== routeSeq) return;
  window.scrollTo(0, 0);
  await runPage(page, {
    main, scope, query, params, pid, project, session, role, t0,
    canWrite: role === 'admin' || role === 'member',
    isProjectAdmin: role === 'admin',
    navigate, replace, reportRender,
    reloadSession: loadSession,
  });
}

async function runPage(page, ctx) {
  try {
    await page(ctx);
  } catch (err) {
    if (isAbort(err) || ctx.scope.disposed) return;
    console.error(err);
    clear(main, h('h1', null, 'Something went wrong'), errorBox(err));
  }
}

async function noProjects(scope) {
  if (session.user.is_admin) {
    const { newProjectSection } = await import('./js/settings.js');
    clear(main, h('h1', null, 'Welcome to Journey'), h('p', null, 'Create your first project to start collecting events.'),
      newProjectSection({ scope, session, reloadSession: loadSession }));
  } else {
    message('No projects yet', 'You are not a member of any project. Ask a project admin to invite you: invitations show above.');
  }
}

// The skip link is a button: an href="#main" would be taken for a route.
document.getElementById('skip-link').addEventListener('click', () => main.focus());
window.addEventListener('hashchange', () => route());
route();
