import { adminToken, callAdmin, whenTokenRefused } from './api.js';
import { h, show } from './dom.js';
import type { Environment, Page } from './page.js';
import { catalogPage } from './pages/catalog.js';
import { connectionPage } from './pages/connection.js';
import { customersPage, subjectPage } from './pages/customers.js';
import { projectionsPage } from './pages/projections.js';
import { webhooksPage } from './pages/webhooks.js';

const pages: Array<{ path: string; title: string; page: Page; inNav: boolean }> = [
  { path: 'connection', title: 'Connection', page: connectionPage, inNav: true },
  { path: 'catalog', title: 'Catalog', page: catalogPage, inNav: true },
  { path: 'customers', title: 'Customers', page: customersPage, inNav: true },
  { path: 'subjects', title: 'Subject', page: subjectPage, inNav: false },
  { path: 'webhooks', title: 'Webhooks', page: webhooksPage, inNav: true },
  { path: 'projections', title: 'Projections', page: projectionsPage, inNav: true },
];

const app = document.getElementById('app') as HTMLElement;

/** `#/live/subjects/team/acme` → live, the subject page, ['team', 'acme']. */
const route = () => {
  const [environment, path, ...params] = location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .map(decodeURIComponent);
  const found = pages.find((candidate) => candidate.path === path) ?? (pages[0] as (typeof pages)[number]);
  return { environment: (environment === 'live' ? 'live' : 'test') as Environment, found, params };
};

const signInForm = (message?: string) => {
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    required: true,
    id: 'admin-token',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'sign-in-error' }, message ?? '');
  const formElement = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Payfold dashboard'),
    h('p', {}, 'Sign in with the admin token (PAYFOLD_ADMIN_TOKEN). It is kept in this tab only.'),
    h('div', { class: 'field' }, h('label', { for: 'admin-token' }, 'Admin token'), input),
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  formElement.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const answer = await callAdmin('GET', '/api/admin/projections', undefined, token);
    if (answer.error) {
      error.textContent =
        answer.error.status === 401 ? 'That token was refused.' : `Cannot sign in: ${answer.error.message}`;
      input.focus();
      return;
    }
    adminToken.set(token);
    render();
  });
  show(app, h('main', { id: 'main' }, formElement));
  input.focus();
};

let leavePage: () => void = () => undefined;

const render = () => {
  leavePage();
  if (!adminToken.get()) return signInForm();
  const { environment, found, params } = route();
  const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const main = h('main', { id: 'main', tabindex: -1 });
  const navLink = (path: string, label: string, env = environment) =>
    h(
      'a',
      {
        href: `#/${env}/${path}`,
        ...(path === found.path && env === environment && { 'aria-current': 'page' }),
      },
      label,
    );
  show(
    app,
    h(
      'header',
      {},
      h('p', { class: 'brand' }, 'Payfold'),
      h(
        'nav',
        { 'aria-label': 'Environment' },
        h(
          'ul',
          {},
          (['test', 'live'] as const).map((env) =>
            h('li', {}, navLink(found.path, env === 'test' ? 'Test' : 'Live', env)),
          ),
        ),
      ),
      h(
        'nav',
        { 'aria-label': 'Pages' },
        h(
          'ul',
          {},
          pages.filter((page) => page.inNav).map((page) => h('li', {}, navLink(page.path, page.title))),
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'sign-out',
          onclick: () => {
            adminToken.clear();
            render();
          },
        },
        'Sign out',
      ),
    ),
    main,
    status,
  );
  document.title = `${found.title} (${environment}) · Payfold`;
  const timers: number[] = [];
  let left = false;
  leavePage = () => {
    left = true;
    for (const timer of timers) clearInterval(timer);
  };
  const heading = h('h1', {}, `${found.title}`, h('span', { class: `badge ${environment}` }, environment));
  const root = h('div', {});
  main.append(heading, root);
  void found.page({
    environment,
    params,
    root,
    announce: (message, kind = 'info') => show(status, h('p', { class: kind }, message)),
    every: (ms, task) => {
      let running = false;
      timers.push(
        window.setInterval(async () => {
          if (running) return;
          running = true;
          await task().finally(() => {
            running = false;
          });
        }, ms),
      );
    },
    left: () => left,
  });
};

whenTokenRefused(() => {
  adminToken.clear();
  leavePage();
  signInForm('The admin token was refused; sign in again.');
});
window.addEventListener('hashchange', () => {
  render();
  document.getElementById('main')?.focus();
});
render();
