// DOM helpers. Everything the API says is put into the page as text nodes or
// attribute values, never parsed as HTML.

// h builds an element: h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]).
// null, undefined and false children are skipped; strings and numbers become text.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

// add appends children to el like h does: null, undefined and false are
// skipped. (Element.append would write them as the text "null".)
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear empties el and returns it.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Links inside the console are hash routes; IDs are encoded as path segments.
export const link = {
  batch: (id, query) => `#/batch/${encodeURIComponent(id)}${query ? '?' + new URLSearchParams(query) : ''}`,
  lineage: (id, query) => `#/lineage/${encodeURIComponent(id)}${query ? '?' + new URLSearchParams(query) : ''}`,
  compliance: (id) => `#/compliance/${encodeURIComponent(id)}`,
  impact: (id) => `#/lineage/${encodeURIComponent(id)}?view=impact`,
};

const numberFmt = new Intl.NumberFormat('en');
export const fmt = {
  int: (n) => (n == null ? '' : numberFmt.format(n)),
  price: (n) => (n == null ? '' : n.toFixed(2)),
  time: (s) => {
    if (!s) return '';
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? s : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  },
  list: (xs) => (xs && xs.length ? xs.join(', ') : '—'),
  plural: (n, one, many) => `${numberFmt.format(n)} ${n === 1 ? one : many || one + 's'}`,
};

// loading is the placeholder a page shows while it waits for the API.
export function loading(what) {
  return h('div', { class: 'loading', role: 'status', 'aria-live': 'polite' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Loading ${what}…`);
}

// banner is a full-width statement about a batch (tainted, frozen, retired):
// a heading, what happened, and the evidence.
export function banner(kind, title, ...body) {
  return h('section', { class: `banner banner-${kind}`, role: 'note', dataset: { banner: kind } },
    h('strong', { class: 'banner-title' }, title), h('div', { class: 'banner-body' }, body));
}

// csv renders rows (arrays of cells) as RFC 4180 text. Cells that a
// spreadsheet would run as a formula are prefixed with a quote.
export function csv(rows) {
  const cell = (v) => {
    let s = v == null ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

// setTitle names the page in the browser's tab and history.
export function setTitle(...parts) {
  document.title = [...parts.filter(Boolean), 'tokentrail console'].join(' · ');
}

// badge is a small coloured label; kind picks the colour (a class name).
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}`.trim() }, text);
}

export const piBadge = (pi) => badge(pi || 'unknown', `pi-${pi || 'unknown'}`);
export const statusBadge = (s) => badge(s || 'unknown', `status-${s || 'unknown'}`);

// errorBox renders an error for the user: the problem's title, detail and
// rule when the API sent one.
export function errorBox(err) {
  const p = err && err.problem;
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, p ? p.title || `Error ${err.status}` : 'Error'),
    ' ',
    p && p.detail ? p.detail : err && err.message ? err.message : String(err),
    p && p.rule ? h('span', { class: 'rule' }, ` (${p.rule})`) : null);
}

// download saves text as a file, without putting anything in a URL that
// leaves the page (blob URLs are local to this document).
export function download(filename, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
