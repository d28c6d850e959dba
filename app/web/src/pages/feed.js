// The regulator's live feed of committed events, read from
// GET /api/v1/events/stream (Server-Sent Events) with fetch() so the key can
// go in the Authorization header. It resumes after a drop with Last-Event-ID.
// When the server has no such route the panel says the feed is unavailable.
import { h, link, fmt, badge, clear } from '../dom.js';
import { session, query } from '../api.js';
import { SSEParser } from '../sse.js';
import { eventTypes } from './options.js';
import { summary } from './batch.js';

const MAX_ROWS = 200;

export async function render(main, route, ctx) {
  const p = route.params;
  const chosen = new Set((p.get('type') || '').split(',').filter(Boolean));
  const batchId = p.get('batchId') || '';

  const form = h('form', { class: 'filters', id: 'feed-filters' },
    h('fieldset', { class: 'types' }, h('legend', {}, 'Event types (none ticked: all)'),
      eventTypes.map((t) => h('label', {}, h('input', { type: 'checkbox', name: 'type', value: t, checked: chosen.has(t) }), ' ', t))),
    h('label', {}, 'Batch ', h('input', { name: 'batchId', value: batchId, placeholder: 'any', size: 20 })),
    h('button', { type: 'submit', class: 'primary' }, 'Watch'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    location.hash = '#/feed' + query({ type: fd.getAll('type').join(','), batchId: String(fd.get('batchId') || '').trim() });
  });

  const status = h('div', { id: 'feed-status', class: 'feed-status', dataset: { feed: 'connecting' } });
  const list = h('ol', { id: 'feed-events', class: 'feed' });
  main.append(h('h1', {}, 'Live feed'),
    h('p', { class: 'muted' }, 'Events as they are committed to the ledger, newest first.'),
    form, status, list);

  const abort = new AbortController();
  let lastId = '';
  let retryMs = 2000;
  let received = 0;

  function setStatus(state, text) {
    status.dataset.feed = state;
    clear(status).append(badge(state, `feed-${state}`), ' ', text);
  }

  function show(ev) {
    let e;
    try { e = JSON.parse(ev.data); } catch { return; }
    received++;
    const batch = e.batchId || (e.batchIds || [])[0] || '';
    list.prepend(h('li', { class: 'feed-event', dataset: { id: ev.id, type: e.type || ev.type } },
      h('time', { datetime: e.timestamp }, fmt.time(e.timestamp)), ' ',
      badge(e.type || ev.type, `ev-${e.type || ev.type}`), ' ',
      batch ? h('a', { href: link.batch(batch, { event: e.eventId }) }, h('code', {}, batch)) : null, ' ',
      h('span', { class: 'actor' }, e.actor || ''), ' ',
      h('span', { class: 'muted' }, summary(e)), ' ',
      h('code', { class: 'tx muted' }, e.txId || '')));
    while (list.children.length > MAX_ROWS) list.lastChild.remove();
    setStatus('live', `connected · ${received} event(s) received`);
  }

  async function connect() {
    const q = query({ type: [...chosen].join(','), batchId });
    const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + session.key() };
    if (lastId) headers['Last-Event-ID'] = lastId;
    let res;
    try {
      res = await fetch('/api/v1/events/stream' + q, { headers, signal: abort.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    } catch (err) {
      if (abort.signal.aborted) return 'stop';
      setStatus('reconnecting', `connection failed (${err.message}); retrying in ${Math.round(retryMs / 1000)} s`);
      return 'retry';
    }
    if ((res.status === 404 && !batchId) || res.status === 405 || res.status === 501) {
      setStatus('unavailable', 'Live feed unavailable: this server does not offer the event stream (GET /api/v1/events/stream).');
      return 'stop';
    }
    if (!res.ok) {
      let detail = `HTTP ${res.status}`;
      try { const pr = await res.json(); detail = pr.detail || pr.title || detail; } catch { /* not JSON */ }
      setStatus('refused', detail);
      return res.status >= 500 ? 'retry' : 'stop';
    }
    if (!(res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      setStatus('unavailable', `Live feed unavailable: the server answered ${res.headers.get('Content-Type') || 'no content type'}, not an event stream.`);
      return 'stop';
    }
    setStatus('live', `connected · ${received} event(s) received`);
    const parser = new SSEParser((ev) => { lastId = ev.id || lastId; show(ev); }, (ms) => { retryMs = ms; });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch (err) {
      if (abort.signal.aborted) return 'stop';
    }
    if (abort.signal.aborted) return 'stop';
    setStatus('reconnecting', `stream ended; reconnecting in ${Math.round(retryMs / 1000)} s from event ${lastId || 'start'}`);
    return 'retry';
  }

  (async () => {
    setStatus('connecting', 'connecting…');
    while (!abort.signal.aborted) {
      const next = await connect();
      if (next === 'stop' || abort.signal.aborted) break;
      await new Promise((r) => setTimeout(r, retryMs));
    }
  })();

  return () => abort.abort();
}
