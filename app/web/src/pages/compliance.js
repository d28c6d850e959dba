// A batch's compliance report: every rule's result over the batch and its
// ancestors, failures first, each with the events it rests on (collapsed
// until opened). The report cites transaction IDs; the console finds those
// transactions in the histories of the batch and its ancestors (as far as the
// caller may read them) and links to the event on that batch's timeline,
// where its receipt can be fetched. The report can be saved as JSON or
// printed (print CSS opens every section).
import { h, add, link, badge, download, setTitle, fmt } from '../dom.js';
import { get, allPages, enc } from '../api.js';

export const title = (route) => `Compliance of ${route.arg}`;
export const loadingWhat = 'the compliance report';

const order = { fail: 0, pass: 1, 'not-applicable': 2 };

// sortResults puts failures first, then passes, then the rest, keeping the
// report's rule order within each group.
export function sortResults(results) {
  return results.map((r, i) => [r, i])
    .sort(([a, i], [b, j]) => ((order[a.result] ?? 3) - (order[b.result] ?? 3)) || i - j)
    .map(([r]) => r);
}

export async function render(main, route, ctx) {
  const id = route.arg;
  const report = await get(`/batches/${enc(id)}/compliance`);
  if (ctx.stale()) return;

  // txId → the events that transaction recorded, on the batches we may read.
  const where = new Map();
  const unreadable = [];
  const batches = [report.batchId, ...(report.ancestors || [])];
  const histories = await Promise.allSettled(batches.map((b) => allPages(`/batches/${enc(b)}/events`)));
  if (ctx.stale()) return;
  histories.forEach((r, i) => {
    if (r.status !== 'fulfilled') { unreadable.push(batches[i]); return; }
    for (const e of r.value) {
      if (!where.has(e.txId)) where.set(e.txId, []);
      where.get(e.txId).push(e);
    }
  });

  const results = sortResults(report.results || []);
  const counts = { pass: 0, fail: 0, 'not-applicable': 0 };
  for (const r of results) counts[r.result] = (counts[r.result] || 0) + 1;
  const ancestors = report.ancestors || [];
  setTitle(report.compliant ? 'compliant' : 'not compliant', `Compliance of ${id}`);

  const openAll = (open) => main.querySelectorAll('details.rule').forEach((d) => { d.open = open; });
  add(main,
    h('div', { class: 'title' },
      h('h1', {}, 'Compliance of ', h('a', { href: link.batch(id) }, h('code', { class: 'wrap' }, id))),
      h('div', { class: 'badges' }, report.compliant
        ? badge('compliant', 'ok big')
        : badge('not compliant', 'bad big'))),
    h('p', { id: 'compliance-counts' },
      `${fmt.plural(results.length, 'rule')} evaluated over this batch and ${fmt.plural(ancestors.length, 'ancestor')}: `,
      h('strong', { class: counts.fail ? 'bad-text' : '' }, `${counts.fail} fail`), `, ${counts.pass} pass, ${counts['not-applicable']} not applicable.`),
    h('nav', { class: 'actions no-print' },
      h('button', { type: 'button', id: 'expand-all', onclick: () => openAll(true) }, 'Open all'),
      h('button', { type: 'button', id: 'collapse-all', onclick: () => openAll(false) }, 'Close all'),
      h('button', { type: 'button', id: 'export-json', onclick: () => download(`compliance-${id}.json`, JSON.stringify(report, null, 2) + '\n') }, 'Download JSON'),
      h('button', { type: 'button', id: 'print', onclick: () => { openAll(true); window.print(); } }, 'Print')),
    ancestors.length
      ? h('details', { class: 'ancestors' }, h('summary', {}, `Ancestors (${ancestors.length})`),
        h('p', {}, ancestors.map((a, i) => [i ? ', ' : '', h('a', { href: link.batch(a) }, h('code', {}, a))])))
      : null,
    unreadable.length
      ? h('div', { class: 'notice' }, `Evidence on ${unreadable.join(', ')} cannot be located: your organisation may not read ${unreadable.length === 1 ? 'that batch' : 'those batches'}.`)
      : null,
    h('div', { class: 'compliance', id: 'compliance-results' }, results.map((r) => {
      const ev = r.evidence || [];
      return h('details', { class: `rule result-${r.result}`, open: r.result === 'fail', dataset: { rule: r.rule, result: r.result } },
        h('summary', {},
          badge(r.result, r.result === 'pass' ? 'ok' : r.result === 'fail' ? 'bad' : 'na'), ' ',
          h('strong', {}, r.rule), ' ', h('span', { class: 'rule-title' }, r.title || ''),
          h('span', { class: 'muted evidence-count' }, ev.length ? ` · ${fmt.plural(ev.length, 'piece')} of evidence` : '')),
        h('div', { class: 'rule-body' },
          r.detail ? h('p', { class: 'detail' }, r.detail) : null,
          h('div', { class: 'evidence' }, evidence(ev, where))));
    })));
  // Printing from the browser's menu opens every rule too.
  const beforePrint = () => openAll(true);
  window.addEventListener('beforeprint', beforePrint);
  return () => window.removeEventListener('beforeprint', beforePrint);
}

function evidence(txIds, where) {
  if (txIds.length === 0) return h('span', { class: 'muted' }, 'No evidence cited.');
  return h('ul', { class: 'plain' }, txIds.map((tx) => {
    const events = where.get(tx) || [];
    const short = tx.length > 16 ? tx.slice(0, 16) + '…' : tx;
    if (events.length === 0) return h('li', {}, h('code', { title: tx }, short), h('span', { class: 'muted' }, ' (not readable)'));
    const e = events[0];
    return h('li', {}, h('a', { class: 'evidence-link', href: link.batch(e.batchId, { tx }), title: tx, dataset: { tx } },
      `${e.type} on ${e.batchId}`), ' ', h('code', { class: 'muted' }, short));
  }));
}
