// The price index: volume-weighted price per million tokens per day, one line
// per sector, modality and currency (GET /api/v1/prices?interval=day).
import uPlot from 'uplot';
import { h, fmt } from '../dom.js';
import { get, query } from '../api.js';
import { sectors, modalities } from './options.js';

const palette = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828', '#00838f', '#5d4037', '#ad1457', '#455a64', '#9e9d24'];

function select(name, values, current) {
  return h('select', { name }, h('option', { value: '' }, 'any'), values.map((v) => h('option', { value: v, selected: v === current }, v)));
}

// periodStart turns a date input's value into the start of the period of
// the interval that holds it (UTC; ISO weeks start on Monday), or, with
// after, the start of the next period: the index takes whole periods only.
export function periodStart(d, interval, after) {
  if (!d) return '';
  const t = new Date(`${d}T00:00:00Z`);
  if (interval === 'week') t.setUTCDate(t.getUTCDate() - ((t.getUTCDay() + 6) % 7));
  if (interval === 'month') t.setUTCDate(1);
  if (after) {
    if (interval === 'week') t.setUTCDate(t.getUTCDate() + 7);
    else if (interval === 'month') t.setUTCMonth(t.getUTCMonth() + 1);
    else t.setUTCDate(t.getUTCDate() + 1);
  }
  return t.toISOString().replace('.000Z', 'Z');
}

// series groups buckets into one line per sector/modality/currency, over the
// union of bucket start times (uPlot wants aligned columns; gaps are null).
export function series(buckets) {
  const xs = [...new Set(buckets.map((b) => Date.parse(b.start) / 1000))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const lines = new Map();
  for (const b of buckets) {
    const key = `${b.sector} / ${b.modality} (${b.currency})`;
    if (!lines.has(key)) lines.set(key, new Array(xs.length).fill(null));
    lines.get(key)[index.get(Date.parse(b.start) / 1000)] = b.suppressed ? null : b.vwap;
  }
  return { xs, lines: [...lines.entries()].sort(([a], [b]) => a.localeCompare(b)) };
}

export async function render(main, route, ctx) {
  const p = route.params;
  const f = { sector: p.get('sector') || '', modality: p.get('modality') || '', interval: p.get('interval') || 'day', from: p.get('from') || '', to: p.get('to') || '' };
  const form = h('form', { class: 'filters', id: 'price-filters' },
    h('label', {}, 'Sector ', select('sector', sectors, f.sector)),
    h('label', {}, 'Modality ', select('modality', modalities, f.modality)),
    h('label', {}, 'Per ', h('select', { name: 'interval' }, ['day', 'week', 'month'].map((v) => h('option', { value: v, selected: v === f.interval }, v)))),
    h('label', {}, 'From ', h('input', { type: 'date', name: 'from', value: f.from })),
    h('label', {}, 'To ', h('input', { type: 'date', name: 'to', value: f.to })),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = '#/prices' + query(Object.fromEntries(new FormData(form)));
  });
  const chartEl = h('div', { id: 'price-chart', class: 'chart' });
  const below = h('div', {});
  main.append(h('h1', {}, 'Price index'),
    h('p', { class: 'muted' }, 'Volume-weighted average price per million tokens, per day, week or month, by sector, modality and currency. Periods are shown once closed; a cell that could disclose a trade\'s price to you is suppressed.'),
    form, chartEl, below);

  const prices = await get('/prices' + query({ interval: f.interval, sector: f.sector, modality: f.modality, from: periodStart(f.from, f.interval), to: periodStart(f.to, f.interval, true) }));
  if (ctx.stale()) return;
  const buckets = prices.buckets || [];
  if (prices.withheld) below.append(h('p', { class: 'notice', id: 'withheld' }, `${prices.withheld} cell(s) are suppressed for you: their numbers could disclose a price you do not know.`));
  if (buckets.length === 0) {
    chartEl.append(h('p', { class: 'empty' }, 'No published prices for this selection.'));
    return;
  }
  const { xs, lines } = series(buckets);
  const width = Math.max(480, chartEl.clientWidth || main.clientWidth - 40);
  const plot = new uPlot({
    width, height: 360,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
    axes: [{}, { label: 'price per 1M tokens', size: 70 }],
    series: [{}, ...lines.map(([label], i) => ({
      label, stroke: palette[i % palette.length], width: 2, spanGaps: true,
      points: { show: true, size: 7, fill: palette[i % palette.length] },
      value: (u, v) => (v == null ? '—' : v.toFixed(2)),
    }))],
  }, [xs, ...lines.map(([, ys]) => ys)], chartEl);
  window.__priceChart = plot;

  below.append(h('table', { class: 'list compact', id: 'price-table' },
    h('thead', {}, h('tr', {}, ['Start', 'Sector', 'Modality', 'Currency', 'Trades', 'Tokens', 'VWAP / 1M', 'Median', 'IQR', 'Quality-adjusted', 'Avg quality'].map((c) => h('th', {}, c)))),
    h('tbody', {}, buckets.map((b) => h('tr', { class: b.suppressed ? 'suppressed' : '' },
      h('td', {}, (b.start || '').slice(0, 10)), h('td', {}, b.sector), h('td', {}, b.modality), h('td', {}, b.currency),
      ...(b.suppressed ? [h('td', { colspan: 7, class: 'muted' }, 'suppressed')] : [
        h('td', { class: 'num' }, fmt.int(b.trades)), h('td', { class: 'num' }, fmt.int(b.tokens)),
        h('td', { class: 'num' }, fmt.price(b.vwap)),
        h('td', { class: 'num' }, b.median == null ? '—' : fmt.price(b.median)), h('td', { class: 'num' }, b.iqr == null ? '—' : fmt.price(b.iqr)),
        h('td', { class: 'num' }, fmt.price(b.qualityAdjusted)),
        h('td', { class: 'num' }, b.avgQuality ? b.avgQuality.toFixed(1) : '—')]))))));

  return () => { if (window.__priceChart === plot) window.__priceChart = undefined; plot.destroy(); };
}
