// A batch's compliance report: every rule's result over the batch and its
// ancestors, each with links to the events it rests on. The report cites
// transaction IDs; the console finds those transactions in the histories of
// the batch and its ancestors (as far as the caller may read them) and links
// to the event on that batch's timeline, where its receipt can be fetched.
import { h, link, badge } from '../dom.js';
import { get, allPages, enc } from '../api.js';

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

  const counts = { pass: 0, fail: 0, 'not-applicable': 0 };
  for (const r of report.results || []) counts[r.result] = (counts[r.result] || 0) + 1;

  main.append(
    h('div', { class: 'title' },
      h('h1', {}, 'Compliance of ', h('a', { href: link.batch(id) }, h('code', {}, id))),
      h('div', { class: 'badges' }, report.compliant
        ? badge('compliant', 'ok big')
        : badge('not compliant', 'bad big'))),
    h('p', {},
      `${(report.results || []).length} rules evaluated over this batch and ${(report.ancestors || []).length} ancestor(s): `,
      `${counts.pass} pass, ${counts.fail} fail, ${counts['not-applicable']} not applicable.`),
    (report.ancestors || []).length
      ? h('p', {}, 'Ancestors: ', report.ancestors.map((a, i) => [i ? ', ' : '', h('a', { href: link.batch(a) }, h('code', {}, a))]))
      : null,
    unreadable.length
      ? h('div', { class: 'notice' }, `Evidence on ${unreadable.join(', ')} cannot be located: your organisation may not read ${unreadable.length === 1 ? 'that batch' : 'those batches'}.`)
      : null,
    h('table', { class: 'list compliance', id: 'compliance-results' },
      h('thead', {}, h('tr', {}, ['Rule', 'Result', 'Detail', 'Evidence'].map((c) => h('th', {}, c)))),
      h('tbody', {}, (report.results || []).map((r) => h('tr', { class: `result-${r.result}`, dataset: { rule: r.rule, result: r.result } },
        h('td', {}, h('strong', {}, r.rule), h('div', { class: 'muted' }, r.title)),
        h('td', {}, badge(r.result, r.result === 'pass' ? 'ok' : r.result === 'fail' ? 'bad' : 'na')),
        h('td', {}, r.detail),
        h('td', { class: 'evidence' }, evidence(r.evidence || [], where)))))));
}

function evidence(txIds, where) {
  if (txIds.length === 0) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'plain' }, txIds.map((tx) => {
    const events = where.get(tx) || [];
    const short = tx.length > 16 ? tx.slice(0, 16) + '…' : tx;
    if (events.length === 0) return h('li', {}, h('code', { title: tx }, short), h('span', { class: 'muted' }, ' (not readable)'));
    const e = events[0];
    return h('li', {}, h('a', { class: 'evidence-link', href: link.batch(e.batchId, { tx }), title: tx, dataset: { tx } },
      `${e.type} on ${e.batchId}`), ' ', h('code', { class: 'muted' }, short));
  }));
}
