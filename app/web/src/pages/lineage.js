// The lineage graph of a batch, drawn by Cytoscape.js with the dagre layered
// layout: nodes coloured by personal-information level (fill) and status
// (border), edges labelled with the processing operations. The impact view
// adds who holds each descendant and every circulation and trade.
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
import { h, link, fmt, errorBox, statusBadge } from '../dom.js';
import { get, query, enc } from '../api.js';

cytoscape.use(dagre);

const colours = {
  pi: { none: '#bfe3c6', personal: '#ffd38a', sensitive: '#f4a0a0', redacted: '#e3e3e3' },
  status: { active: '#37474f', frozen: '#1565c0', retired: '#8d8d8d' },
  impact: '#c62828',
};

const style = [
  { selector: 'node', style: {
    'shape': 'round-rectangle', 'width': 200, 'height': 56,
    'background-color': (n) => colours.pi[n.data('pi')] || colours.pi.redacted,
    'border-width': 2, 'border-color': (n) => colours.status[n.data('status')] || colours.status.active,
    'label': 'data(label)', 'text-wrap': 'wrap', 'text-max-width': 188, 'text-valign': 'center', 'text-halign': 'center',
    'font-size': 12, 'color': '#1b1f23',
  } },
  { selector: 'node.frozen', style: { 'border-width': 5, 'border-style': 'double' } },
  { selector: 'node.retired', style: { 'border-style': 'dashed', 'opacity': 0.65 } },
  { selector: 'node.redacted', style: { 'color': '#666', 'font-style': 'italic' } },
  { selector: 'node.root', style: { 'border-width': 4, 'font-weight': 'bold' } },
  { selector: 'node.org', style: {
    'shape': 'ellipse', 'width': 130, 'height': 40, 'background-color': '#eef1f5', 'border-color': '#78909c', 'border-width': 1, 'font-size': 11,
  } },
  { selector: 'edge', style: {
    'curve-style': 'bezier', 'width': 2, 'line-color': '#607d8b', 'target-arrow-color': '#607d8b', 'target-arrow-shape': 'triangle',
    'label': 'data(label)', 'font-size': 11, 'color': '#263238', 'text-wrap': 'wrap', 'text-max-width': 160,
    'text-background-color': '#ffffff', 'text-background-opacity': 0.85, 'text-background-padding': 2, 'text-margin-y': -10,
  } },
  { selector: 'edge.holds', style: { 'line-style': 'dotted', 'line-color': '#90a4ae', 'target-arrow-color': '#90a4ae', 'width': 1, 'font-size': 10, 'color': '#607d8b' } },
  { selector: 'edge.circulation', style: { 'line-style': 'dashed', 'line-color': '#6a1b9a', 'target-arrow-color': '#6a1b9a', 'color': '#6a1b9a' } },
  { selector: 'edge.trade', style: { 'line-color': '#ef6c00', 'target-arrow-color': '#ef6c00', 'color': '#bf360c' } },
  { selector: 'node.impacted', style: { 'border-color': colours.impact, 'border-width': 5 } },
  { selector: 'node.org.impacted', style: { 'border-width': 3 } },
  { selector: 'edge.impacted', style: { 'line-color': colours.impact, 'target-arrow-color': colours.impact } },
];

// nodeLabel is what a batch node shows: its name and ID, or just the ID when
// the caller may not read the batch.
function nodeLabel(n) {
  const clip = (s, max) => (s.length > max ? s.slice(0, max - 1) + '…' : s);
  if (n.redacted) return `${clip(n.id, 30)}\n(not visible)`;
  return `${clip(n.name || n.id, 30)}\n${clip(n.id, 30)}`;
}

export function elements(graph) {
  const nodes = (graph.nodes || []).map((n) => ({
    group: 'nodes',
    data: { id: n.id, label: nodeLabel(n), pi: n.redacted ? 'redacted' : n.personalInfo, status: n.status, distance: n.distance, kind: 'batch' },
    classes: [n.status, n.redacted ? 'redacted' : '', n.id === graph.root ? 'root' : ''].filter(Boolean).join(' '),
  }));
  const edges = (graph.edges || []).map((e) => ({
    group: 'edges',
    data: { id: `${e.eventId}:${e.from}>${e.to}`, source: e.from, target: e.to, label: (e.operations || []).join(', '), eventId: e.eventId, txId: e.txId, kind: 'derivation' },
  }));
  return [...nodes, ...edges];
}

// impactElements adds, for every batch of an impact answer, its holders and
// where it went: circulations and trades go to the receiving organisation.
export function impactElements(impact, present) {
  const out = [];
  const orgs = new Set();
  const org = (msp) => {
    const id = `org:${msp}`;
    if (!orgs.has(id)) { orgs.add(id); out.push({ group: 'nodes', data: { id, label: msp, kind: 'org' }, classes: 'org impacted' }); }
    return id;
  };
  for (const b of impact.batches || []) {
    if (!present.has(b.batchId)) continue;
    const linked = new Set();
    for (const t of b.trades || []) {
      linked.add(t.buyer);
      out.push({ group: 'edges', data: { id: `trade:${t.eventId}`, source: b.batchId, target: org(t.buyer), label: `trade ${t.tradeId}\n${fmt.int(t.tokens)} tokens`, eventId: t.eventId, kind: 'trade' }, classes: 'trade impacted' });
    }
    for (const c of b.circulations || []) {
      const p = c.circulated || {};
      linked.add(p.to);
      out.push({ group: 'edges', data: { id: `circ:${c.eventId}`, source: b.batchId, target: org(p.to), label: `circulated: ${p.purpose}\n${p.accessMode}`, eventId: c.eventId, kind: 'circulation' }, classes: 'circulation impacted' });
    }
    for (const m of b.custodians || []) {
      if (linked.has(m)) continue;
      out.push({ group: 'edges', data: { id: `holds:${b.batchId}>${m}`, source: b.batchId, target: org(m), label: m === b.owner ? 'owner' : 'custodian', kind: 'holds' }, classes: 'holds impacted' });
    }
  }
  return out;
}

export async function render(main, route, ctx) {
  const id = route.arg;
  const impactView = route.params.get('view') === 'impact';
  const direction = impactView ? 'down' : (route.params.get('direction') || 'both');
  const depth = route.params.get('depth') || '10';

  const controls = h('form', { class: 'filters', id: 'lineage-controls' },
    h('label', {}, 'Direction ', h('select', { name: 'direction', disabled: impactView },
      ['both', 'up', 'down'].map((d) => h('option', { value: d, selected: d === direction }, d)))),
    h('label', {}, 'Depth ', h('input', { name: 'depth', type: 'number', min: 1, max: 50, value: depth, size: 3 })),
    h('button', { type: 'submit' }, 'Redraw'),
    impactView
      ? h('a', { href: link.lineage(id), id: 'lineage-view' }, 'Lineage view')
      : h('a', { href: link.lineage(id, { view: 'impact' }), id: 'impact-view' }, 'Impact view'));
  controls.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(controls);
    const q = { depth: fd.get('depth') };
    if (impactView) q.view = 'impact'; else q.direction = fd.get('direction');
    location.hash = link.lineage(id, q);
  });

  const graphEl = h('div', { id: 'graph', class: 'graph', role: 'img', 'aria-label': `lineage graph of ${id}` });
  const side = h('aside', { id: 'graph-side', class: 'graph-side' });
  main.append(
    h('div', { class: 'title' },
      h('h1', {}, impactView ? 'Impact of ' : 'Lineage of ', h('a', { href: link.batch(id) }, h('code', {}, id)))),
    controls,
    legend(impactView),
    h('div', { class: 'graph-wrap' }, graphEl, side));

  const graph = await get(`/batches/${enc(id)}/lineage` + query({ direction, depth }));
  if (ctx.stale()) return;
  if (!graph.nodes || graph.nodes.length === 0) throw new Error(`The ledger returned an empty lineage graph for ${id}.`);

  const els = elements(graph);
  let impact = null;
  if (impactView) {
    try {
      impact = await get(`/batches/${enc(id)}/impact`);
    } catch (err) {
      side.append(errorBox(err));
      ctx.setState('error');
    }
    if (ctx.stale()) return;
    if (impact) els.push(...impactElements(impact, new Set(graph.nodes.map((n) => n.id))));
  }

  const cy = cytoscape({
    container: graphEl,
    elements: els,
    style,
    layout: { name: 'dagre', rankDir: 'LR', nodeSep: 30, rankSep: 150, edgeSep: 20, padding: 20, fit: true },
    minZoom: 0.2, maxZoom: 2.5, wheelSensitivity: 0.3,
    boxSelectionEnabled: false, autoungrabify: true,
  });
  if (impact) {
    const impacted = new Set((impact.batches || []).map((b) => b.batchId));
    cy.nodes().filter((n) => impacted.has(n.id()) && n.id() !== id).addClass('impacted');
    cy.edges().filter((e) => e.data('kind') === 'derivation' && impacted.has(e.target().id())).addClass('impacted');
  }
  cy.on('tap', 'node', (ev) => {
    const n = ev.target;
    if (n.data('kind') === 'batch') location.hash = link.batch(n.id());
  });
  cy.on('mouseover', 'node', (ev) => { if (ev.target.data('kind') === 'batch') graphEl.style.cursor = 'pointer'; });
  cy.on('mouseout', 'node', () => { graphEl.style.cursor = ''; });
  // Tests (and curious users in the devtools) read the drawn model here.
  window.__cy = cy;

  side.append(impact ? impactSummary(impact) : graphSummary(graph));
  if (graph.truncated) side.prepend(h('div', { class: 'notice' }, 'The graph was cut at the requested depth; raise it to see more.'));

  return () => {
    if (window.__cy === cy) window.__cy = undefined;
    cy.destroy();
  };
}

function legend(impactView) {
  const swatch = (cls, text) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${cls}` }), text);
  return h('div', { class: 'legend', id: 'legend' },
    h('span', { class: 'muted' }, 'Fill: personal information '),
    swatch('pi-none', 'none'), swatch('pi-personal', 'personal'), swatch('pi-sensitive', 'sensitive'), swatch('pi-redacted', 'not visible'),
    h('span', { class: 'muted' }, ' · Border: '),
    swatch('st-active', 'active'), swatch('st-frozen', 'frozen'), swatch('st-retired', 'retired'),
    impactView ? [h('span', { class: 'muted' }, ' · '), swatch('st-impact', 'affected'), swatch('org', 'organisation')] : null,
    h('span', { class: 'muted' }, ' · Click a batch to open it.'));
}

function graphSummary(graph) {
  const ancestors = graph.nodes.filter((n) => n.distance < 0).length;
  const descendants = graph.nodes.filter((n) => n.distance > 0).length;
  return h('div', {},
    h('h2', {}, 'Graph'),
    h('p', {}, `${graph.nodes.length} batches, ${graph.edges.length} derivations: ${ancestors} ancestor(s), ${descendants} descendant(s), direction ${graph.direction}, depth ${graph.depth}.`),
    h('ul', { class: 'plain node-list' }, graph.nodes.map((n) => h('li', {},
      h('a', { href: link.batch(n.id) }, h('code', {}, n.id)), ' ', statusBadge(n.status),
      h('span', { class: 'muted' }, n.distance === 0 ? ' (this batch)' : n.distance < 0 ? ` (${-n.distance} up)` : ` (${n.distance} down)`)))));
}

function impactSummary(impact) {
  return h('div', { id: 'impact-summary' },
    h('h2', {}, 'Who must act'),
    h('p', {}, `${impact.batches.length} batch(es) affected, held by ${impact.holders.length} organisation(s); ${impact.circulationCount} circulation(s), ${impact.tradeCount} trade(s).`),
    h('h3', {}, 'Holders'),
    h('ul', { class: 'plain', id: 'impact-holders' }, impact.holders.map((m) => h('li', {}, m))),
    h('h3', {}, 'Batches'),
    h('table', { class: 'list compact' },
      h('thead', {}, h('tr', {}, ['Batch', 'Owner', 'Holders', 'Circ.', 'Trades'].map((c) => h('th', {}, c)))),
      h('tbody', {}, impact.batches.map((b) => h('tr', {},
        h('td', {}, h('a', { href: link.batch(b.batchId) }, h('code', {}, b.batchId))),
        h('td', {}, b.owner),
        h('td', { class: 'num', title: fmt.list(b.custodians) }, String((b.custodians || []).length)),
        h('td', { class: 'num' }, String((b.circulations || []).length)),
        h('td', { class: 'num' }, String((b.trades || []).length)))))));
}
