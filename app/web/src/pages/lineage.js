// The lineage graph of a batch, drawn by Cytoscape.js with the dagre layered
// layout: nodes coloured by personal-information level (fill) and status
// (border), edges labelled with the processing operations.
//
// Built to stay readable at a hundred nodes: the first view is never zoomed
// out below a legible size (it centres on the batch and lets you pan
// instead); there are zoom, fit and reset buttons, an overview map of the
// whole graph with the visible part framed, search and highlight by ID or
// name, a card on hover or focus, a choice of layout direction, and the
// levels shown around the batch can be limited (the cut nodes say how many
// neighbours they hide).
//
// The impact view (?view=impact) is a worklist: for each organisation, the
// affected batches it holds, received or bought, exportable as CSV; beside it
// the descendants' graph with the affected batches marked.
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
import { h, add, link, fmt, errorBox, statusBadge, piBadge, download, csv, setTitle, clear } from '../dom.js';
import { get, query, enc, hasRole } from '../api.js';

cytoscape.use(dagre);

export const title = (route) => `${route.params.get('view') === 'impact' ? 'Impact' : 'Lineage'} of ${route.arg}`;
export const loadingWhat = 'the graph';

const colours = {
  pi: { none: '#bfe3c6', personal: '#ffd38a', sensitive: '#f4a0a0', redacted: '#e3e3e3' },
  status: { active: '#37474f', frozen: '#1565c0', retired: '#8d8d8d' },
  impact: '#c62828',
};

// Node labels are FONT px in model units; at zoom LEGIBLE they are 10.2 px
// on screen, the least the first view may show. Below it Cytoscape hides
// labels rather than draw specks (min-zoomed-font-size).
export const FONT = 12;
export const LEGIBLE = 0.85;

const style = [
  { selector: 'node', style: {
    'shape': 'round-rectangle', 'width': 200, 'height': 56,
    'background-color': (n) => colours.pi[n.data('pi')] || colours.pi.redacted,
    'border-width': 2, 'border-color': (n) => colours.status[n.data('status')] || colours.status.active,
    'label': 'data(label)', 'text-wrap': 'wrap', 'text-max-width': 188, 'text-valign': 'center', 'text-halign': 'center',
    'font-size': FONT, 'color': '#1b1f23', 'min-zoomed-font-size': 8,
  } },
  { selector: 'node.frozen', style: { 'border-width': 5, 'border-style': 'double' } },
  { selector: 'node.retired', style: { 'border-style': 'dashed', 'opacity': 0.75 } },
  { selector: 'node.redacted', style: { 'color': '#555', 'font-style': 'italic' } },
  { selector: 'node.root', style: { 'border-width': 4, 'font-weight': 'bold', 'underlay-color': '#7fb3ff', 'underlay-opacity': 0.35, 'underlay-padding': 6 } },
  { selector: 'node.collapsed', style: { 'border-style': 'dotted', 'border-width': 3 } },
  { selector: 'edge', style: {
    'curve-style': 'bezier', 'width': 2, 'line-color': '#607d8b', 'target-arrow-color': '#607d8b', 'target-arrow-shape': 'triangle',
    'label': 'data(label)', 'font-size': 11, 'color': '#263238', 'text-wrap': 'wrap', 'text-max-width': 160, 'min-zoomed-font-size': 8,
    'text-background-color': '#ffffff', 'text-background-opacity': 0.85, 'text-background-padding': 2, 'text-margin-y': -10,
  } },
  { selector: 'node.impacted', style: { 'border-color': colours.impact, 'border-width': 5 } },
  { selector: 'edge.impacted', style: { 'line-color': colours.impact, 'target-arrow-color': colours.impact } },
  { selector: '.faded', style: { 'opacity': 0.18 } },
  { selector: 'node.match', style: { 'underlay-color': '#ffb300', 'underlay-opacity': 0.6, 'underlay-padding': 8, 'opacity': 1 } },
  { selector: 'node.hover', style: { 'underlay-color': '#1565c0', 'underlay-opacity': 0.25, 'underlay-padding': 6 } },
];

// nodeLabel is what a batch node shows: its name and ID, or just the ID when
// the caller may not read the batch.
function nodeLabel(n, hidden) {
  const clip = (s, max) => (s.length > max ? s.slice(0, max - 1) + '…' : s);
  const more = hidden ? `\n+${hidden} hidden` : '';
  if (n.redacted) return `${clip(n.id, 30)}\n(not visible)${more}`;
  return `${clip(n.name || n.id, 30)}\n${clip(n.id, 30)}${more}`;
}

// elements turns a lineage answer into Cytoscape elements. With levels, only
// batches at most that many steps from the root are kept; a kept node whose
// neighbours were cut says how many.
export function elements(graph, levels) {
  const keep = (n) => !levels || Math.abs(n.distance) <= levels;
  const kept = new Set((graph.nodes || []).filter(keep).map((n) => n.id));
  const hidden = new Map();
  for (const e of graph.edges || []) {
    for (const [a, b] of [[e.from, e.to], [e.to, e.from]]) {
      if (kept.has(a) && !kept.has(b)) hidden.set(a, (hidden.get(a) || new Set()).add(b));
    }
  }
  const nodes = (graph.nodes || []).filter(keep).map((n) => ({
    group: 'nodes',
    data: { id: n.id, label: nodeLabel(n, hidden.has(n.id) ? hidden.get(n.id).size : 0), name: n.name || '', pi: n.redacted ? 'redacted' : n.personalInfo,
      status: n.status, distance: n.distance, kind: 'batch', owner: n.owner || '', sector: n.sector || '', redacted: !!n.redacted },
    classes: [n.status, n.redacted ? 'redacted' : '', n.id === graph.root ? 'root' : '', hidden.has(n.id) ? 'collapsed' : ''].filter(Boolean).join(' '),
  }));
  const edges = (graph.edges || []).filter((e) => kept.has(e.from) && kept.has(e.to)).map((e) => ({
    group: 'edges',
    data: { id: `${e.eventId}:${e.from}>${e.to}`, source: e.from, target: e.to, label: (e.operations || []).join(', '), eventId: e.eventId, txId: e.txId, kind: 'derivation' },
  }));
  return [...nodes, ...edges];
}

// worklist turns an impact answer into one row per organisation and batch
// it must act on: it owns or holds it, received it in a circulation, or
// bought it in a trade.
export function worklist(impact) {
  const rows = [];
  for (const b of impact.batches || []) {
    const base = { batchId: b.batchId, name: b.name || '', status: b.status || '', distance: b.distance };
    for (const m of b.custodians || []) rows.push({ ...base, org: m, relation: m === b.owner ? 'owner' : 'custodian', detail: '', eventId: '' });
    if (b.owner && !(b.custodians || []).includes(b.owner)) rows.push({ ...base, org: b.owner, relation: 'owner', detail: '', eventId: '' });
    for (const c of b.circulations || []) {
      const p = c.circulated || {};
      rows.push({ ...base, org: p.to || '?', relation: 'circulated to', detail: [p.purpose, p.accessMode, p.expiresAt ? `until ${fmt.time(p.expiresAt)}` : ''].filter(Boolean).join(', '), eventId: c.eventId || '' });
    }
    for (const t of b.trades || []) rows.push({ ...base, org: t.buyer || '?', relation: 'bought', detail: `trade ${t.tradeId} from ${t.seller}, ${fmt.int(t.tokens)} tokens, ${t.rights || ''}`, eventId: t.eventId || '' });
  }
  rows.sort((a, b) => a.org.localeCompare(b.org) || a.distance - b.distance || a.batchId.localeCompare(b.batchId) || a.relation.localeCompare(b.relation));
  return rows;
}

export function worklistCSV(root, rows) {
  return csv([['organisation', 'batch', 'name', 'status', 'distance', 'relation', 'detail', 'event', 'root'],
    ...rows.map((r) => [r.org, r.batchId, r.name, r.status, r.distance, r.relation, r.detail, r.eventId, root])]);
}

export async function render(main, route, ctx) {
  const id = route.arg;
  const p = route.params;
  const impactView = p.get('view') === 'impact';
  const direction = impactView ? 'down' : (['both', 'up', 'down'].includes(p.get('direction')) ? p.get('direction') : 'both');
  const depth = String(Math.min(50, Math.max(1, Number.parseInt(p.get('depth') || '10', 10) || 10)));
  const levels = Math.max(0, Number.parseInt(p.get('levels') || '0', 10) || 0);
  const narrow = window.matchMedia('(max-width: 700px)').matches;
  const rankDir = ['LR', 'TB'].includes(p.get('layout')) ? p.get('layout') : (narrow ? 'TB' : 'LR');
  const canImpact = await hasRole('regulator', 'auditor');
  if (ctx.stale()) return;

  const controls = h('form', { class: 'filters', id: 'lineage-controls' },
    impactView ? null : h('label', {}, 'Direction ', h('select', { name: 'direction' },
      [['both', 'up and down'], ['up', 'ancestors'], ['down', 'descendants']].map(([d, t]) => h('option', { value: d, selected: d === direction }, t)))),
    h('label', {}, 'Depth ', h('input', { name: 'depth', type: 'number', min: 1, max: 50, value: depth, size: 3 })),
    h('label', { title: 'Show only batches this many steps from this one (0: all)' }, 'Levels shown ', h('input', { name: 'levels', type: 'number', min: 0, max: 50, value: levels, size: 3 })),
    h('label', {}, 'Layout ', h('select', { name: 'layout', id: 'layout' },
      [['LR', 'left to right'], ['TB', 'top to bottom']].map(([d, t]) => h('option', { value: d, selected: d === rankDir }, t)))),
    h('button', { type: 'submit' }, 'Redraw'),
    impactView
      ? h('a', { href: link.lineage(id), id: 'lineage-view' }, 'Lineage view')
      : canImpact ? h('a', { href: link.impact(id), id: 'impact-view' }, 'Impact view') : null);
  controls.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(controls);
    const q = { depth: fd.get('depth'), levels: fd.get('levels') === '0' ? '' : fd.get('levels'), layout: fd.get('layout') };
    if (impactView) q.view = 'impact'; else q.direction = fd.get('direction');
    location.hash = link.lineage(id, Object.fromEntries(Object.entries(q).filter(([, v]) => v)));
  });
  controls.querySelector('#layout').addEventListener('change', () => controls.requestSubmit());

  const search = h('input', { type: 'search', id: 'graph-search', placeholder: 'Find a batch by ID or name', autocomplete: 'off', 'aria-label': 'Find a batch in the graph' });
  const found = h('span', { class: 'muted', id: 'graph-found', 'aria-live': 'polite' });
  const btn = (id, label, text) => h('button', { type: 'button', id, title: label, 'aria-label': label }, text);
  const toolbar = h('div', { class: 'graph-toolbar', role: 'toolbar', 'aria-label': 'Graph controls' },
    btn('zoom-in', 'Zoom in', '+'), btn('zoom-out', 'Zoom out', '−'), btn('zoom-fit', 'Fit the whole graph', 'Fit'),
    btn('zoom-reset', 'Centre on this batch at a readable size', 'Reset'), search, found);
  const graphEl = h('div', { id: 'graph', class: 'graph', role: 'img', 'aria-label': `${impactView ? 'impact' : 'lineage'} graph of ${id}` });
  const card = h('div', { class: 'hover-card', id: 'hover-card', hidden: true, role: 'tooltip' });
  const overview = h('canvas', { class: 'overview', id: 'overview', width: 180, height: 120, title: 'Overview: click or drag to move the view' });
  const side = h('aside', { id: 'graph-side', class: 'graph-side' });
  add(main,
    h('div', { class: 'title' },
      h('h1', {}, impactView ? 'Impact of ' : 'Lineage of ', h('a', { href: link.batch(id) }, h('code', { class: 'wrap' }, id)))),
    controls,
    legend(impactView),
    impactView ? side : null,
    toolbar,
    h('div', { class: 'graph-wrap' }, h('div', { class: 'graph-box' }, graphEl, overview, card), impactView ? null : side));

  const graph = await get(`/batches/${enc(id)}/lineage` + query({ direction, depth }));
  if (ctx.stale()) return;
  if (!graph.nodes || graph.nodes.length === 0) throw new Error(`The ledger returned an empty lineage graph for ${id}.`);

  let impact = null;
  if (impactView) {
    try {
      impact = await get(`/batches/${enc(id)}/impact`);
    } catch (err) {
      side.append(errorBox(err));
      ctx.setState('error');
    }
    if (ctx.stale()) return;
  }

  const cy = cytoscape({
    container: graphEl,
    elements: elements(graph, levels),
    style,
    layout: { name: 'dagre', rankDir, nodeSep: 30, rankSep: rankDir === 'LR' ? 150 : 70, edgeSep: 20, padding: 20, fit: true },
    minZoom: 0.05, maxZoom: 3,
    boxSelectionEnabled: false, autoungrabify: true,
  });
  const root = cy.getElementById(id);
  // The first view: the whole graph when it fits at a legible size, else the
  // batch itself at that size, with the rest a pan or a scroll away.
  const reset = () => {
    cy.fit(undefined, 20);
    if (cy.zoom() < LEGIBLE) { cy.zoom(LEGIBLE); cy.center(root.nonempty() ? root : undefined); }
  };
  reset();
  if (impact) {
    const impacted = new Set((impact.batches || []).map((b) => b.batchId));
    cy.nodes().filter((n) => impacted.has(n.id()) && n.id() !== id).addClass('impacted');
    cy.edges().filter((e) => impacted.has(e.target().id())).addClass('impacted');
  }

  const zoomBy = (f) => cy.zoom({ level: Math.min(cy.maxZoom(), Math.max(cy.minZoom(), cy.zoom() * f)), renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  toolbar.querySelector('#zoom-in').addEventListener('click', () => zoomBy(1.25));
  toolbar.querySelector('#zoom-out').addEventListener('click', () => zoomBy(0.8));
  toolbar.querySelector('#zoom-fit').addEventListener('click', () => cy.fit(undefined, 20));
  toolbar.querySelector('#zoom-reset').addEventListener('click', reset);

  // Search: highlight every batch whose ID or name contains the text; Enter
  // moves to the next one.
  let matches = [];
  let at = -1;
  const goToMatch = () => {
    if (!matches.length) return;
    at = (at + 1) % matches.length;
    cy.stop(true, true);
    cy.animate({ zoom: Math.max(cy.zoom(), 1), center: { eles: matches[at] } }, { duration: 200 });
    found.textContent = `${at + 1} of ${matches.length}`;
  };
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    cy.elements().removeClass('faded match');
    matches = []; at = -1;
    if (!q) { found.textContent = ''; return; }
    const hit = cy.nodes().filter((n) => n.id().toLowerCase().includes(q) || String(n.data('name')).toLowerCase().includes(q));
    matches = hit.toArray();
    found.textContent = matches.length ? fmt.plural(matches.length, 'match', 'matches') : 'no match';
    if (matches.length) { cy.elements().not(hit).addClass('faded'); hit.addClass('match'); goToMatch(); }
  });
  search.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); goToMatch(); } });

  // Hover card.
  const showCard = (n) => {
    const d = n.data();
    const pos = n.renderedPosition();
    add(clear(card),
      h('strong', {}, d.redacted ? 'Not visible to you' : d.name || d.id), h('br'),
      h('code', { class: 'wrap' }, d.id), h('br'),
      statusBadge(d.status), ' ', piBadge(d.pi), h('br'),
      d.owner ? ['owner ', d.owner, h('br')] : null,
      d.sector ? [d.sector, h('br')] : null,
      h('span', { class: 'muted' }, d.distance === 0 ? 'this batch' : d.distance < 0 ? `${-d.distance} step(s) up` : `${d.distance} step(s) down`));
    card.hidden = false;
    const w = graphEl.clientWidth;
    card.style.left = `${Math.min(Math.max(0, pos.x + 20), Math.max(0, w - 240))}px`;
    card.style.top = `${Math.max(0, pos.y - 20)}px`;
  };
  cy.on('mouseover', 'node', (ev) => { ev.target.addClass('hover'); graphEl.style.cursor = 'pointer'; showCard(ev.target); });
  cy.on('mouseout', 'node', (ev) => { ev.target.removeClass('hover'); graphEl.style.cursor = ''; card.hidden = true; });
  cy.on('viewport', () => { card.hidden = true; });
  cy.on('tap', 'node', (ev) => { location.hash = link.batch(ev.target.id()); });

  // Overview map: every node as a dot, the visible part framed.
  const drawOverview = overviewPainter(cy, overview);
  let pending = false;
  cy.on('viewport render', () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; drawOverview(); }); } });
  drawOverview();
  const moveTo = (ev) => {
    const r = overview.getBoundingClientRect();
    const m = drawOverview.toModel(ev.clientX - r.left, ev.clientY - r.top);
    cy.pan({ x: cy.width() / 2 - m.x * cy.zoom(), y: cy.height() / 2 - m.y * cy.zoom() });
  };
  let dragging = false;
  overview.addEventListener('pointerdown', (ev) => { dragging = true; overview.setPointerCapture(ev.pointerId); moveTo(ev); });
  overview.addEventListener('pointermove', (ev) => { if (dragging) moveTo(ev); });
  overview.addEventListener('pointerup', () => { dragging = false; });

  // Tests (and curious users in the devtools) read the drawn model here.
  window.__cy = cy;

  if (impact) side.append(impactSummary(id, impact));
  else if (!impactView) side.append(graphSummary(graph, levels));
  if (graph.truncated) side.prepend(h('div', { class: 'notice' }, 'The graph was cut at the requested depth; raise it to see more.'));

  return () => {
    if (window.__cy === cy) window.__cy = undefined;
    cy.destroy();
  };
}

// overviewPainter draws the graph's nodes small on canvas, and the current
// view as a frame; toModel maps a point on the canvas to the graph.
function overviewPainter(cy, canvas) {
  const ctx2d = canvas.getContext('2d');
  let scale = 1; let ox = 0; let oy = 0;
  const draw = () => {
    if (cy.destroyed()) return;
    const bb = cy.nodes().boundingBox();
    const W = canvas.width; const H = canvas.height; const pad = 6;
    scale = Math.min((W - 2 * pad) / Math.max(bb.w, 1), (H - 2 * pad) / Math.max(bb.h, 1));
    ox = pad + ((W - 2 * pad) - bb.w * scale) / 2 - bb.x1 * scale;
    oy = pad + ((H - 2 * pad) - bb.h * scale) / 2 - bb.y1 * scale;
    ctx2d.clearRect(0, 0, W, H);
    ctx2d.fillStyle = '#ffffff';
    ctx2d.fillRect(0, 0, W, H);
    ctx2d.strokeStyle = '#b0bec5';
    ctx2d.lineWidth = 1;
    cy.edges().forEach((e) => {
      const a = e.source().position(); const b = e.target().position();
      ctx2d.beginPath(); ctx2d.moveTo(a.x * scale + ox, a.y * scale + oy); ctx2d.lineTo(b.x * scale + ox, b.y * scale + oy); ctx2d.stroke();
    });
    cy.nodes().forEach((n) => {
      const p = n.position();
      const w = Math.max(3, n.width() * scale); const hgt = Math.max(2, n.height() * scale);
      ctx2d.fillStyle = n.hasClass('match') ? '#ffb300' : n.hasClass('root') ? '#1565c0' : n.hasClass('impacted') ? colours.impact : colours.pi[n.data('pi')] || '#cfd8dc';
      ctx2d.fillRect(p.x * scale + ox - w / 2, p.y * scale + oy - hgt / 2, w, hgt);
    });
    const ex = cy.extent();
    ctx2d.strokeStyle = '#c62828';
    ctx2d.lineWidth = 2;
    ctx2d.strokeRect(ex.x1 * scale + ox, ex.y1 * scale + oy, ex.w * scale, ex.h * scale);
  };
  draw.toModel = (x, y) => ({ x: (x - ox) / scale, y: (y - oy) / scale });
  return draw;
}

function legend(impactView) {
  const swatch = (cls, text) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${cls}` }), text);
  return h('details', { class: 'legend', id: 'legend', open: !window.matchMedia('(max-width: 700px)').matches },
    h('summary', {}, 'Legend'),
    h('span', { class: 'muted' }, 'Fill: personal information '),
    swatch('pi-none', 'none'), swatch('pi-personal', 'personal'), swatch('pi-sensitive', 'sensitive'), swatch('pi-redacted', 'not visible'),
    h('span', { class: 'muted' }, ' · Border: '),
    swatch('st-active', 'active'), swatch('st-frozen', 'frozen'), swatch('st-retired', 'retired'), swatch('st-collapsed', 'has hidden neighbours'),
    impactView ? [h('span', { class: 'muted' }, ' · '), swatch('st-impact', 'affected')] : null,
    h('span', { class: 'muted' }, ' · Drag to pan, scroll or use the buttons to zoom; click a batch to open it.'));
}

function graphSummary(graph, levels) {
  const ancestors = graph.nodes.filter((n) => n.distance < 0).length;
  const descendants = graph.nodes.filter((n) => n.distance > 0).length;
  const list = [...graph.nodes].sort((a, b) => a.distance - b.distance || a.id.localeCompare(b.id));
  return h('div', {},
    h('h2', {}, 'Graph'),
    h('p', { id: 'graph-counts' }, `${fmt.plural(graph.nodes.length, 'batch', 'batches')}, ${fmt.plural(graph.edges.length, 'derivation')}: ${ancestors} ancestor(s), ${descendants} descendant(s), direction ${graph.direction}, depth ${graph.depth}.`,
      levels ? ` Showing ${levels} level(s) around this batch.` : ''),
    h('details', { class: 'node-list-box', open: graph.nodes.length <= 30 }, h('summary', {}, 'Every batch in the graph'),
      h('ul', { class: 'plain node-list' }, list.map((n) => h('li', {},
        h('a', { href: link.batch(n.id) }, h('code', { class: 'wrap' }, n.id)), ' ', statusBadge(n.status),
        h('span', { class: 'muted' }, n.distance === 0 ? ' (this batch)' : n.distance < 0 ? ` (${-n.distance} up)` : ` (${n.distance} down)`))))));
}

// impactSummary is the worklist: who must act on what, per organisation.
function impactSummary(root, impact) {
  const rows = worklist(impact);
  const byOrg = new Map();
  for (const r of rows) {
    if (!byOrg.has(r.org)) byOrg.set(r.org, []);
    byOrg.get(r.org).push(r);
  }
  const batches = impact.batches || [];
  return h('div', { id: 'impact-summary' },
    h('h2', {}, 'Who must act'),
    h('p', {}, `${fmt.plural(batches.length, 'batch', 'batches')} affected, held by ${fmt.plural((impact.holders || []).length, 'organisation')}; ${fmt.plural(impact.circulationCount || 0, 'circulation')}, ${fmt.plural(impact.tradeCount || 0, 'trade')}.`),
    h('p', { class: 'no-print' },
      h('button', { type: 'button', id: 'export-worklist', onclick: () => download(`impact-${root}.csv`, worklistCSV(root, rows), 'text/csv') }, 'Download worklist (CSV)')),
    h('ul', { class: 'plain', id: 'impact-holders' }, (impact.holders || []).map((m) => h('li', {}, h('a', { href: `#org-${m}`, onclick: (ev) => { ev.preventDefault(); const t = document.getElementById(`worklist-${m}`); if (t) { t.open = true; t.scrollIntoView(); } } }, m),
      h('span', { class: 'muted' }, ` · ${fmt.plural(new Set((byOrg.get(m) || []).map((r) => r.batchId)).size, 'batch', 'batches')}`)))),
    h('div', { id: 'worklist' }, [...byOrg.entries()].map(([org, list]) => h('details', { class: 'worklist-org', id: `worklist-${org}`, open: true, dataset: { org } },
      h('summary', {}, h('strong', {}, org), h('span', { class: 'muted' }, ` · ${fmt.plural(list.length, 'item')}`)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'list compact worklist' },
        h('thead', {}, h('tr', {}, ['Batch', 'Relation', 'Detail', 'Step', 'Status'].map((c) => h('th', {}, c)))),
        h('tbody', {}, list.map((r) => h('tr', { dataset: { batch: r.batchId, relation: r.relation } },
          h('td', {}, h('a', { href: link.batch(r.batchId, r.eventId ? { event: r.eventId } : null) }, h('code', { class: 'wrap' }, r.batchId)), r.name ? h('div', { class: 'muted' }, r.name) : null),
          h('td', {}, r.relation),
          h('td', {}, r.detail),
          h('td', { class: 'num' }, String(r.distance)),
          h('td', {}, statusBadge(r.status)))))))))));
}
