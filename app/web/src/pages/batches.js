// Batch search: the filters of GET /api/v1/batches, paged with its tokens.
import { h, link, fmt, piBadge, statusBadge } from '../dom.js';
import { get, query } from '../api.js';
import { sectors, modalities, statuses } from './options.js';

const DEFAULT_PAGE_SIZE = 25;

function select(name, values, current) {
  return h('select', { name, id: `f-${name}` },
    h('option', { value: '' }, 'any'),
    values.map((v) => h('option', { value: v, selected: v === current }, v)));
}

export async function render(main, route, ctx) {
  const p = route.params;
  const filters = { sector: p.get('sector') || '', modality: p.get('modality') || '', owner: p.get('owner') || '', status: p.get('status') || '' };
  const size = Number(p.get('pageSize'));
  const pageSize = Number.isInteger(size) && size >= 1 && size <= 500 ? size : DEFAULT_PAGE_SIZE;

  const form = h('form', { class: 'filters', id: 'batch-filters' },
    h('label', {}, 'Sector ', select('sector', sectors, filters.sector)),
    h('label', {}, 'Modality ', select('modality', modalities, filters.modality)),
    h('label', {}, 'Owner ', h('input', { name: 'owner', id: 'f-owner', value: filters.owner, placeholder: 'MSP ID', size: 14, pattern: '[A-Za-z0-9._-]*' })),
    h('label', {}, 'Status ', select('status', statuses, filters.status)),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const q = Object.fromEntries([...fd.entries()].map(([k, v]) => [k, String(v).trim()]));
    if (pageSize !== DEFAULT_PAGE_SIZE) q.pageSize = pageSize;
    location.hash = '#/batches' + query(q);
  });

  const results = h('div', { id: 'batch-results' });
  main.append(h('h1', {}, 'Batches'), form, results);

  // tokens[i] is the token of page i; the first page has none.
  const tokens = [''];
  let pageIndex = 0;

  async function show() {
    ctx.setState('loading');
    const page = await get('/batches' + query({ ...filters, pageSize, pageToken: tokens[pageIndex] }));
    if (ctx.stale()) return;
    const items = page.items || [];
    if (page.nextPageToken) tokens[pageIndex + 1] = page.nextPageToken;
    else tokens.length = pageIndex + 1;
    results.replaceChildren(
      items.length === 0
        ? h('p', { class: 'empty' }, 'No batches you may see match these filters.')
        : table(items),
      h('div', { class: 'pager' },
        h('button', { type: 'button', id: 'page-prev', disabled: pageIndex === 0, onclick: () => { pageIndex--; show().catch(fail); } }, '← Previous'),
        h('span', { class: 'muted' }, `Page ${pageIndex + 1}`),
        h('button', { type: 'button', id: 'page-next', disabled: !page.nextPageToken, onclick: () => { pageIndex++; show().catch(fail); } }, 'Next →')));
    ctx.setState('ready');
  }
  function fail(err) { results.replaceChildren(); throw err; }
  await show();
}

function table(items) {
  return h('table', { class: 'list batches' },
    h('thead', {}, h('tr', {}, ['Batch', 'Name', 'Owner', 'Sector', 'Modality', 'Tokens', 'Personal info', 'Status', 'Quality'].map((c) => h('th', {}, c)))),
    h('tbody', {}, items.map((b) => b.redacted
      ? h('tr', { class: 'redacted', dataset: { batch: b.id } }, h('td', {}, h('code', {}, b.id)), h('td', { colspan: 6, class: 'muted' }, 'not visible to your organisation'), h('td', {}, statusBadge(b.status)), h('td', {}))
      : h('tr', { dataset: { batch: b.id } },
        h('td', {}, h('a', { href: link.batch(b.id) }, h('code', {}, b.id))),
        h('td', {}, b.name),
        h('td', {}, b.owner),
        h('td', {}, b.sector),
        h('td', {}, b.modality),
        h('td', { class: 'num' }, fmt.int(b.tokens && b.tokens.count)),
        h('td', {}, piBadge(b.personalInfo)),
        h('td', {}, statusBadge(b.status)),
        h('td', { class: 'num' }, b.quality ? String(b.quality.score) : '—')))));
}
