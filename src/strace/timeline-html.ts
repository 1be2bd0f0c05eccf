// The timeline as one self-contained HTML file: an inline SVG with a lane
// per process and an arrow per handed-over fd, a panel with the raw strace
// line(s) and the decoded frame bytes of whatever is clicked (hover shows the
// line too), and a filter by connection or object. No network: styles and
// script are inline, and the page's CSP forbids fetching anything.
import type { Timeline, TimelineEvent } from './timeline';
import { escapeHtml as esc } from '../util/html';

const LANE = 250;
const LEFT = 80;
const TOP = 46;
const ROW = 22;
/** A message with many fds fans its arrows out over up to this many rows. */
const FAN_ROWS = 40;

function ms(timeline: Timeline, event: TimelineEvent): string {
  const value = (event.micros - timeline.startMicros) / 1000;
  return value < 1000 ? `${value.toFixed(1)} ms` : `${(value / 1000).toFixed(3)} s`;
}

export interface HtmlOptions {
  title: string;
  /** Self-contained HTML shown above the timeline (a lab's fd-table pictures). */
  prelude?: string;
}

/** Calls drawn at most: a lab of 100,000 handovers is a picture of its first ones (and all of it is in the captures). */
const MAX_DRAWN = 2000;

export function timelineHtml(timeline: Timeline, options: HtmlOptions): string {
  const drawable = timeline.events.filter((e) => !e.noise && e.lane >= 0);
  const shown = drawable.slice(0, MAX_DRAWN);
  const cutNote = drawable.length > shown.length ? ` Only the first ${shown.length} of ${drawable.length} calls are drawn; the captures have them all.` : '';
  const rowOf = new Map<number, number>();
  const fanOf = new Map<number, number>();
  let row = 0;
  for (const event of shown) {
    rowOf.set(event.id, row);
    const fan = Math.min(FAN_ROWS, Math.max(1, event.fds?.length ?? 1));
    fanOf.set(event.id, fan);
    row += fan;
  }
  const x = (lane: number) => LEFT + lane * LANE + 16;
  const y = (r: number) => TOP + r * ROW + ROW / 2;
  const width = LEFT + Math.max(1, timeline.lanes.length) * LANE + 20;
  const height = TOP + row * ROW + 20;

  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  svg.push('<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c2410c"/></marker></defs>');
  timeline.lanes.forEach((lane, i) => {
    svg.push(`<g class="lane"><rect x="${LEFT + i * LANE}" y="0" width="${LANE - 8}" height="${height}" rx="6" class="lane-bg"/>` +
      `<text x="${LEFT + i * LANE + 8}" y="20" class="lane-title">${esc(lane.role)}</text><text x="${LEFT + i * LANE + 8}" y="36" class="lane-pid">pid ${lane.pid}</text>` +
      `<line x1="${x(i)}" y1="${TOP - 4}" x2="${x(i)}" y2="${height - 10}" class="lane-line"/></g>`);
  });
  for (const event of shown) {
    const r = rowOf.get(event.id)!;
    const cls = `event${event.errno ? ' failed' : ''}${event.fds ? ' passing' : ''}`;
    const objects = [...event.objects, ...(event.channel ? [event.channel] : [])].join(' ');
    svg.push(`<g class="${cls}" data-id="${event.id}" data-objects="${esc(objects)}" tabindex="0">` +
      `<title>${esc(event.line)}</title>` +
      `<text x="${LEFT - 8}" y="${y(r) + 4}" class="time" text-anchor="end">${ms(timeline, event)}</text>` +
      `<circle cx="${x(event.lane)}" cy="${y(r)}" r="4"/>` +
      `<text x="${x(event.lane) + 9}" y="${y(r) + 4}" class="label">${esc(event.summary.length > 34 ? `${event.summary.slice(0, 33)}…` : event.summary)}</text></g>`);
  }
  for (const h of timeline.handovers) {
    const from = h.from === null ? null : timeline.events[h.from];
    const to = h.to === null ? null : timeline.events[h.to];
    const end = (event: TimelineEvent | null) => {
      if (!event || !rowOf.has(event.id)) return null;
      const fan = fanOf.get(event.id)!;
      const n = Math.max(1, event.fdCount ?? 1);
      return { x: x(event.lane), y: y(rowOf.get(event.id)! + Math.min(fan - 1, Math.floor((h.index * fan) / n))) };
    };
    const a = end(from) ?? (end(to) && { x: end(to)!.x - 60, y: end(to)!.y - 10 });
    const b = end(to) ?? (a && { x: a.x + 60, y: a.y + 10 });
    if (!a || !b) continue;
    const title = `${from ? from.role : 'a sender in no capture'} fd ${h.fromFd ?? '?'} → ${to ? to.role : 'no capture shows it arriving'} fd ${h.toFd ?? '?'}`;
    svg.push(`<g class="arrow" data-handover="${h.id}" data-objects="${esc(`${h.object} ${h.channel}`)}" tabindex="0"><title>${esc(title)}</title>` +
      `<line x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" marker-end="url(#head)"/>` +
      `<text x="${a.x + (b.x >= a.x ? 6 : -6)}" y="${a.y - 4}" text-anchor="${b.x >= a.x ? 'start' : 'end'}" class="fd">fd ${h.fromFd ?? '?'}</text>` +
      `<text x="${b.x + (b.x >= a.x ? -8 : 8)}" y="${b.y - 4}" text-anchor="${b.x >= a.x ? 'end' : 'start'}" class="fd">fd ${h.toFd ?? '?'}</text></g>`);
  }
  svg.push('</svg>');

  const data = {
    events: Object.fromEntries(
      shown.map((e) => [e.id, { role: e.role, pid: e.pid, time: e.time, at: ms(timeline, e), lineNo: e.lineNo, line: e.line, summary: e.summary, frames: e.frames ?? [], fdCount: e.fdCount ?? 0 }]),
    ),
    handovers: timeline.handovers,
    objects: timeline.objects,
  };
  const channels = timeline.objects.filter((o) => o.kind === 'channel');
  const passed = timeline.objects.filter((o) => o.kind === 'passed');
  const option = (o: { id: string; label: string }) => `<option value="${esc(o.id)}">${esc(o.label)}</option>`;
  const noise = new Map<string, string[]>();
  for (const e of timeline.events.filter((e) => e.noise).slice(0, MAX_DRAWN * 5)) noise.set(e.role, [...(noise.get(e.role) ?? []), `${String(e.lineNo).padStart(5)}  ${e.line}`]);

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(options.title)}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{padding:10px 16px;background:#0f172a;color:#e2e8f0}header h1{font-size:16px;margin:0 0 4px}
.bar{display:flex;gap:16px;align-items:center;padding:8px 16px;border-bottom:1px solid #cbd5e1;background:#fff;position:sticky;top:0;z-index:2}
main{display:flex;align-items:flex-start}#canvas{overflow:auto;flex:1;padding:8px}
aside{width:460px;position:sticky;top:44px;max-height:calc(100vh - 60px);overflow:auto;background:#fff;border-left:1px solid #cbd5e1;padding:10px 14px}
aside pre,details pre{white-space:pre-wrap;word-break:break-all;font:12px/1.35 ui-monospace,monospace;background:#f1f5f9;padding:6px;border-radius:4px}
.lane-bg{fill:#eef2ff}.lane-title{font-weight:600;font-size:13px}.lane-pid{fill:#64748b;font-size:11px}.lane-line{stroke:#94a3b8;stroke-dasharray:3 3}
.event circle{fill:#2563eb}.event.passing circle{fill:#c2410c}.event.failed circle{fill:#dc2626}.event text.label{font:11px ui-monospace,monospace}
.time{font:10px ui-monospace,monospace;fill:#64748b}.event,.arrow{cursor:pointer}
.arrow line{stroke:#c2410c;stroke-width:1.4;opacity:.75}.arrow .fd{font:bold 10px ui-monospace,monospace;fill:#9a3412;paint-order:stroke;stroke:#fff;stroke-width:3px}
.arrow:hover line,.arrow.selected line{stroke-width:3;opacity:1}.event.selected circle{r:6}
.dim{opacity:.12}details{margin:12px 16px}
</style></head>
<body>
<header><h1>${esc(options.title)}</h1>
<div>${timeline.lanes.length} process(es), ${timeline.handovers.length} handed-over fd(s) (one arrow each, fd number at both ends), ${timeline.noiseCount} start-up call(s) folded (below, and in the captures).${cutNote} Hover for the strace line; click for details.</div></header>
${options.prelude ?? ''}
<div class="bar"><label>filter: <select id="filter"><option value="">everything</option>
${channels.length ? `<optgroup label="connections the fds travelled on">${channels.map(option).join('')}</optgroup>` : ''}
${passed.length ? `<optgroup label="objects handed over">${passed.map(option).join('')}</optgroup>` : ''}
</select></label><span id="count"></span></div>
<main><div id="canvas">${svg.join('\n')}</div>
<aside id="details"><p>Click an event or an arrow.</p><p>Arrows go from the sendmsg that sent an fd to the recvmsg that received it; the numbers at the two ends are the fd in each process: different numbers, one open file description.</p></aside></main>
<details><summary>Folded start-up calls (${timeline.noiseCount}): the runtime loading itself</summary>
${[...noise].map(([role, lines]) => `<h3>${esc(role)}</h3><pre>${esc(lines.join('\n'))}</pre>`).join('\n')}
</details>
<script type="application/json" id="fdlab-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('fdlab-data').textContent);
  var panel = document.getElementById('details');
  function esc(s) { return String(s).replace(/[&<>]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;'}[c]; }); }
  function eventHtml(id, heading) {
    var e = data.events[id];
    if (!e) return '<p>' + heading + ': not in the captures</p>';
    var frames = e.frames.length ? '<h4>bytes, read as FdChannel frames</h4><pre>' + esc(e.frames.join('\\n')) + '</pre>' : '';
    return '<h3>' + heading + esc(e.summary) + '</h3><p>' + esc(e.role) + ', pid ' + e.pid + ', ' + esc(e.time) + ' (+' + esc(e.at) + '), ' + esc(e.role) + '.strace line ' + e.lineNo + '</p><pre>' + esc(e.line) + '</pre>' + frames;
  }
  function select(el) {
    document.querySelectorAll('.selected').forEach(function (s) { s.classList.remove('selected'); });
    el.classList.add('selected');
  }
  document.querySelectorAll('.event').forEach(function (el) {
    el.addEventListener('click', function () { select(el); panel.innerHTML = eventHtml(el.dataset.id, ''); });
  });
  document.querySelectorAll('.arrow').forEach(function (el) {
    el.addEventListener('click', function () {
      select(el);
      var h = data.handovers[el.dataset.handover];
      var object = data.objects.find(function (o) { return o.id === h.object; });
      panel.innerHTML = '<h3>fd ' + (h.fromFd === null ? '?' : h.fromFd) + ' → fd ' + (h.toFd === null ? '?' : h.toFd) + '</h3><p>' + esc(object ? object.label : h.object) +
        (h.basis ? ' (paired by ' + esc(h.basis) + ')' : '') + '</p>' + eventHtml(h.from, 'sent: ') + eventHtml(h.to, 'received: ');
    });
  });
  var filter = document.getElementById('filter');
  function apply() {
    var id = filter.value, shown = 0;
    document.querySelectorAll('.event, .arrow').forEach(function (el) {
      var match = !id || el.dataset.objects.split(' ').indexOf(id) >= 0;
      el.classList.toggle('dim', !match);
      if (match && el.classList.contains('arrow')) shown++;
    });
    document.getElementById('count').textContent = shown + ' of ' + data.handovers.length + ' handed-over fd(s) shown';
  }
  filter.addEventListener('change', apply);
  apply();
  document.body.dataset.ready = 'yes';
})();
</script>
</body></html>
`;
}
