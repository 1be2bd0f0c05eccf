// The timeline as one self-contained HTML file: an inline SVG with a lane
// per process, a row per call that tells the story and one collapsed row per
// run of like calls (bundles.ts), one arrow per message that carried fds
// (with its count; a click lists every fd pair under it), a step-through
// (previous/next, j/k or the arrow keys) that moves a marker down the rows
// and lights up the path of the fd it is on, a panel with the raw strace
// line(s) and decoded frame bytes, and a filter by connection or object.
// No network: styles and script are inline, and the page's CSP forbids
// fetching anything.
import { planRows, type Plan } from './bundles';
import type { Timeline, TimelineEvent } from './timeline';
import { escapeHtml as esc } from '../util/html';

const LANE = 250;
const LEFT = 80;
/** The lane headers: role, pid, start-up count. */
const TOP = 40;
/** Lab 5's story up to the handover is ~25 rows: at 20 px it fits one 1000 px screen under the fd tables. */
const ROW = 20;
/** Fd pairs listed under an expanded bundle; the captures have the rest. */
const MAX_PAIRS = 256;
/** Start-up lines per lane the page carries for its panel (all of them are in the folded list at the bottom). */
const MAX_STARTUP_LINES = 400;

function ms(timeline: Timeline, event: TimelineEvent): string {
  const value = (event.micros - timeline.startMicros) / 1000;
  return value < 1000 ? `${value.toFixed(1)} ms` : `${(value / 1000).toFixed(3)} s`;
}

function cut(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

export interface HtmlOptions {
  title: string;
  /** Self-contained HTML shown above the timeline (a lab's fd-table pictures). */
  prelude?: string;
}

/** Calls drawn at most: a lab of 100,000 handovers is a picture of its first ones (and all of it is in the captures). */
const MAX_DRAWN = 2000;

const x = (lane: number) => LEFT + lane * LANE + 16;

function rowsSvg(timeline: Timeline, plan: Plan): string[] {
  const out: string[] = [];
  const bundleOf = new Map<number, number[]>();
  for (const b of plan.bundles) for (const id of [b.from, b.to]) if (id !== null) bundleOf.set(id, [...(bundleOf.get(id) ?? []), b.id]);
  const pairIndex = new Map<number, number>();
  let y = TOP;
  for (const row of plan.rows) {
    const hidden = row.kind === 'pair' || (row.kind === 'event' && row.run !== undefined);
    const at = hidden ? '' : ` transform="translate(0,${y})"`;
    if (!hidden) y += ROW;
    if (row.kind === 'event') {
      const event = timeline.events[row.event];
      const cls = `event${event.errno ? ' failed' : ''}${event.fds ? ' passing' : ''}`;
      const objects = [...event.objects, ...(event.channel ? [event.channel] : [])].join(' ');
      const bundles = bundleOf.get(event.id);
      out.push(`<g class="row${hidden ? ' hidden' : ''}"${row.run !== undefined ? ` data-run="${row.run}"` : ''}${at}>` +
        `<text x="${LEFT - 8}" y="${ROW / 2 + 4}" class="time" text-anchor="end">${ms(timeline, event)}</text>` +
        `<g class="${cls}" data-id="${event.id}" data-objects="${esc(objects)}" data-focus="${esc((plan.focus.get(event.id) ?? []).join(' '))}"${bundles ? ` data-bundles="${bundles.join(' ')}"` : ''} tabindex="0">` +
        `<title>${esc(event.line)}</title><circle cx="${x(event.lane)}" cy="${ROW / 2}" r="4"/>` +
        `<text x="${x(event.lane) + 9}" y="${ROW / 2 + 4}" class="label">${esc(cut(event.summary, 34))}</text></g></g>`);
    } else if (row.kind === 'run') {
      const run = plan.runs[row.run];
      const first = timeline.events[run.events[0]];
      const last = timeline.events[run.events[run.events.length - 1]];
      const pills = run.lanes.map((l) =>
        `<g class="run" data-run="${run.id}" data-objects="${esc(run.objects.join(' '))}" tabindex="0"><title>${esc(`${l.summary} (${l.count} calls, ${ms(timeline, first)} to ${ms(timeline, last)}): click to list them`)}</title>` +
        `<rect x="${x(l.lane) - 8}" y="2" width="${LANE - 26}" height="${ROW - 4}" rx="5"/>` +
        `<text x="${x(l.lane)}" y="${ROW / 2 + 4}" class="label"><tspan class="toggle">▸</tspan> ${esc(cut(l.summary, 33))}</text></g>`);
      out.push(`<g class="row run-row" data-run="${run.id}"${at}><text x="${LEFT - 8}" y="${ROW / 2 + 4}" class="time" text-anchor="end">${ms(timeline, first)}</text>${pills.join('')}</g>`);
    } else {
      const h = timeline.handovers[row.handover];
      const b = plan.bundles[row.bundle];
      const index = pairIndex.get(b.id) ?? 0;
      pairIndex.set(b.id, index + 1);
      if (index >= MAX_PAIRS) continue;
      const from = h.from === null ? null : timeline.events[h.from];
      const to = h.to === null ? null : timeline.events[h.to];
      const [x0, x1] = [from ? x(from.lane) : to ? x(to.lane) - 120 : LEFT, to ? x(to.lane) : from ? x(from.lane) + 120 : LEFT + 120];
      const dir = x1 >= x0 ? 1 : -1;
      const label = timeline.objects.find((o) => o.id === h.object)?.label ?? h.object;
      const more = index === MAX_PAIRS - 1 && b.handovers.length > MAX_PAIRS ? ` (and ${b.handovers.length - MAX_PAIRS} more in the captures)` : '';
      out.push(`<g class="row pair-row hidden" data-bundle="${b.id}">` +
        `<text x="${LEFT - 8}" y="${ROW / 2 + 4}" class="time" text-anchor="end">${index + 1} of ${b.count}</text>` +
        `<g class="pair" data-handover="${h.id}" data-bundle="${b.id}" data-objects="${esc(`${h.object} ${h.channel}`)}" data-focus="${esc(h.object)}" tabindex="0">` +
        `<title>${esc(`${from?.role ?? '?'} fd ${h.fromFd ?? '?'} → ${to?.role ?? '?'} fd ${h.toFd ?? '?'}: ${label}`)}</title>` +
        `<text x="${x0 + 8 * dir}" y="${ROW / 2 + 4}" text-anchor="${dir > 0 ? 'start' : 'end'}" class="fd">fd ${h.fromFd ?? '?'}</text>` +
        `<line x1="${x0 + 58 * dir}" y1="${ROW / 2}" x2="${x1 - 50 * dir}" y2="${ROW / 2}" marker-end="url(#head)"/>` +
        `<text x="${x1 - 6 * dir}" y="${ROW / 2 + 4}" text-anchor="${dir > 0 ? 'end' : 'start'}" class="fd">fd ${h.toFd ?? '?'}</text>` +
        `<text x="${x1 + 8 * dir}" y="${ROW / 2 + 4}" text-anchor="${dir > 0 ? 'start' : 'end'}" class="object">${esc(cut(label, 38) + more)}</text></g></g>`);
    }
  }
  return out;
}

export function timelineHtml(timeline: Timeline, options: HtmlOptions): string {
  const drawable = timeline.events.filter((e) => !e.noise && e.lane >= 0);
  const shown = drawable.slice(0, MAX_DRAWN);
  const cutNote = drawable.length > shown.length ? ` The first ${shown.length} of ${drawable.length} calls drawn.` : '';
  const plan = planRows(timeline, shown);
  const drawnIds = new Set(shown.map((e) => e.id));
  const bundles = plan.bundles.filter((b) => (b.from !== null && drawnIds.has(b.from)) || (b.to !== null && drawnIds.has(b.to)));
  const width = LEFT + Math.max(1, timeline.lanes.length) * LANE + 20;
  const visibleRows = plan.rows.filter((r) => r.kind === 'run' || (r.kind === 'event' && r.run === undefined)).length;
  const height = TOP + visibleRows * ROW + 16;

  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-row="${ROW}" data-top="${TOP}">`);
  svg.push('<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c2410c"/></marker>' +
    '<marker id="head-path" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#15803d"/></marker></defs>');
  svg.push('<g id="lanes">');
  timeline.lanes.forEach((lane, i) => {
    const startup = plan.startup[i].length;
    svg.push(`<g class="lane"><rect x="${LEFT + i * LANE}" y="0" width="${LANE - 8}" height="${height}" rx="6" class="lane-bg"/>` +
      `<text x="${LEFT + i * LANE + 8}" y="16" class="lane-title">${esc(lane.role)}</text><text x="${LEFT + i * LANE + 8}" y="32" class="lane-pid">pid ${lane.pid}</text>` +
      // In a container strace prints the container's pid; the fd tables above show the host's.
      (lane.hostPid ? `<text x="${LEFT + i * LANE + LANE - 16}" y="16" text-anchor="end" class="lane-pid">host pid ${lane.hostPid}</text>` : '') +
      (startup ? `<g class="startup" data-lane="${i}" tabindex="0"><title>the calls this process made loading the runtime before its first one drawn: click to list them</title>` +
        `<text x="${LEFT + i * LANE + 80}" y="32" class="lane-pid">▸ start-up: ${startup} call(s)</text></g>` : '') +
      `<line x1="${x(i)}" y1="${TOP - 2}" x2="${x(i)}" y2="${height - 8}" class="lane-line"/></g>`);
  });
  svg.push('</g>');
  svg.push(`<rect id="marker" x="2" y="0" width="${width - 4}" height="${ROW}" rx="3" visibility="hidden"/>`);
  svg.push('<g id="rows">', ...rowsSvg(timeline, plan), '</g>');
  svg.push('<g id="bundles">');
  for (const b of bundles) {
    const more = b.count > 1 ? ' ▸' : '';
    svg.push(`<g class="bundle" data-bundle="${b.id}" data-count="${b.count}" data-objects="${esc(b.objects.join(' '))}" tabindex="0">` +
      `<title>${esc(`one ${timeline.events[b.from ?? b.to!]?.syscall ?? 'message'}: ${b.label}${b.count > 1 ? ' (click to list every fd pair)' : ''}`)}</title>` +
      `<path class="bundle-line" d="M0,0" marker-end="url(#head)"/><g class="count"><rect rx="8" height="16" width="${(b.label.length + more.length) * 6.2 + 14}"/>` +
      `<text>${esc(b.label)}<tspan class="toggle">${more}</tspan></text></g></g>`);
  }
  svg.push('</g></svg>');

  const data = {
    events: Object.fromEntries(
      shown.map((e) => [e.id, { role: e.role, pid: e.pid, lane: e.lane, time: e.time, at: ms(timeline, e), lineNo: e.lineNo, line: e.line, summary: e.summary, frames: e.frames ?? [], fdCount: e.fdCount ?? 0 }]),
    ),
    handovers: timeline.handovers,
    objects: timeline.objects,
    bundles,
    runs: plan.runs.map((r) => ({ ...r, from: ms(timeline, timeline.events[r.events[0]]), to: ms(timeline, timeline.events[r.events[r.events.length - 1]]) })),
    lanes: timeline.lanes,
    startup: plan.startup.map((ids) => ({ count: ids.length, lines: ids.slice(0, MAX_STARTUP_LINES).map((id) => `${String(timeline.events[id].lineNo).padStart(5)}  ${timeline.events[id].line}`) })),
  };
  const channels = timeline.objects.filter((o) => o.kind === 'channel');
  const passed = timeline.objects.filter((o) => o.kind === 'passed');
  const option = (o: { id: string; label: string }) => `<option value="${esc(o.id)}">${esc(o.label)}</option>`;
  const noise = new Map<string, string[]>();
  for (const e of timeline.events.filter((e) => e.noise).slice(0, MAX_DRAWN * 5)) noise.set(e.role, [...(noise.get(e.role) ?? []), `${String(e.lineNo).padStart(5)}  ${e.line}`]);
  const messages = bundles.length === 0 ? '' : ` in ${bundles.length} message(s) (${bundles.map((b) => b.label).join('; ')})`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(options.title)}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{padding:6px 16px;background:#0f172a;color:#e2e8f0}header h1{font-size:15px;margin:0 0 2px}header div{font-size:12px}
.bar{display:flex;gap:12px;align-items:center;padding:5px 16px;border-bottom:1px solid #cbd5e1;background:#fff;position:sticky;top:0;z-index:2}
.bar button{font:12px system-ui,sans-serif;padding:2px 10px;white-space:nowrap}.bar .hint{color:#64748b;font-size:12px}#step{font:12px ui-monospace,monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;flex:1;min-width:0}.bar label,#count{white-space:nowrap}#filter{max-width:360px}
main{display:flex;align-items:flex-start}#canvas{overflow:auto;flex:1;padding:6px 8px}
aside{width:460px;position:sticky;top:40px;max-height:calc(100vh - 50px);overflow:auto;background:#fff;border-left:1px solid #cbd5e1;padding:8px 14px}
aside pre,details pre{white-space:pre-wrap;word-break:break-all;font:12px/1.35 ui-monospace,monospace;background:#f1f5f9;padding:6px;border-radius:4px}
aside table{font:11px ui-monospace,monospace;border-collapse:collapse}aside td{padding:0 8px 0 0;white-space:nowrap}
.lane-bg{fill:#eef2ff}.lane-title{font-weight:600;font-size:13px}.lane-pid{fill:#64748b;font-size:11px}.lane-line{stroke:#94a3b8;stroke-dasharray:3 3}
.startup{cursor:pointer}.startup:hover text{fill:#1d4ed8;text-decoration:underline}
.hidden{display:none}
.event circle{fill:#2563eb}.event.passing circle{fill:#c2410c}.event.failed circle{fill:#dc2626}.event text.label,.run text.label{font:11px ui-monospace,monospace}
.run rect{fill:#e0e7ff;stroke:#818cf8}.run:hover rect{fill:#c7d2fe}
.time{font:10px ui-monospace,monospace;fill:#64748b}.event,.run,.bundle,.pair{cursor:pointer}
.bundle-line{fill:none;stroke:#c2410c;stroke-width:2.2}.bundle .count rect{fill:#fff7ed;stroke:#c2410c}.bundle .count text{font:bold 10.5px ui-monospace,monospace;fill:#9a3412}
.bundle:hover .bundle-line,.bundle.selected .bundle-line{stroke-width:3.2}
.pair line{stroke:#c2410c;stroke-width:1.2}.pair .fd{font:bold 10px ui-monospace,monospace;fill:#9a3412}.pair .object{font:10px ui-monospace,monospace;fill:#475569}
#marker{fill:#fde68a;opacity:.55}
.path circle{fill:#15803d;r:6}.path text.label{font-weight:bold;fill:#14532d}.path .bundle-line,.pair.path line{stroke:#15803d}.bundle.path .bundle-line{stroke-width:3.4;marker-end:url(#head-path)}
.bundle.path .count rect{fill:#dcfce7;stroke:#15803d}.bundle.path .count text,.pair.path .fd{fill:#14532d}.run.path rect{fill:#bbf7d0;stroke:#15803d}
svg g:focus{outline:none}svg g:focus-visible .count rect,svg g:focus-visible rect,svg g:focus-visible circle{stroke:#0f172a;stroke-width:2}
.dim{opacity:.12}details{margin:12px 16px}
</style></head>
<body>
<header><h1>${esc(options.title)}</h1>
<div>${timeline.lanes.length} process(es); ${timeline.handovers.length} fd(s) handed over${esc(messages)}; ${timeline.noiseCount} start-up call(s) folded.${cutNote}</div></header>
${options.prelude ?? ''}
<div class="bar"><button id="prev" title="previous call (k, ← or ↑)">◀ previous</button><button id="next" title="next call (j, → or ↓)">next ▶</button><span id="step" class="hint">j/k or the arrow keys: step through the calls; ▸ expands</span>
<label>filter: <select id="filter"><option value="">everything</option>
${channels.length ? `<optgroup label="connections the fds travelled on">${channels.map(option).join('')}</optgroup>` : ''}
${passed.length ? `<optgroup label="objects handed over">${passed.map(option).join('')}</optgroup>` : ''}
</select></label><span id="count"></span></div>
<main><div id="canvas">${svg.join('\n')}</div>
<aside id="details"><p>Click a call, a ▸ row or an arrow, or step with next/previous.</p><p>An arrow is one message that carried fds, from the sendmsg to the recvmsg; its count is how many fds that one call carried. Expanded, it lists each fd's number in the sender and in the receiver: different numbers, one open file description.</p></aside></main>
<details id="folded"><summary>Folded start-up calls (${timeline.noiseCount}): the runtime loading itself</summary>
${[...noise].map(([role, lines]) => `<h3>${esc(role)}</h3><pre>${esc(lines.join('\n'))}</pre>`).join('\n')}
</details>
<script type="application/json" id="fdlab-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script>
${PAGE_SCRIPT}
</script>
</body></html>
`;
}

/** The page's script: layout (rows, arrows), expand/collapse, step-through, panel, filter. */
const PAGE_SCRIPT = String.raw`(function () {
  var data = JSON.parse(document.getElementById('fdlab-data').textContent);
  var svg = document.getElementById('timeline');
  var ROW = +svg.dataset.row, TOP = +svg.dataset.top;
  var panel = document.getElementById('details');
  var marker = document.getElementById('marker');
  var rows = [].slice.call(document.querySelectorAll('#rows > g.row'));
  var current = null;
  function esc(s) { return String(s).replace(/[&<>]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;'}[c]; }); }
  function visible(r) { return !r.classList.contains('hidden'); }
  function laneX(lane) { return 80 + lane * 250 + 16; }
  function eventEl(id) { return svg.querySelector('.event[data-id="' + id + '"]'); }
  function rowY(r) { return +r.dataset.y; }
  // The row that shows an event now: its own, or its run's while the run is collapsed.
  function shownRow(id) {
    var g = eventEl(id);
    if (!g) return null;
    var r = g.closest('g.row');
    return visible(r) ? r : svg.querySelector('g.run-row[data-run="' + r.dataset.run + '"]');
  }

  function drawBundle(el) {
    var b = data.bundles[el.dataset.bundle];
    var from = b.from === null ? null : shownRow(b.from), to = b.to === null ? null : shownRow(b.to);
    var x0, y0, x1, y1;
    if (from) { x0 = laneX(data.events[b.from].lane); y0 = rowY(from) + ROW / 2; }
    if (to) { x1 = laneX(data.events[b.to].lane); y1 = rowY(to) + ROW / 2; }
    if (!from) { x0 = x1 - 120; y0 = y1 - ROW; }
    if (!to) { x1 = x0 + 120; y1 = y0 + ROW; }
    var dir = x1 >= x0 ? 1 : -1, down = y1 >= y0 ? 1 : -1;
    // One arrow, its count on it: along the left-hand lane's line, and across on the right-hand end's row
    // (where the left-hand lane has no label to cover).
    var d, across;
    if (Math.abs(y1 - y0) < 8) { d = 'M' + x0 + ',' + y0 + ' L' + (x1 - 6 * dir) + ',' + y1; across = y1; }
    // The vertical part runs 9 px left of the lane's line: past the calls in between, not through their dots.
    else if (dir > 0) { d = 'M' + (x0 - 4) + ',' + (y0 + 3 * down) + ' Q' + (x0 - 9) + ',' + (y0 + 3 * down) + ' ' + (x0 - 9) + ',' + (y0 + 9 * down) + ' L' + (x0 - 9) + ',' + (y1 - 6 * down) + ' Q' + (x0 - 9) + ',' + y1 + ' ' + (x0 - 3) + ',' + y1 + ' L' + (x1 - 6) + ',' + y1; across = y1; }
    else { d = 'M' + (x0 - 6) + ',' + y0 + ' L' + (x1 - 3) + ',' + y0 + ' Q' + (x1 - 9) + ',' + y0 + ' ' + (x1 - 9) + ',' + (y0 + 6 * down) + ' L' + (x1 - 9) + ',' + (y1 - 6 * down) + ' Q' + (x1 - 9) + ',' + y1 + ' ' + (x1 - 5) + ',' + y1; across = y0; }
    el.querySelector('path').setAttribute('d', d);
    var rect = el.querySelector('.count rect'), text = el.querySelector('.count text');
    var w = +rect.getAttribute('width'), left = dir > 0 ? x0 + 16 : x0 - 16 - w;
    rect.setAttribute('x', left); rect.setAttribute('y', across - 8);
    text.setAttribute('x', left + 7); text.setAttribute('y', across + 4);
  }

  function layout() {
    var y = TOP;
    rows.forEach(function (r) {
      if (!visible(r)) return;
      r.setAttribute('transform', 'translate(0,' + y + ')');
      r.dataset.y = y;
      y += ROW;
    });
    var h = y + 16, w = +svg.getAttribute('width');
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.querySelectorAll('.lane-bg').forEach(function (r) { r.setAttribute('height', h); });
    svg.querySelectorAll('.lane-line').forEach(function (l) { l.setAttribute('y2', h - 8); });
    svg.querySelectorAll('.bundle').forEach(drawBundle);
    if (current && !visible(current)) current = svg.querySelector('g.run-row[data-run="' + current.dataset.run + '"]') || current;
    if (current) { marker.setAttribute('y', rowY(current)); marker.setAttribute('visibility', 'visible'); }
  }

  // ---- the panel ----
  function eventHtml(id, heading) {
    var e = data.events[id];
    if (!e) return '<p>' + heading + 'not in the captures</p>';
    var frames = e.frames.length ? '<h4>bytes, read as FdChannel frames</h4><pre>' + esc(e.frames.join('\n')) + '</pre>' : '';
    return '<h3>' + heading + esc(e.summary) + '</h3><p>' + esc(e.role) + ', pid ' + e.pid + ', ' + esc(e.time) + ' (+' + esc(e.at) + '), ' + esc(e.role) + '.strace line ' + e.lineNo + '</p><pre>' + esc(e.line) + '</pre>' + frames;
  }
  function objectLabel(id) { var o = data.objects.find(function (o) { return o.id === id; }); return o ? o.label : id; }
  function pairsHtml(b) {
    var list = b.handovers.slice(0, 300).map(function (i) {
      var h = data.handovers[i];
      return '<tr><td>fd ' + (h.fromFd === null ? '?' : h.fromFd) + '</td><td>→ fd ' + (h.toFd === null ? '?' : h.toFd) + '</td><td>' + esc(objectLabel(h.object)) + '</td></tr>';
    }).join('');
    return '<table>' + list + '</table>' + (b.handovers.length > 300 ? '<p>… and ' + (b.handovers.length - 300) + ' more</p>' : '');
  }
  function bundleHtml(b) {
    return '<h3>one message: ' + esc(b.label) + '</h3><p>' + (b.count > 1 ? 'One call carried them all; click the arrow to list each pair in the timeline.' : '') + '</p>' +
      pairsHtml(b) + eventHtml(b.from, 'sent: ') + eventHtml(b.to, 'received: ');
  }
  // Where an object went: each handover of it, with both fd numbers.
  function travelHtml(objects) {
    var lines = [];
    data.handovers.forEach(function (h) {
      if (objects.indexOf(h.object) < 0 || lines.length >= 4) return;
      var from = data.events[h.from], to = data.events[h.to];
      lines.push((from ? esc(from.role) : '?') + ' fd ' + (h.fromFd === null ? '?' : h.fromFd) + ' → ' + (to ? esc(to.role) : '?') + ' fd ' + (h.toFd === null ? '?' : h.toFd) + ' (' + esc(objectLabel(h.object)) + ')');
    });
    return lines.length ? '<h4>its path</h4><p>' + lines.join('<br>') + '</p>' : '';
  }
  function runHtml(r) {
    var run = data.runs[r];
    var list = run.events.slice(0, 400).map(function (id) { var e = data.events[id]; return e ? e.at + '  ' + e.role + '  ' + e.summary : ''; }).join('\n');
    return '<h3>' + run.events.length + ' calls, ' + esc(run.from) + ' to ' + esc(run.to) + '</h3><p>' + run.lanes.map(function (l) { return esc(data.lanes[l.lane].role) + ': ' + esc(l.summary); }).join('<br>') + '</p><pre>' + esc(list) + '</pre>';
  }

  // ---- the path of what the current row is about ----
  function mark(el) { if (el) el.classList.add('path'); }
  function markBundle(id) {
    var b = data.bundles[id];
    mark(svg.querySelector('.bundle[data-bundle="' + id + '"]'));
    if (b.from !== null) mark(eventEl(b.from));
    if (b.to !== null) mark(eventEl(b.to));
    svg.querySelectorAll('.pair[data-bundle="' + id + '"]').forEach(mark);
  }
  function markObjects(objects) {
    if (!objects.length) return;
    svg.querySelectorAll('.event, .run, .bundle, .pair').forEach(function (el) {
      var own = el.dataset.objects.split(' ');
      if (objects.some(function (o) { return own.indexOf(o) >= 0; })) mark(el);
    });
  }
  function target(row) { return row.querySelector('.event, .run, .pair'); }
  function highlight(row) {
    svg.querySelectorAll('.path').forEach(function (el) { el.classList.remove('path'); });
    var el = target(row);
    if (el.classList.contains('run')) { row.querySelectorAll('.run').forEach(mark); return runHtml(el.dataset.run); }
    if (el.dataset.bundles) { el.dataset.bundles.split(' ').forEach(markBundle); return eventHtml(el.dataset.id, '') + el.dataset.bundles.split(' ').map(function (b) { return '<h4>' + esc(data.bundles[b].label) + '</h4>' + pairsHtml(data.bundles[b]); }).join(''); }
    var focus = el.dataset.focus.split(' ').filter(Boolean);
    mark(el);
    markObjects(focus);
    if (el.classList.contains('pair')) {
      var h = data.handovers[el.dataset.handover];
      mark(svg.querySelector('.bundle[data-bundle="' + el.dataset.bundle + '"]'));
      return '<h3>fd ' + (h.fromFd === null ? '?' : h.fromFd) + ' → fd ' + (h.toFd === null ? '?' : h.toFd) + '</h3><p>' + esc(objectLabel(h.object)) + (h.basis ? ' (paired by ' + esc(h.basis) + ')' : '') + '</p>' + eventHtml(h.from, 'sent: ') + eventHtml(h.to, 'received: ');
    }
    return eventHtml(el.dataset.id, '') + travelHtml(focus);
  }

  // ---- step-through ----
  function describe(row) {
    var el = target(row);
    if (el.classList.contains('run')) return data.runs[el.dataset.run].lanes.map(function (l) { return l.summary; }).join(' | ');
    if (el.classList.contains('pair')) { var h = data.handovers[el.dataset.handover]; return 'fd ' + h.fromFd + ' → fd ' + h.toFd + ' ' + objectLabel(h.object); }
    var e = data.events[el.dataset.id];
    return e.role + ': ' + e.summary;
  }
  function setCurrent(row, html) {
    current = row;
    marker.setAttribute('y', rowY(row));
    marker.setAttribute('visibility', 'visible');
    var shown = highlight(row);
    panel.innerHTML = html || shown;
    var list = rows.filter(visible);
    document.getElementById('step').textContent = 'row ' + (list.indexOf(row) + 1) + ' of ' + list.length + ': ' + describe(row);
    var box = row.getBoundingClientRect(), bar = document.querySelector('.bar').getBoundingClientRect().bottom;
    if (box.top < bar + 4) window.scrollBy(0, box.top - bar - 40);
    else if (box.bottom > innerHeight - 4) window.scrollBy(0, box.bottom - innerHeight + 40);
  }
  function step(delta) {
    var list = rows.filter(visible);
    var i = current ? list.indexOf(current) : -1;
    var next = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, i + delta));
    if (list[next]) setCurrent(list[next]);
  }
  document.getElementById('next').addEventListener('click', function () { step(1); });
  document.getElementById('prev').addEventListener('click', function () { step(-1); });
  document.addEventListener('keydown', function (ev) {
    if (ev.target.tagName === 'SELECT' || ev.target.tagName === 'INPUT' || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var delta = { j: 1, ArrowDown: 1, ArrowRight: 1, k: -1, ArrowUp: -1, ArrowLeft: -1 }[ev.key];
    if (delta) { ev.preventDefault(); step(delta); }
    else if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.classList && (ev.target.classList.contains('run') || ev.target.classList.contains('bundle'))) { ev.preventDefault(); ev.target.dispatchEvent(new MouseEvent('click')); }
  });

  // ---- expand and collapse ----
  function toggle(selector, toggles, open, space) {
    svg.querySelectorAll(selector).forEach(function (r) { r.classList.toggle('hidden', !open); });
    toggles.forEach(function (t) { t.textContent = space + (open ? '▾' : '▸'); });
    layout();
  }
  svg.querySelectorAll('.run').forEach(function (el) {
    el.addEventListener('click', function () {
      var r = el.dataset.run, runRow = el.closest('g.row');
      var open = runRow.dataset.open !== 'yes';
      runRow.dataset.open = open ? 'yes' : 'no';
      toggle('g.row[data-run="' + r + '"]:not(.run-row)', runRow.querySelectorAll('.toggle'), open, '');
      setCurrent(runRow);
    });
  });
  svg.querySelectorAll('.bundle').forEach(function (el) {
    el.addEventListener('click', function () {
      var b = data.bundles[el.dataset.bundle];
      var open = el.dataset.open !== 'yes';
      if (b.count > 1) { el.dataset.open = open ? 'yes' : 'no'; toggle('g.pair-row[data-bundle="' + b.id + '"]', el.querySelectorAll('.toggle'), open, ' '); }
      var end = shownRow(b.from !== null ? b.from : b.to);
      if (end) setCurrent(end, bundleHtml(b));
    });
  });
  svg.querySelectorAll('.event, .pair').forEach(function (el) {
    el.addEventListener('click', function () { setCurrent(el.closest('g.row')); });
  });
  svg.querySelectorAll('.startup').forEach(function (el) {
    el.addEventListener('click', function () {
      var s = data.startup[el.dataset.lane], lane = data.lanes[el.dataset.lane];
      panel.innerHTML = '<h3>' + esc(lane.role) + ': ' + s.count + ' start-up call(s)</h3><p>The runtime loading itself (libraries, modules, /proc, its own pipes) before the first call drawn; the captures have every line.</p><pre>' +
        esc(s.lines.join('\n')) + '</pre>' + (s.count > s.lines.length ? '<p>… ' + (s.count - s.lines.length) + ' more in the list at the bottom of the page</p>' : '');
    });
  });

  // ---- filter ----
  var filter = document.getElementById('filter');
  function apply() {
    var id = filter.value;
    svg.querySelectorAll('.event, .run, .bundle, .pair').forEach(function (el) {
      el.classList.toggle('dim', !!id && el.dataset.objects.split(' ').indexOf(id) < 0);
    });
    var shown = data.handovers.filter(function (h) { return !id || h.object === id || h.channel === id; }).length;
    document.getElementById('count').textContent = shown + ' of ' + data.handovers.length + ' handed-over fd(s) shown';
  }
  filter.addEventListener('change', apply);
  layout();
  apply();
  document.body.dataset.ready = 'yes';
})();`;
