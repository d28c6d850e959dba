// The console's API client: every call goes to /api/v1 with the signed-in
// key in the Authorization header, exactly as any other client's would. The
// key lives in sessionStorage only (gone when the tab closes) and never in a
// URL, a cookie or localStorage.

const KEY = 'tokentrail.apiKey';
const ORG = 'tokentrail.org';

// The organisation is the one GET /whoami names for the key at sign-in,
// kept beside the key. It labels the header and picks which links to offer;
// every permission is still the API's to enforce.
export const session = {
  key: () => sessionStorage.getItem(KEY) || '',
  org: () => sessionStorage.getItem(ORG) || '',
  signIn: (key, org) => { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ORG, org || ''); },
  signOut: () => { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ORG); },
};

// ApiError is a non-2xx answer; problem is its RFC 9457 body when there is one.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// onUnauthorized is called when the API refuses the key (401).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// request sends one request and returns the Response when it is 2xx.
export async function request(path, { signal, headers, key } = {}) {
  const res = await fetch('/api/v1' + path, {
    headers: { Accept: 'application/json', ...headers, Authorization: 'Bearer ' + (key ?? session.key()) },
    signal,
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  if (res.ok) return res;
  let problem = null;
  try { problem = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401 && key === undefined) onUnauthorized();
  throw new ApiError(res.status, problem);
}

// get answers the decoded JSON of a GET.
export async function get(path, opts) {
  return (await request(path, opts)).json();
}

// query builds ?a=b&c=d from the non-empty entries of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// allPages follows nextPageToken until the list ends (or max pages) and
// answers every item.
export async function allPages(path, params = {}, { max = 50, signal } = {}) {
  const items = [];
  let token = '';
  for (let i = 0; i < max; i++) {
    const page = await get(path + query({ ...params, pageSize: 500, pageToken: token }), { signal });
    items.push(...(page.items || []));
    token = page.nextPageToken || '';
    if (!token) break;
  }
  return items;
}

export const enc = encodeURIComponent;

// participants answers the consortium (GET /participants, one page), fetched
// once per sign-in.
let participantsCache = null;
export function participants() {
  if (!participantsCache) {
    participantsCache = get('/participants').then((p) => (p.items || []).slice().sort((a, b) => a.mspId.localeCompare(b.mspId)));
    participantsCache.catch(() => { participantsCache = null; });
  }
  return participantsCache;
}
export function forgetParticipants() { participantsCache = null; meCache = null; }

// whoami answers the participant record of key's organisation (GET
// /whoami); it throws the API's refusal (401 unknown key, 403 suspended).
export function whoami(key) { return get('/whoami', key === undefined ? {} : { key }); }

// me answers the signed-in organisation's participant record, or null,
// asked once per sign-in.
let meCache = null;
export async function me() {
  if (!session.key()) return null;
  if (!meCache) {
    meCache = whoami();
    meCache.catch(() => { meCache = null; });
  }
  try { return await meCache; } catch { return null; }
}
export function rememberMe(p) { meCache = Promise.resolve(p); }

// hasRole reports whether the signed-in organisation has any of roles.
export async function hasRole(...roles) {
  const p = await me();
  return !!p && (p.roles || []).some((r) => roles.includes(r));
}
