// Inline SVG charts (no library): bars per day with one or more series, and a donut-less
// horizontal bar list for totals. Colours come from CSS classes (chart-s0 … chart-s5), so the
// strict style policy holds; SVG presentation attributes are not inline styles.

import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Bars per day. days: ["2026-11-30", …] in order; series: [{name, values: {day: n}}].
 * Returns a <figure> with the chart, a legend and a table fallback for screen readers.
 */
export function dailyBars({ id, title, days, series, unit = '' }) {
  const W = 640;
  const H = 220;
  const pad = { l: 40, r: 8, t: 10, b: 28 };
  // Counts are whole numbers: at least 4 so that the four grid steps are whole too.
  const max = Math.max(4, niceMax(Math.max(0, ...series.flatMap((s) => days.map((d) => s.values[d] || 0)))));
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const group = days.length ? iw / days.length : iw;
  const bw = Math.max(2, (group * 0.8) / Math.max(1, series.length));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet' });
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + ih - (ih * i) / 4;
    root.append(svg('line', { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: 'chart-grid' }),
      svg('text', { x: pad.l - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, String(Math.round((max * i) / 4))));
  }
  const step = Math.ceil(days.length / 8) || 1;
  days.forEach((d, i) => {
    const x0 = pad.l + i * group + group * 0.1;
    series.forEach((s, j) => {
      const v = s.values[d] || 0;
      const bh = (v / max) * ih;
      const rect = svg('rect', { x: x0 + j * bw, y: pad.t + ih - bh, width: bw - 1, height: Math.max(0, bh), class: `chart-s${j % 6}` });
      rect.append(svg('title', {}, `${d} ${s.name}: ${v}${unit}`));
      root.append(rect);
    });
    if (i % step === 0) root.append(svg('text', { x: x0 + (group * 0.8) / 2, y: H - 8, 'text-anchor': 'middle', class: 'chart-label' }, d.slice(5)));
  });
  const legend = h('ul', { class: 'chart-legend' }, series.map((s, j) => h('li', {}, h('span', { class: `swatch chart-s${j % 6}`, 'aria-hidden': 'true' }), s.name)));
  const table = h('table', { class: 'sr-only' }, h('caption', { text: title }),
    h('thead', {}, h('tr', {}, h('th', { text: 'Day' }), series.map((s) => h('th', { text: s.name })))),
    h('tbody', {}, days.map((d) => h('tr', {}, h('td', { text: d }), series.map((s) => h('td', { text: String(s.values[d] || 0) }))))));
  return h('figure', { class: 'chart-figure', id }, h('figcaption', { text: title }), root, legend, table);
}

/** Horizontal bars for totals: items [{label, value}]. */
export function totals({ id, title, items }) {
  const W = 360;
  const row = 28;
  const H = Math.max(row, items.length * row) + 8;
  const max = Math.max(4, niceMax(Math.max(0, ...items.map((i) => i.value))));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  items.forEach((it, i) => {
    const y = 4 + i * row;
    const w = ((W - 130) * it.value) / max;
    root.append(svg('text', { x: 0, y: y + 17, class: 'chart-label' }, it.label),
      svg('rect', { x: 80, y: y + 4, width: Math.max(1, w), height: row - 10, class: `chart-s${i % 6}` }),
      svg('text', { x: 86 + w, y: y + 17, class: 'chart-label' }, String(it.value)));
  });
  return h('figure', { class: 'chart-figure', id }, h('figcaption', { text: title }), root);
}

/** The last n UTC days, oldest first, as YYYY-MM-DD. */
export function lastDays(n) {
  const out = [];
  const now = Date.now();
  for (let i = n - 1; i >= 0; i--) out.push(new Date(now - i * 86400000).toISOString().slice(0, 10));
  return out;
}
