// A batch: its fields, quality, custodians, and its event timeline with the
// transaction ID of each event and its receipt.
import { h, link, fmt, badge, piBadge, statusBadge, download } from '../dom.js';
import { get, request, allPages, enc } from '../api.js';

export async function render(main, route, ctx) {
  const id = route.arg;
  const [b, events] = await Promise.all([
    get(`/batches/${enc(id)}`),
    allPages(`/batches/${enc(id)}/events`),
  ]);
  if (ctx.stale()) return;
  const focusTx = route.params.get('tx') || '';
  const focusEvent = route.params.get('event') || '';

  main.append(
    h('div', { class: 'title' },
      h('h1', {}, b.name || b.id, ' ', h('code', { class: 'id' }, b.id)),
      h('div', { class: 'badges' }, statusBadge(b.status), piBadge(b.personalInfo), badge(b.classification, `class-${b.classification}`))),
    h('nav', { class: 'actions' },
      h('a', { href: link.lineage(b.id), id: 'open-lineage' }, 'Lineage graph'),
      h('a', { href: link.lineage(b.id, { view: 'impact' }), id: 'open-impact' }, 'Impact'),
      h('a', { href: link.compliance(b.id), id: 'open-compliance' }, 'Compliance report')),
    b.description ? h('p', {}, b.description) : null,
    h('div', { class: 'columns' },
      h('section', { class: 'card' }, h('h2', {}, 'Fields'), fields(b)),
      h('div', {},
        h('section', { class: 'card', id: 'quality' }, h('h2', {}, 'Quality'), quality(b.quality)),
        h('section', { class: 'card', id: 'custodians' }, h('h2', {}, 'Custodians'),
          h('ul', { class: 'plain' }, (b.custodians || []).map((c) => h('li', {}, c, c === b.owner ? h('span', { class: 'muted' }, ' (owner)') : null)))))),
    h('section', { class: 'card' },
      h('h2', {}, 'Timeline ', h('span', { class: 'muted' }, `${events.length} event${events.length === 1 ? '' : 's'}`)),
      timeline(events, focusTx, focusEvent)));

  const focused = main.querySelector('.event.focus');
  if (focused) focused.scrollIntoView({ block: 'center' });
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
    row('Parents', b.parents && b.parents.length ? b.parents.map((p, i) => [i ? ', ' : '', h('a', { href: link.batch(p) }, p)]) : null),
    row('Source', b.source ? [b.source.type, b.source.region, b.source.description].filter(Boolean).join(' · ') : null),
    row('Retired for', b.retiredFor),
    row('Version', String(b.version)),
    row('Created', b.createdAt ? [fmt.time(b.createdAt), ' in ', h('code', {}, b.createdTxId)] : null),
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
      row('Transaction', q.txId ? h('code', {}, q.txId) : null),
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
      return [`verdict ${p.verdict}`, p.scope ? ` (${p.scope})` : '', `, ${(p.findings || []).length} finding(s)`];
    case 'FROZEN': case 'UNFROZEN': case 'RETIRED':
      return [p.reason || ''];
  }
  return [];
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
        'tx ', h('code', { class: 'tx' }, e.txId),
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
