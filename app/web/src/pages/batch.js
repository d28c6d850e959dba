// A batch: its fields, quality, custodians, and its event timeline with the
// transaction ID of each event and its receipt.
import { h, add, link, fmt, badge, banner, loading, piBadge, statusBadge, download, setTitle } from '../dom.js';
import { get, request, allPages, enc, query, hasRole } from '../api.js';

export const title = (route) => `Batch ${route.arg}`;
export const loadingWhat = 'the batch';

// Reasons for which a retirement taints every descendant (TT-R14).
export const taintReasons = ['consent-withdrawn', 'erasure-request'];

export async function render(main, route, ctx) {
  const id = route.arg;
  const [b, events] = await Promise.all([
    get(`/batches/${enc(id)}`),
    allPages(`/batches/${enc(id)}/events`),
  ]);
  if (ctx.stale()) return;
  setTitle(b.name || b.id, 'Batch');
  const focusTx = route.params.get('tx') || '';
  const focusEvent = route.params.get('event') || '';
  const banners = h('div', { id: 'banners', class: 'banners' });
  const tradesCard = h('section', { class: 'card', id: 'trades' }, h('h2', {}, 'Trades'), loading('trades'));
  const canImpact = await hasRole('regulator', 'auditor');

  add(main,
    h('div', { class: 'title' },
      h('h1', {}, b.name || b.id, ' ', h('code', { class: 'id wrap' }, b.id)),
      h('div', { class: 'badges' }, statusBadge(b.status), piBadge(b.personalInfo), b.classification ? badge(b.classification, `class-${b.classification}`) : null)),
    h('nav', { class: 'actions' },
      h('a', { href: link.lineage(b.id), id: 'open-lineage' }, 'Lineage graph'),
      canImpact ? h('a', { href: link.impact(b.id), id: 'open-impact' }, 'Impact') : null,
      h('a', { href: link.compliance(b.id), id: 'open-compliance' }, 'Compliance report')),
    banners,
    b.description ? h('p', { class: 'description' }, b.description) : null,
    h('div', { class: 'columns' },
      h('section', { class: 'card' }, h('h2', {}, 'Fields'), fields(b)),
      h('div', {},
        h('section', { class: 'card', id: 'quality' }, h('h2', {}, 'Quality'), quality(b.quality)),
        h('section', { class: 'card', id: 'custodians' }, h('h2', {}, 'Custodians'),
          h('ul', { class: 'plain' }, (b.custodians || []).map((c) => h('li', {}, c, c === b.owner ? h('span', { class: 'muted' }, ' (owner)') : null)))))),
    tradesCard,
    h('section', { class: 'card' },
      h('h2', {}, 'Timeline ', h('span', { class: 'muted' }, fmt.plural(events.length, 'event'))),
      timeline(events, focusTx, focusEvent)));

  const focused = main.querySelector('.event.focus');
  if (focused) focused.scrollIntoView({ block: 'center' });

  // Status and taint: the banners need the report and the lineage, which
  // may take longer than the batch; the page is usable meanwhile.
  const [statusBanners, trades] = await Promise.all([
    batchBanners(b, events, ctx).catch((err) => [h('div', { class: 'notice' }, `Status details are unavailable: ${err.message}`)]),
    allPages('/trades', { batchId: b.id }).then((t) => ({ items: t }), (err) => ({ err })),
  ]);
  if (ctx.stale()) return;
  add(banners, statusBanners);
  tradesCard.replaceChildren(h('h2', {}, 'Trades ', h('span', { class: 'muted' }, trades.items ? fmt.plural(trades.items.length, 'trade') : '')),
    trades.items ? tradeTable(trades.items) : h('p', { class: 'muted' }, `Trades are not available: ${trades.err.message}`));
}

// batchBanners says, at the top of the page, what limits the batch: frozen
// or retired (with the reason and the event that did it) and tainted (from
// the compliance report's TT-R14 and from the ancestors' status).
async function batchBanners(b, events, ctx) {
  const out = [];
  const last = (type) => [...events].reverse().find((e) => e.type === type);
  const evidence = (e) => (e ? h('span', { class: 'muted' }, ' — ', e.actor || '', ' at ', fmt.time(e.timestamp), ', ',
    h('a', { href: link.batch(b.id, { tx: e.txId }), class: 'banner-evidence' }, 'event #', String(e.seq)), ' in transaction ', h('code', { class: 'wrap' }, e.txId)) : null);
  if (b.status === 'frozen') {
    const e = last('FROZEN');
    out.push(banner('frozen', 'Frozen', 'No circulation, trade or processing until a regulator unfreezes it. Reason: ',
      h('strong', { class: 'reason' }, (e && e.status && e.status.reason) || 'not recorded'), evidence(e)));
  }
  if (b.status === 'retired') {
    const e = last('RETIRED');
    const reason = b.retiredFor || (e && e.status && e.status.reason) || 'not recorded';
    out.push(banner('retired', 'Retired', 'This batch is out of use for good. Reason: ', h('strong', { class: 'reason' }, reason), evidence(e),
      taintReasons.includes(reason) ? h('div', {}, 'Every batch derived from it is tainted (TT-R14): it may not be circulated or traded.') : null));
  }
  const taint = await taintOf(b, ctx);
  if (taint) out.push(taint);
  return out;
}

// taintOf judges whether b is, or descends from, a batch retired for a
// tainting reason: the compliance report's TT-R14 first; the lineage's
// ancestors as a cross-check (and when the report is unavailable).
async function taintOf(b, ctx) {
  const [report, graph] = await Promise.allSettled([
    get(`/batches/${enc(b.id)}/compliance`),
    get(`/batches/${enc(b.id)}/lineage` + query({ direction: 'up', depth: 50 })),
  ]);
  if (ctx.stale()) return null;
  const r14 = report.status === 'fulfilled' ? (report.value.results || []).find((r) => r.rule === 'TT-R14') : null;
  // Retired ancestors, with the reason when we may read it.
  const retired = graph.status === 'fulfilled' ? (graph.value.nodes || []).filter((n) => n.distance < 0 && n.status === 'retired') : [];
  const reasons = await Promise.all(retired.map((n) => (n.redacted
    ? Promise.resolve({ id: n.id, reason: '' })
    : get(`/batches/${enc(n.id)}`).then((x) => ({ id: n.id, name: x.name, reason: x.retiredFor || '' }), () => ({ id: n.id, reason: '' })))));
  if (ctx.stale()) return null;
  const tainting = reasons.filter((x) => taintReasons.includes(x.reason));
  const unknown = reasons.filter((x) => !x.reason);
  const selfTainted = b.status === 'retired' && taintReasons.includes(b.retiredFor);
  if (selfTainted && !(r14 && r14.result === 'fail')) return null; // the retired banner says it
  if ((r14 && r14.result === 'fail') || tainting.length) {
    return banner('taint', 'Tainted (TT-R14)',
      'Derived from a batch retired for withdrawn consent or erasure: it may not be circulated or traded. ',
      tainting.length ? h('ul', { class: 'plain', id: 'taint-sources' }, tainting.map((x) => h('li', {},
        h('a', { href: link.batch(x.id) }, h('code', {}, x.id)), x.name ? ` (${x.name})` : '', ' retired for ', h('strong', { class: 'reason' }, x.reason)))) : null,
      // The report's evidence can run to hundreds of transactions: the
      // banner gives their number and links to the report that lists them.
      r14 && r14.result === 'fail' ? h('div', {}, 'Compliance report: ', r14.detail || '', ' ',
        (r14.evidence || []).length ? h('span', { class: 'muted', id: 'taint-evidence-count' }, `(${fmt.plural(r14.evidence.length, 'transaction')} of evidence) `) : null,
        h('a', { href: link.compliance(b.id) }, 'see the report')) : null,
      r14 && r14.result !== 'fail' ? h('div', { class: 'muted' }, `The compliance report says TT-R14 ${r14.result}; its lineage shows the tainted ancestor.`) : null);
  }
  if (unknown.length) {
    return banner('warn', 'Retired ancestors',
      `${fmt.plural(unknown.length, 'ancestor')} of this batch ${unknown.length === 1 ? 'is' : 'are'} retired for a reason you may not read: `,
      unknown.map((x, i) => [i ? ', ' : '', h('code', {}, x.id)]));
  }
  return null;
}

function tradeTable(trades) {
  if (trades.length === 0) return h('p', { class: 'empty' }, 'Not traded.');
  const anyTerms = trades.some((t) => t.terms);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'list compact', id: 'trade-table' },
    h('thead', {}, h('tr', {}, ['Trade', 'Time', 'Seller → buyer', 'Tokens', 'Rights', anyTerms ? 'Price' : null].filter(Boolean).map((c) => h('th', {}, c)))),
    h('tbody', {}, trades.map((t) => h('tr', { dataset: { trade: t.tradeId } },
      h('td', {}, h('code', { class: 'wrap' }, t.tradeId)),
      h('td', {}, fmt.time(t.timestamp)),
      h('td', {}, `${t.seller} → ${t.buyer}`),
      h('td', { class: 'num' }, fmt.int(t.tokens)),
      h('td', {}, `${t.rights || ''}${t.purposes && t.purposes.length ? ' for ' + t.purposes.join(', ') : ''}`),
      anyTerms ? h('td', { class: 'num price' }, t.terms ? `${fmt.price(t.terms.unitPrice)} ${t.terms.currency || ''} / ${t.terms.priceUnit || ''}` : '—') : null)))));
}

function row(label, value) {
  if (value == null || value === '' || (Array.isArray(value) && value.length === 0)) return null;
  return [h('dt', {}, label), h('dd', {}, value)];
}

function fields(b) {
  return h('dl', { class: 'fields' },
    row('ID', h('code', {}, b.id)),
    row('Owner', b.owner),
    row('Sector', b.sector),
    row('Modality', b.modality),
    row('Languages', fmt.list(b.languages)),
    row('Tokens', b.tokens ? `${fmt.int(b.tokens.count)} (${b.tokens.tokenizer})` : null),
    row('Content digest', h('code', { class: 'wrap' }, b.contentDigest)),
    row('Size', b.sizeBytes != null ? `${fmt.int(b.sizeBytes)} bytes, ${fmt.int(b.records)} records` : null),
    row('Classification', b.classification),
    row('Personal info', b.personalInfo),
    row('De-identification', b.deidentification),
    row('Legal basis', b.legalBasis),
    row('Consent ref', b.consentRef ? h('code', { class: 'wrap' }, b.consentRef) : null),
    row('Purposes', fmt.list(b.purposes)),
    row('Region', b.region),
    row('Licence', b.licence),
    row('Retention until', fmt.time(b.retentionUntil)),
    row('Parents', b.parents && b.parents.length ? b.parents.map((p, i) => [i ? ', ' : '', h('a', { href: link.batch(p) }, h('code', { class: 'wrap' }, p))]) : null),
    row('Source', b.source ? [b.source.type, b.source.region, b.source.description].filter(Boolean).join(' · ') : null),
    row('Retired for', b.retiredFor),
    row('Version', String(b.version)),
    row('Created', b.createdAt ? [fmt.time(b.createdAt), ' in ', h('code', { class: 'wrap' }, b.createdTxId)] : null),
    row('Updated', fmt.time(b.updatedAt)));
}

function quality(q) {
  if (!q) return h('p', { class: 'muted' }, 'Not assessed yet (a batch needs an assessment before it can be traded, TT-R11).');
  const metrics = Object.entries(q.metrics || {}).sort(([a], [b]) => a.localeCompare(b));
  return h('div', {},
    h('div', { class: 'score' }, String(q.score), h('span', { class: 'muted' }, ' / 100')),
    h('dl', { class: 'fields' },
      row('Method', q.method),
      row('Assessed by', q.assessedBy),
      row('Transaction', q.txId ? h('code', { class: 'wrap' }, q.txId) : null),
      metrics.length ? row('Metrics', h('ul', { class: 'plain' }, metrics.map(([k, v]) => h('li', {}, `${k}: ${v}`)))) : null));
}

// summary says in one line what an event did.
export function summary(e) {
  const p = e.collected || e.processed || e.assessed || e.circulated || e.traded || e.audited || e.status || {};
  switch (e.type) {
    case 'COLLECTED':
      return ['source: ', [p.source && p.source.type, p.source && p.source.region, p.source && p.source.description].filter(Boolean).join(' · ')];
    case 'PROCESSED':
      return [fmt.list(p.operations), ' with ', `${p.tool ? p.tool.name + ' ' + p.tool.version : '?'}: `,
        (p.inputs || []).map((x, i) => [i ? ', ' : '', h('a', { href: link.batch(x) }, x)]), ' → ',
        (p.outputs || []).map((x, i) => [i ? ', ' : '', h('a', { href: link.batch(x) }, x)]),
        p.tokensIn ? ` (${fmt.int(p.tokensIn)} → ${fmt.int(p.tokensOut)} tokens)` : ''];
    case 'ASSESSED':
      return [`quality ${p.score}`, p.method ? ` by ${p.method}` : ''];
    case 'CIRCULATED':
      return [`to ${p.to} for ${p.purpose}, ${p.accessMode}`,
        p.crossBorder ? `, cross-border to ${p.crossBorder.destination} (${p.crossBorder.mechanism || 'no mechanism'}${p.crossBorder.approvalRef ? ', ' + p.crossBorder.approvalRef : ''})` : '',
        p.expiresAt ? `, until ${fmt.time(p.expiresAt)}` : ''];
    case 'TRADED':
      return [`trade ${p.tradeId}: ${p.seller} → ${p.buyer}, ${fmt.int(p.tokens)} tokens, ${p.rights} for ${fmt.list(p.purposes)}`];
    case 'AUDITED':
      return [`verdict ${p.verdict || '—'}`, p.scope ? ` (${p.scope})` : '', findings(p.findings || [])];
    case 'FROZEN': case 'UNFROZEN': case 'RETIRED':
      return [p.reason || ''];
  }
  return [];
}

// findings lists an audit's findings in full: rule, result, note, evidence.
function findings(list) {
  if (list.length === 0) return ', no findings';
  return h('ul', { class: 'findings' }, list.map((f) => h('li', { dataset: { rule: f.rule, result: f.result } },
    h('strong', {}, f.rule || '?'), ' ', badge(f.result || '?', f.result === 'pass' ? 'ok' : f.result === 'fail' ? 'bad' : 'na'),
    f.note ? [' ', f.note] : null,
    f.evidence && f.evidence.length ? h('div', { class: 'muted' }, 'evidence: ', f.evidence.map((x, i) => [i ? ', ' : '', h('code', { class: 'wrap' }, x)])) : null)));
}

function timeline(events, focusTx, focusEvent) {
  if (events.length === 0) return h('p', { class: 'empty' }, 'No events.');
  return h('ol', { class: 'timeline', id: 'timeline' }, events.map((e) => {
    const focus = (focusTx && e.txId === focusTx) || (focusEvent && e.eventId === focusEvent);
    const status = h('span', { class: 'receipt-status muted' });
    return h('li', { class: `event type-${e.type}${focus ? ' focus' : ''}`, id: `event-${e.eventId}`, dataset: { eventId: e.eventId, txId: e.txId, type: e.type } },
      h('div', { class: 'event-head' },
        h('span', { class: 'seq' }, `#${e.seq}`),
        badge(e.type, `ev-${e.type}`),
        h('time', { datetime: e.timestamp }, fmt.time(e.timestamp)),
        h('span', { class: 'actor' }, e.actor)),
      h('div', { class: 'event-body' }, summary(e)),
      h('div', { class: 'event-foot' },
        'tx ', h('code', { class: 'tx wrap' }, e.txId),
        h('button', { type: 'button', class: 'link receipt', onclick: () => saveReceipt(e, status) }, 'download receipt'),
        status));
  }));
}

async function saveReceipt(e, status) {
  status.textContent = ' fetching…';
  try {
    // The receipt is saved byte for byte as the API answered it.
    const text = await (await request(`/events/${enc(e.eventId)}/receipt`)).text();
    download(`receipt-${e.txId}.json`, text);
    status.textContent = ' saved; check it offline with: tokentrail verify --trust ledger.json receipt.json';
  } catch (err) {
    status.textContent = '';
    status.append(h('span', { class: 'error inline' }, `receipt not available: ${err.message}`));
  }
}
