// tokentrail console: a small hash-routed app over the public API. Each page
// module exports render(main, route) which fills main and may return a
// cleanup function, called when the user leaves the page.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { h, clear, errorBox } from './dom.js';
import { session, get, setUnauthorizedHandler, ApiError } from './api.js';
import * as batches from './pages/batches.js';
import * as batch from './pages/batch.js';
import * as lineage from './pages/lineage.js';
import * as compliance from './pages/compliance.js';
import * as prices from './pages/prices.js';
import * as feed from './pages/feed.js';

const pages = { batches, batch, lineage, compliance, prices, feed };

const main = document.getElementById('main');
let cleanup = null;
let generation = 0;

// parseRoute turns "#/batch/x%2Fy?tx=1" into {page: 'batch', arg: 'x/y', params}.
export function parseRoute(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const [page, ...rest] = path.split('/');
  let arg = '';
  try { arg = decodeURIComponent(rest.join('/')); } catch { arg = rest.join('/'); }
  return { page: page || 'batches', arg, params: new URLSearchParams(qs || '') };
}

// setState marks the page for people and tests: loading, ready or error.
export function setState(state) { main.dataset.state = state; }

async function render() {
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  clear(main);
  if (session.key() && !location.hash.startsWith('#/')) history.replaceState(null, '', '#/batches');
  // Which route this render is for: tests wait for it with data-state.
  main.dataset.route = location.hash;
  if (!session.key()) { signInPage(); return; }
  showChrome(true);
  const route = parseRoute(location.hash);
  const page = pages[route.page];
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === route.page));
  if (!page) {
    main.append(errorBox(new Error(`There is no page "${route.page}".`)));
    setState('error');
    return;
  }
  setState('loading');
  main.dataset.page = route.page;
  try {
    const c = await page.render(main, route, { stale: () => gen !== generation, setState });
    if (gen !== generation) { if (typeof c === 'function') c(); return; }
    cleanup = typeof c === 'function' ? c : null;
    if (main.dataset.state === 'loading') setState('ready');
  } catch (err) {
    if (gen !== generation) return;
    console.warn('page failed', err);
    main.append(errorBox(err));
    setState('error');
  }
}

function showChrome(signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session').hidden = !signedIn;
  if (signedIn) loadLedgerInfo();
}

let ledgerInfoShown = false;
async function loadLedgerInfo() {
  if (ledgerInfoShown) return;
  ledgerInfoShown = true;
  try {
    const info = await get('/ledger');
    document.getElementById('ledger-info').textContent = `${info.kind} ledger · height ${info.height}`;
  } catch { ledgerInfoShown = false; }
}

function signInPage(message) {
  showChrome(false);
  main.dataset.page = 'signin';
  const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'API key' });
  const status = h('div', { class: 'signin-status' });
  const form = h('form', { id: 'signin', class: 'signin', method: 'post', action: '#' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Use your organisation\'s API key. It is kept in this tab\'s session storage only and sent in the Authorization header of API requests; closing the tab forgets it.'),
    h('label', { for: 'api-key' }, 'API key'), input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status);
  if (message) status.append(h('div', { class: 'notice' }, message));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    clear(status).append(h('span', { class: 'muted' }, 'Checking the key…'));
    try {
      await get('/ledger', { key }); // answers 401 for an unknown key
    } catch (err) {
      clear(status).append(err instanceof ApiError && err.status === 401
        ? h('div', { class: 'error', role: 'alert' }, 'That API key is unknown or revoked.')
        : errorBox(err));
      return;
    }
    input.value = '';
    session.signIn(key);
    render();
  });
  main.append(form);
  setState('ready');
  input.focus();
}

function signOut(message) {
  session.signOut();
  ledgerInfoShown = false;
  document.getElementById('ledger-info').textContent = '';
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  generation++;
  clear(main);
  signInPage(message);
}

setUnauthorizedHandler(() => signOut('The API no longer accepts this key; sign in again.'));
document.getElementById('sign-out').addEventListener('click', () => {
  // Signing out on purpose starts the next session on the batch list.
  history.replaceState(null, '', location.pathname);
  signOut();
});
window.addEventListener('hashchange', render);
render();
