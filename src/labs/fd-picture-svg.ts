// An fd snapshot as inline SVG for timeline.html: each process a box of fd
// numbers (class fd-box), an arrow (class fd-arrow) from every fd to the
// object it points at (class fd-object: inode, offset or queues). Two fds
// of two processes on one object: one open file description, one socket.
import { describeObject, objectOrder } from './fd-picture-text';
import type { FdSnapshot } from './fd-snapshot';
import { escapeHtml as esc } from '../util/html';

/** Objects drawn per snapshot in the page (the terminal shows fewer); the rest are counted. 6: both tables, side by side, in ~300 px of lab 5's page. */
export const OBJECTS_DRAWN = 6;

// Pixels: row height, the process column (x, width), the object column (x, width).
// Two pictures side by side in a 1400 px window: 700 px each; a TCP connection's line is ~470 px at 11 px.
const [ROW, PROCESS_X, PROCESS_W, OBJECT_X, OBJECT_W] = [20, 8, 170, 230, 470];

export function fdPictureSvg(snapshot: FdSnapshot): string {
  const drawn = new Set(objectOrder(snapshot).slice(0, OBJECTS_DRAWN));
  const parts: string[] = [];
  const fdY = new Map<string, number[]>(); // object -> y of each fd pointing at it
  const arrows: { y: number; object: string; label: string }[] = [];
  let y = 28;
  for (const p of snapshot.processes) {
    const shown = p.fds.filter((f) => drawn.has(f.object));
    const more = p.fds.length - shown.length;
    const rows = 1 + Math.max(1, shown.length) + (more > 0 ? 1 : 0);
    parts.push(`<g class="fd-table" data-role="${esc(p.role)}"><rect x="${PROCESS_X}" y="${y}" width="${PROCESS_W}" height="${rows * ROW + 6}" rx="6" class="fd-table-bg"/>` +
      `<text x="${PROCESS_X + 8}" y="${y + 15}" class="fd-role">${esc(p.role)}</text>` +
      `<text x="${PROCESS_X + PROCESS_W - 8}" y="${y + 15}" text-anchor="end" class="fd-pid">${p.pid === null ? 'exited' : `pid ${p.pid}`}</text>`);
    let row = y + ROW;
    if (p.pid === null || shown.length === 0) parts.push(`<text x="${PROCESS_X + 12}" y="${row + 14}" class="fd-none">${p.pid === null ? 'no fd table: it has exited' : 'none of these fds'}</text>`);
    for (const f of shown) {
      parts.push(`<g class="fd-box" data-fd="${f.fd}" data-object="${esc(f.object)}"><rect x="${PROCESS_X + 10}" y="${row + 2}" width="${PROCESS_W - 20}" height="${ROW - 4}" rx="3"/>` +
        `<text x="${PROCESS_X + 18}" y="${row + 14}">fd ${f.fd}${f.pos !== undefined ? `  (pos ${f.pos})` : ''}</text></g>`);
      fdY.set(f.object, [...(fdY.get(f.object) ?? []), row + ROW / 2]);
      arrows.push({ y: row + ROW / 2, object: f.object, label: `${p.role} fd ${f.fd}` });
      row += ROW;
    }
    if (p.pid !== null && shown.length === 0) row += ROW;
    if (more > 0) parts.push(`<text x="${PROCESS_X + 18}" y="${row + 14}" class="fd-more">… ${more} more fd(s) (fd-tables.json)</text>`);
    y += rows * ROW + 12;
  }
  // Each object sits level with the fds that point at it, pushed down where they would overlap.
  const objectY = new Map<string, number>();
  let lowest = 0;
  for (const [key, ys] of [...fdY].sort((a, b) => a[1][0] - b[1][0])) {
    const centre = Math.max(ys.reduce((s, v) => s + v, 0) / ys.length, lowest + ROW + 6);
    objectY.set(key, centre);
    lowest = centre;
    parts.push(`<g class="fd-object" data-object="${esc(key)}"><rect x="${OBJECT_X}" y="${centre - ROW / 2}" width="${OBJECT_W}" height="${ROW}" rx="4"/>` +
      `<text x="${OBJECT_X + 6}" y="${centre + 4}">${esc(describeObject(snapshot.objects[key]))}</text></g>`);
  }
  for (const a of arrows) {
    parts.push(`<g class="fd-arrow" data-object="${esc(a.object)}"><title>${esc(`${a.label} → ${snapshot.objects[a.object].label}`)}</title>` +
      `<line x1="${PROCESS_X + PROCESS_W - 10}" y1="${a.y}" x2="${OBJECT_X - 2}" y2="${objectY.get(a.object)}" marker-end="url(#fd-head)"/></g>`);
  }
  const rest = objectOrder(snapshot).length - drawn.size;
  if (rest > 0) parts.push(`<text x="${OBJECT_X}" y="${lowest + ROW + 6}" class="fd-more">… ${rest} more object(s) like these (all in fd-tables.json)</text>`);
  const height = Math.max(y, lowest + ROW * 2) + 4;
  const width = OBJECT_X + OBJECT_W + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="fd-picture" data-snapshot="${esc(snapshot.key)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    '<defs><marker id="fd-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#0369a1"/></marker></defs>' +
    `<text x="${PROCESS_X}" y="17" class="fd-title">fd tables ${esc(snapshot.title)}</text>${parts.join('')}</svg>`;
}

/** The HTML section for timeline.html: every snapshot side by side (before and after the handover at a glance), with its styles. */
export function fdPicturesHtml(snapshots: readonly FdSnapshot[]): string {
  if (snapshots.length === 0) return '';
  return `<section id="fd-tables"><style>
#fd-tables{padding:4px 16px 6px;background:#fff;border-bottom:1px solid #cbd5e1}#fd-tables p{margin:2px 0 4px;font-size:12px}
#fd-tables .pictures{display:flex;gap:12px;align-items:flex-start}#fd-tables .fd-picture{flex:0 1 auto;min-width:0;max-width:calc((100% - 12px) / 2);height:auto}
.fd-title{font-weight:600;font-size:13px}.fd-table-bg{fill:#f1f5f9;stroke:#94a3b8}.fd-role{font-weight:600}.fd-pid,.fd-none,.fd-more{fill:#64748b;font-size:11px}
.fd-box rect{fill:#fff;stroke:#2563eb}.fd-box text{font:11px ui-monospace,monospace}.fd-object rect{fill:#fff7ed;stroke:#c2410c}.fd-object text{font:11px ui-monospace,monospace}
.fd-arrow line{stroke:#0369a1;stroke-width:1.4}
</style><p><b>fd tables at the key step</b>, read from /proc/&lt;pid&gt;/fd and /proc/&lt;pid&gt;/fdinfo of the live processes (host pids). Different fd numbers, one arrow target: one open file description or socket, the same inode.</p>
<div class="pictures">${snapshots.map(fdPictureSvg).join('\n')}</div></section>`;
}
