// The regulator's live feed of committed events, read from
// GET /api/v1/events/stream (Server-Sent Events) with fetch() so the key can
// go in the Authorization header. It resumes after a drop with Last-Event-ID.
// When the server has no such route the panel says the feed is unavailable.
// It opens with the events of the last few blocks, so it is not empty, and
// shows each event once (an event that touches several batches may arrive
// once per batch).
import { h, link, fmt, badge, clear, setTitle } from '../dom.js';
import { session, query, get, enc, ApiError } from '../api.js';
import { SSEParser } from '../sse.js';
import { eventTypes } from './options.js';
import { summary } from './batch.js';

const MAX_ROWS = 200;
// How many blocks back the feed starts when it opens.
const BACKLOG_BLOCKS = 20;

export const title = () => 'Live feed';
export const loadingWhat = 'the feed';

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
  setTitle('Live feed');
  main.append(h('h1', {}, 'Live feed'),
    h('p', { class: 'muted' }, `Events as they are committed to the ledger, newest first, starting ${BACKLOG_BLOCKS} blocks back.`),
    form, status, list);

  const abort = new AbortController();
  let lastId = '';
  let retryMs = 2000;
  let received = 0;
  const seen = new Set();

  function setStatus(state, text) {
    status.dataset.feed = state;
    clear(status).append(badge(state, `feed-${state}`), ' ', text);
  }

  function show(ev) {
    let e;
    try { e = JSON.parse(ev.data); } catch { return; }
    const key = e.eventId || ev.id;
    if (seen.has(key)) return;
    seen.add(key);
    if (seen.size > 5000) seen.clear();
    received++;
    window.dispatchEvent(new Event('tokentrail:ledger-moved'));
    const batch = e.batchId || (e.batchIds || [])[0] || '';
    list.prepend(h('li', { class: 'feed-event', dataset: { id: ev.id, eventId: e.eventId || '', type: e.type || ev.type } },
      h('time', { datetime: e.timestamp }, fmt.time(e.timestamp)), ' ',
      badge(e.type || ev.type, `ev-${e.type || ev.type}`), ' ',
      batch ? h('a', { href: link.batch(batch, { event: e.eventId }) }, h('code', {}, batch)) : null, ' ',
      h('span', { class: 'actor' }, e.actor || ''), ' ',
      h('span', { class: 'muted' }, summary(e)), ' ',
      h('code', { class: 'tx muted' }, e.txId || '')));
    while (list.children.length > MAX_ROWS) list.lastChild.remove();
    setStatus('live', `connected · ${fmt.plural(received, 'event')} shown`);
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
    setStatus('live', `connected · ${fmt.plural(received, 'event')} shown`);
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
    // A batch filter must name a batch the caller may read, or the feed
    // would wait forever for nothing.
    if (batchId) {
      try {
        await get(`/batches/${enc(batchId)}`, { signal: abort.signal });
      } catch (err) {
        if (abort.signal.aborted) return;
        setStatus('refused', err instanceof ApiError && err.status === 404
          ? `There is no batch ${batchId}: nothing to watch. Check the ID.`
          : `Batch ${batchId} cannot be watched: ${err.message}`);
        return;
      }
    }
    // Start a few blocks back so the feed opens with recent events.
    try {
      const info = await get('/ledger', { signal: abort.signal });
      const from = Number(info.height) - BACKLOG_BLOCKS;
      lastId = from > 0 ? `${from}.0.0` : '0';
    } catch { /* live only */ }
    while (!abort.signal.aborted) {
      const next = await connect();
      if (next === 'stop' || abort.signal.aborted) break;
      await new Promise((r) => setTimeout(r, retryMs));
    }
  })();

  return () => abort.abort();
}
