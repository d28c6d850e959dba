// Batch search. The API filters by sector, modality, owner and status; the
// console fetches every matching batch (pages of 500) and then searches by ID
// or name, sorts and pages locally. Everything the user chose is in the URL,
// so Back and shared links land on the same view.
import { h, add, link, fmt, piBadge, statusBadge } from '../dom.js';
import { allPages, query, participants } from '../api.js';
import { sectors, modalities, statuses } from './options.js';

export const title = () => 'Batches';
export const loadingWhat = 'batches';

const DEFAULT_PAGE_SIZE = 25;
// Columns: key, heading, how to sort, whether phones hide it.
const columns = [
  ['id', 'Batch', (b) => b.id],
  ['name', 'Name', (b) => (b.name || '').toLowerCase()],
  ['owner', 'Owner', (b) => b.owner || '', 'opt'],
  ['sector', 'Sector', (b) => b.sector || '', 'opt'],
  ['modality', 'Modality', (b) => b.modality || '', 'opt'],
  ['tokens', 'Tokens', (b) => (b.tokens ? b.tokens.count : -1), 'opt'],
  ['pi', 'Personal info', (b) => b.personalInfo || '', 'opt'],
  ['status', 'Status', (b) => b.status || ''],
  ['quality', 'Quality', (b) => (b.quality ? b.quality.score : -1), 'opt'],
];

function select(name, values, current, label = (v) => v) {
  return h('select', { name, id: `f-${name}` },
    h('option', { value: '' }, 'any'),
    values.map((v) => h('option', { value: v, selected: v === current }, label(v))));
}

// matches reports whether a batch's ID or name contains q, ignoring case.
export function matches(b, q) {
  if (!q) return true;
  const needle = q.toLowerCase();
  return b.id.toLowerCase().includes(needle) || (b.name || '').toLowerCase().includes(needle);
}

export async function render(main, route, ctx) {
  const p = route.params;
  const filters = { sector: p.get('sector') || '', modality: p.get('modality') || '', owner: p.get('owner') || '', status: p.get('status') || '' };
  const q = (p.get('q') || '').trim();
  const sortKey = columns.some(([k]) => k === p.get('sort')) ? p.get('sort') : 'id';
  const dir = p.get('dir') === 'desc' ? 'desc' : 'asc';
  const size = Number(p.get('pageSize'));
  const pageSize = Number.isInteger(size) && size >= 1 && size <= 500 ? size : DEFAULT_PAGE_SIZE;
  const page = Math.max(1, Number.parseInt(p.get('page') || '1', 10) || 1);

  // The URL of this view with some choices changed.
  const here = (changes) => {
    const next = { q, ...filters, sort: sortKey === 'id' ? '' : sortKey, dir: dir === 'asc' ? '' : dir, pageSize: pageSize === DEFAULT_PAGE_SIZE ? '' : pageSize, page: page === 1 ? '' : page, ...changes };
    if (next.page === 1) next.page = '';
    return '#/batches' + query(next);
  };

  let orgs = [];
  try { orgs = (await participants()).map((x) => x.mspId); } catch { /* the owner box falls back to text */ }
  if (ctx.stale()) return;
  // A hand-typed owner that is not a participant ID is matched without case.
  const ownerExact = orgs.find((o) => o.toLowerCase() === filters.owner.toLowerCase()) || filters.owner;

  const form = h('form', { class: 'filters', id: 'batch-filters', role: 'search' },
    h('label', { class: 'grow' }, 'Search ', h('input', { type: 'search', name: 'q', id: 'f-q', value: q, placeholder: 'ID or name', autocomplete: 'off' })),
    h('label', {}, 'Sector ', select('sector', sectors, filters.sector)),
    h('label', {}, 'Modality ', select('modality', modalities, filters.modality)),
    h('label', {}, 'Owner ', orgs.length
      ? select('owner', orgs, ownerExact)
      : h('input', { name: 'owner', id: 'f-owner', value: filters.owner, placeholder: 'MSP ID, e.g. ProviderMSP', size: 14 })),
    h('label', {}, 'Status ', select('status', statuses, filters.status)),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = Object.fromEntries([...new FormData(form).entries()].map(([k, v]) => [k, String(v).trim()]));
    location.hash = here({ ...fd, page: '' });
  });

  const results = h('div', { id: 'batch-results' });
  main.append(h('h1', {}, 'Batches'), form, results);

  const all = await allPages('/batches', { ...filters, owner: ownerExact });
  if (ctx.stale()) return;
  const found = all.filter((b) => matches(b, q));
  const key = columns.find(([k]) => k === sortKey)[2];
  found.sort((a, b) => {
    const x = key(a); const y = key(b);
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return (dir === 'asc' ? c : -c) || a.id.localeCompare(b.id);
  });
  const pages = Math.max(1, Math.ceil(found.length / pageSize));
  const current = Math.min(page, pages);
  const shown = found.slice((current - 1) * pageSize, current * pageSize);
  const redacted = found.filter((b) => b.redacted).length;
  const byStatus = statuses.map((s) => [s, found.filter((b) => b.status === s).length]).filter(([, n]) => n > 0);

  const hint = filters.owner && !orgs.includes(ownerExact) && orgs.length
    ? h('p', { class: 'notice', id: 'owner-hint' }, `No participant is called "${filters.owner}". Owners are MSP IDs such as ${orgs.slice(0, 3).join(', ')}.`)
    : null;
  add(results,
    hint,
    h('p', { class: 'totals', id: 'batch-totals', dataset: { total: found.length } },
      found.length === 0 ? 'No batches.' : `${shown.length ? `${(current - 1) * pageSize + 1}–${(current - 1) * pageSize + shown.length} of ` : ''}${fmt.plural(found.length, 'batch', 'batches')}`,
      byStatus.length ? h('span', { class: 'muted' }, ` · ${byStatus.map(([s, n]) => `${n} ${s}`).join(', ')}`) : null,
      redacted ? h('span', { class: 'muted' }, ` · ${redacted} not visible to you`) : null,
      q ? h('span', { class: 'muted' }, ` · matching "${q}"`) : null),
    found.length === 0
      ? h('p', { class: 'empty' }, q ? `No batch you may see has an ID or name containing "${q}".` : 'No batches you may see match these filters.')
      : h('div', { class: 'table-wrap' }, table(shown, sortKey, dir, here)),
    pages > 1 || current > 1 ? pager(current, pages, here) : null);
  ctx.setState('ready');
}

function pager(current, pages, here) {
  const to = (n, label, id) => (n < 1 || n > pages || n === current
    ? h('span', { class: 'disabled', id, 'aria-disabled': 'true' }, label)
    : h('a', { href: here({ page: n }), id, class: 'page-link' }, label));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    to(current - 1, '← Previous', 'page-prev'),
    h('span', { class: 'muted', id: 'page-of' }, `Page ${current} of ${pages}`),
    to(current + 1, 'Next →', 'page-next'));
}

function table(items, sortKey, dir, here) {
  const th = ([k, label, , opt]) => {
    const active = k === sortKey;
    const nextDir = active && dir === 'asc' ? 'desc' : 'asc';
    return h('th', { class: opt || null, 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : null },
      h('a', { href: here({ sort: k === 'id' && nextDir === 'asc' ? '' : k, dir: nextDir === 'asc' ? '' : 'desc', page: '' }), class: 'sort', dataset: { sort: k } },
        label, active ? (dir === 'asc' ? ' ▲' : ' ▼') : ''));
  };
  const cls = (i) => columns[i][3] || null;
  return h('table', { class: 'list batches' },
    h('thead', {}, h('tr', {}, columns.map(th))),
    h('tbody', {}, items.map((b) => b.redacted
      ? h('tr', { class: 'redacted', dataset: { batch: b.id } },
        h('td', {}, h('code', { class: 'wrap' }, b.id)), h('td', { class: 'muted' }, 'not visible to your organisation'),
        columns.slice(2, 7).map((_, i) => h('td', { class: cls(i + 2) })), h('td', {}, statusBadge(b.status)), h('td', { class: cls(8) }))
      : h('tr', { dataset: { batch: b.id } },
        h('td', {}, h('a', { href: link.batch(b.id) }, h('code', { class: 'wrap' }, b.id))),
        h('td', {}, b.name || ''),
        h('td', { class: cls(2) }, b.owner || ''),
        h('td', { class: cls(3) }, b.sector || ''),
        h('td', { class: cls(4) }, b.modality || ''),
        h('td', { class: `num ${cls(5)}` }, fmt.int(b.tokens && b.tokens.count)),
        h('td', { class: cls(6) }, piBadge(b.personalInfo)),
        h('td', {}, statusBadge(b.status)),
        h('td', { class: `num ${cls(8)}` }, b.quality ? String(b.quality.score) : '—')))));
}
