// tokentrail console: a small hash-routed app over the public API. Each page
// module exports render(main, route, ctx) which fills main and may return a
// cleanup function, called when the user leaves the page.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { h, add, clear, errorBox, loading, setTitle } from './dom.js';
import { session, get, setUnauthorizedHandler, ApiError, forgetParticipants, me, whoami, rememberMe } from './api.js';
import * as batches from './pages/batches.js';
import * as batch from './pages/batch.js';
import * as lineage from './pages/lineage.js';
import * as compliance from './pages/compliance.js';
import * as prices from './pages/prices.js';
import * as feed from './pages/feed.js';

const pages = { batches, batch, lineage, compliance, prices, feed };
const navOf = { batch: 'batches', lineage: 'batches', compliance: 'batches' };

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
export function setState(state) {
  main.dataset.state = state;
  main.setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
}

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
  const nav = navOf[route.page] || route.page;
  document.querySelectorAll('[data-nav]').forEach((a) => {
    a.classList.toggle('active', a.dataset.nav === nav);
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  if (!page) {
    setTitle('No such page');
    main.append(errorBox(new Error(`There is no page "${route.page}".`)));
    setState('error');
    return;
  }
  setState('loading');
  main.dataset.page = route.page;
  setTitle(page.title ? page.title(route) : route.page);
  // A placeholder until the page has something to show; pages that draw
  // their own frame first remove it.
  const placeholder = loading(page.loadingWhat || 'the page');
  main.append(placeholder);
  try {
    const c = await page.render(main, route, { stale: () => gen !== generation, setState, placeholder });
    if (gen !== generation) { if (typeof c === 'function') c(); return; }
    placeholder.remove();
    cleanup = typeof c === 'function' ? c : null;
    if (main.dataset.state === 'loading') setState('ready');
  } catch (err) {
    if (gen !== generation) return;
    placeholder.remove();
    main.append(errorBox(err));
    setState('error');
  }
  refreshLedgerInfo();
}

function showChrome(signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session').hidden = !signedIn;
  if (signedIn) { showWhoami(); startLedgerInfo(); } else stopLedgerInfo();
}

// The header names the signed-in organisation and its roles, as GET
// /whoami states them.
async function showWhoami() {
  const el = document.getElementById('whoami');
  const org = session.org();
  if (el.dataset.org === org && el.textContent) return;
  el.dataset.org = org;
  const p = await me();
  clear(el);
  if (!p) { el.textContent = org || 'organisation unknown'; return; }
  const roles = (p.roles || []).join(', ');
  add(el, h('strong', { id: 'whoami-org' }, p.name || p.mspId),
    h('span', { class: 'roles', id: 'whoami-roles' }, ` · ${p.mspId} · ${roles}`));
  el.title = `${p.name || p.mspId} (${p.mspId}), ${roles}`;
}

// The ledger's height in the header, refreshed every 15 s and after each
// page, while signed in.
let ledgerTimer = 0;
function startLedgerInfo() {
  if (ledgerTimer) return;
  refreshLedgerInfo();
  ledgerTimer = setInterval(refreshLedgerInfo, 15_000);
}
function stopLedgerInfo() {
  clearInterval(ledgerTimer);
  ledgerTimer = 0;
  document.getElementById('ledger-info').textContent = '';
}
let ledgerInFlight = false;
export async function refreshLedgerInfo() {
  if (!session.key() || ledgerInFlight || document.hidden) return;
  ledgerInFlight = true;
  try {
    const info = await get('/ledger');
    const el = document.getElementById('ledger-info');
    el.textContent = `${info.kind} · height ${info.height}`;
    el.dataset.height = String(info.height);
    el.title = `${info.kind} ledger, ${info.height} blocks`;
  } catch { /* shown again on the next refresh */ } finally { ledgerInFlight = false; }
}
window.addEventListener('tokentrail:ledger-moved', refreshLedgerInfo);

function signInPage(message) {
  showChrome(false);
  setTitle('Sign in');
  main.dataset.page = 'signin';
  const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'API key' });
  const status = h('div', { class: 'signin-status' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { id: 'signin', class: 'signin', method: 'post', action: '#' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Use your organisation\'s API key. It is kept in this tab\'s session storage only and sent in the Authorization header of API requests; closing the tab forgets it.'),
    h('label', { for: 'api-key' }, 'API key'), input,
    submit,
    status);
  if (message) status.append(h('div', { class: 'notice' }, message));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    clear(status).append(h('span', { class: 'muted' }, 'Checking the key…'));
    let p;
    try {
      // The key's own organisation: 401 for an unknown key, 403 for a
      // suspended or unregistered participant.
      p = await whoami(key);
    } catch (err) {
      clear(status).append(err instanceof ApiError && err.status === 401
        ? h('div', { class: 'error', role: 'alert' }, 'That API key is unknown or revoked.')
        : errorBox(err));
      return;
    }
    input.value = '';
    session.signIn(key, p.mspId);
    rememberMe(p);
    render();
  });
  main.append(form);
  setState('ready');
  input.focus();
}

function signOut(message) {
  session.signOut();
  forgetParticipants();
  const who = document.getElementById('whoami');
  who.textContent = '';
  delete who.dataset.org;
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
document.getElementById('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshLedgerInfo(); });
window.addEventListener('hashchange', render);
render();
