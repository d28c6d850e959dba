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
};

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
