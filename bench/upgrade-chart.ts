// bench/upgrade.ts's chart: one panel per strategy, ping delay (p50, p99, max
// per time bucket, log scale) against time since the first signal; the
// signals in red, the old process gone in grey. Plain SVG, no dependencies.
import type { ClientReport } from './upgrade-types';

/** What a panel shows: bench:upgrade's StrategyResult, or one way of bench:ws / bench:http. */
export interface ChartRun {
  strategy: string;
  lost: number;
  disconnects: number;
  client: Pick<ClientReport, 'connections' | 'ready_ms' | 'series'> & { marks: { what: string; k: number; ms: number }[] };
}

const WIDTH = 900;
const PANEL = 190;
const TOP = 60;
const LEFT = 60;
const RIGHT = 20;
const GAP = 40;
const MIN_MS = 0.01;

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** `what`: what the delay is of (a ping's pong, an echo, a response). */
export function renderChart(results: ChartRun[], title: string, what = 'ping delay'): string {
  const plotW = WIDTH - LEFT - RIGHT;
  const height = TOP + results.length * (PANEL + GAP) + 20;
  // One x range for every panel: seconds since each strategy's first signal.
  let xMin = 0;
  let xMax = 1;
  let yMaxMs = 10;
  for (const r of results) {
    const signal = firstSignal(r);
    const s = r.client.series;
    for (let b = 0; b < s.count.length; b++) {
      if (s.count[b] === 0) continue;
      const t = (b * s.bucket_ms - signal) / 1000;
      if (t < xMin) xMin = t;
      if (t > xMax) xMax = t;
      if (s.max_ms[b] > yMaxMs) yMaxMs = s.max_ms[b];
    }
  }
  const decades = Math.ceil(Math.log10(yMaxMs / MIN_MS));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<defs>${results.map((_, i) => `<clipPath id="plot${i}"><rect x="${LEFT}" y="${TOP + i * (PANEL + GAP)}" width="${plotW}" height="${PANEL}"/></clipPath>`).join('')}</defs>`,
    `<text x="${LEFT}" y="38"><tspan fill="#999">p50</tspan> · <tspan fill="#1f77b4">p99</tspan> · <tspan fill="#ff7f0e">max</tspan> ${escape(what)} per ${results[0]?.client.series.bucket_ms ?? 100} ms · <tspan fill="#d62728">signal</tspan> · <tspan fill="#555">old gone</tspan> · <tspan fill="#e377c2">connections down</tspan> (linear, right axis)</text>`,
  ];
  results.forEach((r, i) => {
    const y0 = TOP + i * (PANEL + GAP);
    const x = (t: number) => LEFT + ((t - xMin) / (xMax - xMin)) * plotW;
    const y = (v: number) => y0 + PANEL - (Math.log10(Math.max(v, MIN_MS) / MIN_MS) / decades) * PANEL;
    out.push(`<g><text x="${LEFT}" y="${y0 - 6}" font-weight="bold">${escape(r.strategy)}: lost ${r.lost}, disconnects ${r.disconnects}</text>`);
    out.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL}" fill="none" stroke="#ccc"/>`);
    for (let d = 0; d <= decades; d++) {
      const v = MIN_MS * 10 ** d;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${LEFT - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1 ? v.toFixed(0) : v} ms</text>`);
    }
    for (let t = Math.ceil(xMin); t <= xMax; t++) {
      out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y0 + PANEL}" y2="${y0 + PANEL + 4}" stroke="#999"/>`);
      out.push(`<text x="${x(t).toFixed(1)}" y="${y0 + PANEL + 15}" text-anchor="middle">${t} s</text>`);
    }
    const signal = firstSignal(r);
    const s = r.client.series;
    const bx = (b: number) => x((b * s.bucket_ms + s.bucket_ms / 2 - signal) / 1000).toFixed(1);
    out.push(`<g clip-path="url(#plot${i})">`);
    // Connections down, on a linear scale of 0..all of them.
    const n = r.client.connections;
    // The label speaks of the run once every client was up, not of the initial connect ramp.
    const firstReady = Math.floor(r.client.ready_ms / s.bucket_ms) + 1;
    const maxDown = Math.max(0, ...s.down.slice(firstReady, s.count.length));
    if (Math.max(...s.down) > 0) {
      const yd = (v: number) => (y0 + PANEL - (v / n) * PANEL).toFixed(1);
      // down[b] is sampled at the end of bucket b.
      const dx = (b: number) => x(((b + 1) * s.bucket_ms - signal) / 1000).toFixed(1);
      const points = s.count.map((_, b) => `${dx(b)},${yd(s.down[b] ?? 0)}`).join(' L');
      out.push(`<path d="M${dx(0)},${yd(0)} L${points} L${dx(s.count.length - 1)},${yd(0)} Z" fill="#e377c2" fill-opacity="0.25" stroke="#e377c2"/>`);
    }
    for (const [key, color, widthPx] of [['p50_ms', '#999', 1], ['max_ms', '#ff7f0e', 1], ['p99_ms', '#1f77b4', 1.5]] as const) {
      let d = '';
      let pen = 'M';
      for (let b = 0; b < s.count.length; b++) {
        if (s.count[b] === 0 || s[key][b] < 0) {
          pen = 'M'; // no pong sent in this bucket: a break in the line
          continue;
        }
        d += `${pen}${bx(b)},${y(s[key][b]).toFixed(1)}`;
        pen = 'L';
      }
      if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${widthPx}"/>`);
    }
    out.push('</g>');
    out.push(`<text x="${LEFT + plotW - 4}" y="${y0 + 12}" text-anchor="end" fill="#e377c2">down after ready: max ${maxDown} of ${n}</text>`);
    for (const m of r.client.marks) {
      const mx = x((m.ms - signal) / 1000).toFixed(1);
      const style = m.what === 'signal' ? 'stroke="#d62728" stroke-width="1.5"' : 'stroke="#555" stroke-dasharray="4 3"';
      out.push(`<line x1="${mx}" x2="${mx}" y1="${y0}" y2="${y0 + PANEL}" ${style}><title>${m.what} ${m.k}</title></line>`);
    }
    out.push('</g>');
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function firstSignal(r: ChartRun): number {
  return r.client.marks.find((m) => m.what === 'signal' && m.k === 1)?.ms ?? 0;
}
