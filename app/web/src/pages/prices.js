// The price index: price per million tokens per period, one chart per
// currency (prices in different currencies never share an axis), one line
// per sector and modality, and every cell as a table row.
//
// Written to read both the answer of today's API ({buckets: [{start, end,
// trades, tokens, vwap, qualityAdjusted, avgQuality}], withheld}) and the
// fixed-cell form ({cells: [{…, count, volume, median, iqr | q1/q3}] with
// suppressed cells that carry no numbers}, interval day, week or month): any
// number may be missing and is shown as "—".
import uPlot from 'uplot';
import { h, add, fmt, setTitle } from '../dom.js';
import { get, query } from '../api.js';
import { sectors, modalities } from './options.js';

export const title = () => 'Price index';
export const loadingWhat = 'prices';

const palette = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828', '#00838f', '#5d4037', '#ad1457', '#455a64', '#9e9d24'];
const intervals = ['day', 'week', 'month'];
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const DAY = 86400;

function select(name, values, current, any = true) {
  return h('select', { name, id: `p-${name}` }, any ? h('option', { value: '' }, 'any') : null, values.map((v) => h('option', { value: v, selected: v === current }, v)));
}

// periodStart turns a date input's value into the start of the period of
// the interval that holds it (UTC; ISO weeks start on Monday), or, with
// after, the start of the next period: the index takes whole periods only.
export function periodStart(d, interval, after) {
  if (!d) return '';
  const t = new Date(`${d}T00:00:00Z`);
  if (Number.isNaN(t.getTime())) return '';
  if (interval === 'week') t.setUTCDate(t.getUTCDate() - ((t.getUTCDay() + 6) % 7));
  if (interval === 'month') t.setUTCDate(1);
  if (after) {
    if (interval === 'week') t.setUTCDate(t.getUTCDate() + 7);
    else if (interval === 'month') t.setUTCMonth(t.getUTCMonth() + 1);
    else t.setUTCDate(t.getUTCDate() + 1);
  }
  return t.toISOString().replace('.000Z', 'Z');
}

// cells normalises either answer into one shape.
export function cells(answer) {
  const raw = (answer && (answer.cells || answer.buckets)) || [];
  return raw.filter((c) => c && typeof c === 'object').map((c) => {
    const q1 = num(c.q1 ?? (c.quartiles && c.quartiles[0]));
    const q3 = num(c.q3 ?? (c.quartiles && c.quartiles[c.quartiles.length - 1]));
    return {
      sector: c.sector || '?', modality: c.modality || '?', currency: c.currency || '?',
      start: c.start || c.period || '', end: c.end || '',
      suppressed: !!c.suppressed,
      vwap: c.suppressed ? null : num(c.vwap),
      qualityAdjusted: c.suppressed ? null : num(c.qualityAdjusted),
      count: c.suppressed ? null : num(c.count ?? c.trades),
      volume: c.suppressed ? null : num(c.volume ?? c.tokens),
      median: c.suppressed ? null : num(c.median),
      iqr: c.suppressed ? null : num(c.iqr ?? (q1 != null && q3 != null ? q3 - q1 : null)),
      avgQuality: c.suppressed ? null : num(c.avgQuality),
    };
  });
}

// series groups cells of one currency into one line per sector and
// modality over the union of period starts (uPlot wants aligned columns;
// gaps and suppressed cells are null).
export function series(list) {
  const t = (c) => Date.parse(c.start) / 1000;
  const xs = [...new Set(list.map(t).filter(Number.isFinite))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const lines = new Map();
  for (const c of list) {
    if (!index.has(t(c))) continue;
    const key = `${c.sector} / ${c.modality}`;
    if (!lines.has(key)) lines.set(key, new Array(xs.length).fill(null));
    lines.get(key)[index.get(t(c))] = c.vwap;
  }
  return { xs, lines: [...lines.entries()].sort(([a], [b]) => a.localeCompare(b)) };
}

// xRange spans the data's own periods, padded by half a period, so one
// day of trades is drawn as one day, not as years.
export function xRange(xs, period) {
  if (xs.length === 0) return [0, 1];
  const pad = Math.max(period / 2, 3600);
  return [xs[0] - pad, xs[xs.length - 1] + pad];
}

export async function render(main, route, ctx) {
  const p = route.params;
  const f = { sector: p.get('sector') || '', modality: p.get('modality') || '', from: p.get('from') || '', to: p.get('to') || '',
    interval: intervals.includes(p.get('interval')) ? p.get('interval') : 'day' };
  const form = h('form', { class: 'filters', id: 'price-filters' },
    h('label', {}, 'Sector ', select('sector', sectors, f.sector)),
    h('label', {}, 'Modality ', select('modality', modalities, f.modality)),
    h('label', {}, 'Period ', select('interval', intervals, f.interval, false)),
    h('label', {}, 'From ', h('input', { type: 'date', name: 'from', value: f.from })),
    h('label', {}, 'To ', h('input', { type: 'date', name: 'to', value: f.to })),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = '#/prices' + query(Object.fromEntries(new FormData(form)));
  });
  const charts = h('div', { id: 'price-charts' });
  const below = h('div', {});
  main.append(h('h1', {}, 'Price index'),
    h('p', { class: 'muted' }, 'Volume-weighted average price per million tokens, by sector, modality and currency. Periods with too few trades, or whose numbers could reveal one party\'s prices, are not published to you.'),
    form, charts, below);

  const answer = await get('/prices' + query({ interval: f.interval, sector: f.sector, modality: f.modality,
    from: periodStart(f.from, f.interval), to: periodStart(f.to, f.interval, true) }));
  if (ctx.stale()) return;
  const all = cells(answer);
  const suppressed = all.filter((c) => c.suppressed).length;
  const withheld = num(answer && answer.withheld) || 0;
  // withheld counts the suppressed cells, which the answer also lists.
  const hidden = Math.max(withheld, suppressed);
  if (hidden) {
    below.append(h('p', { class: 'notice', id: 'withheld' },
      `${fmt.plural(hidden, 'cell')} ${hidden === 1 ? 'is' : 'are'} not published to you (too few trades, or a price could be derived from ${hidden === 1 ? 'it' : 'them'}).`));
  }
  const shown = all.filter((c) => !c.suppressed && c.vwap != null);
  const plots = [];
  if (shown.length === 0) {
    charts.append(h('p', { class: 'empty chart' }, 'No published prices for this selection.'));
  } else {
    const currencies = [...new Set(shown.map((c) => c.currency))].sort();
    for (const cur of currencies) {
      const mine = shown.filter((c) => c.currency === cur);
      const { xs, lines } = series(mine);
      const periods = mine.map((c) => (Date.parse(c.end) - Date.parse(c.start)) / 1000).filter((d) => Number.isFinite(d) && d > 0);
      const period = periods.length ? Math.min(...periods) : DAY;
      const el = h('div', { class: 'chart', dataset: { currency: cur } });
      charts.append(h('section', { class: 'card chart-card' }, h('h2', {}, `Prices in ${cur}`), el));
      const width = () => Math.max(260, el.clientWidth - 20);
      const plot = new uPlot({
        width: width(), height: window.matchMedia('(max-width: 700px)').matches ? 240 : 320,
        scales: { x: { time: true, range: () => xRange(xs, period) }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [{ label: 'period start (UTC)' }, { label: `${cur} per 1M tokens`, size: 64 }],
        legend: { live: false },
        series: [{ label: 'period' }, ...lines.map(([label], i) => ({
          label, stroke: palette[i % palette.length], width: 2, spanGaps: true,
          points: { show: true, size: 7, fill: palette[i % palette.length] },
          value: (u, v) => (v == null ? '—' : v.toFixed(2)),
        }))],
      }, [xs, ...lines.map(([, ys]) => ys)], el);
      plots.push([plot, el, width]);
    }
  }
  window.__priceCharts = plots.map(([pl]) => pl);
  window.__priceChart = plots.length ? plots[0][0] : undefined;

  if (all.length) {
    const dash = (v, f2) => (v == null ? '—' : f2(v));
    add(below, h('div', { class: 'table-wrap' }, h('table', { class: 'list compact', id: 'price-table' },
      h('thead', {}, h('tr', {}, ['Period', 'Sector', 'Modality', 'Currency', 'Trades', 'Tokens', 'VWAP / 1M', 'Median', 'IQR', 'Quality-adjusted'].map((c) => h('th', {}, c)))),
      h('tbody', {}, all.map((c) => h('tr', { class: c.suppressed ? 'suppressed' : null },
        h('td', {}, (c.start || '').slice(0, 10)), h('td', {}, c.sector), h('td', {}, c.modality), h('td', {}, c.currency),
        c.suppressed
          ? h('td', { colspan: 6, class: 'muted' }, 'not published to you')
          : [h('td', { class: 'num' }, dash(c.count, fmt.int)), h('td', { class: 'num' }, dash(c.volume, fmt.int)),
            h('td', { class: 'num' }, dash(c.vwap, fmt.price)), h('td', { class: 'num' }, dash(c.median, fmt.price)),
            h('td', { class: 'num' }, dash(c.iqr, fmt.price)), h('td', { class: 'num' }, dash(c.qualityAdjusted, fmt.price))]))))));
  }
  setTitle('Price index');

  const resize = () => plots.forEach(([pl, , w]) => pl.setSize({ width: w(), height: pl.height }));
  window.addEventListener('resize', resize);
  return () => {
    window.removeEventListener('resize', resize);
    window.__priceChart = undefined;
    window.__priceCharts = undefined;
    plots.forEach(([pl]) => pl.destroy());
  };
}
