// Every relative link in the docs points at a file that exists, and every
// #anchor at a heading of that file (GitHub's slugs: lower case, punctuation
// dropped, spaces to hyphens, -1, -2 ... for repeats). Links inside code
// blocks and inline code are not links.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labPages } from './pages';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** The docs this test reads: the front door, the doors behind it, docs/ and each lab's page. */
export function linkedDocs(): string[] {
  const docs = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', 'CONTRIBUTING.md', 'labs.md', 'packages/fdlab/README.md', ...docs, ...labPages()];
}

/** The text without fenced code blocks (kept as empty lines, so line numbers hold). */
function withoutFences(text: string): string {
  const lines = text.split('\n');
  let fence: string | null = null;
  return lines
    .map((line) => {
      const open = /^\s*(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (open && line.trim() === fence) fence = null;
        return '';
      }
      if (open) {
        fence = open[1];
        return '';
      }
      return line;
    })
    .join('\n');
}

/** GitHub's anchor for a heading's text. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a markdown file has, repeats numbered as GitHub does. */
export function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const line of withoutFences(fs.readFileSync(file, 'utf8')).split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    const explicit = [...line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)].map((m) => m[1]);
    for (const id of explicit) found.add(id);
    if (!heading) continue;
    const base = slug(heading[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  return found;
}

interface Link {
  doc: string;
  line: number;
  target: string;
}

/** Inline links and images, `[text](target)`, outside code. */
export function links(doc: string): Link[] {
  const found: Link[] = [];
  withoutFences(fs.readFileSync(path.join(ROOT, doc), 'utf8'))
    .split('\n')
    .forEach((line, i) => {
      const prose = line.replace(/`[^`]*`/g, '``');
      for (const match of prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) found.push({ doc, line: i + 1, target: match[1] });
    });
  return found;
}

describe('docs: relative links and anchors resolve', function () {
  for (const doc of linkedDocs()) {
    it(`${doc}`, function () {
      const broken: string[] = [];
      for (const link of links(doc)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue; // https:, mailto:
        const [file, anchor] = link.target.split('#') as [string, string | undefined];
        const target = file ? path.resolve(path.dirname(path.join(ROOT, doc)), decodeURIComponent(file)) : path.join(ROOT, doc);
        if (!fs.existsSync(target)) {
          broken.push(`${doc}:${link.line}: ${link.target}: no such file`);
          continue;
        }
        if (anchor !== undefined) {
          if (!target.endsWith('.md')) broken.push(`${doc}:${link.line}: ${link.target}: an anchor into a file that is not markdown`);
          else if (!anchors(target).has(anchor)) broken.push(`${doc}:${link.line}: ${link.target}: no heading with that anchor in ${path.relative(ROOT, target)}`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }

  it('every lab has a page: a five-line "What to notice", then run, checks, what breaks, exercises, challenges; labs.md links to each', function () {
    const index = links('labs.md').map((l) => l.target);
    const wrong: string[] = [];
    for (const page of labPages()) {
      if (!fs.existsSync(path.join(ROOT, page))) {
        wrong.push(`${page}: missing`);
        continue;
      }
      if (!index.includes(page)) wrong.push(`labs.md does not link to ${page}`);
      const text = withoutFences(fs.readFileSync(path.join(ROOT, page), 'utf8'));
      const sections = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
      const order = ['What to notice', 'Run', 'Checks', 'What breaks', 'Exercises', 'Challenges?'].map((want) => sections.findIndex((s) => new RegExp(`^${want}$`).test(s)));
      if (order[0] !== 0 || order.some((at, k) => at < 0 || (k > 0 && at <= order[k - 1]))) wrong.push(`${page}: sections in this order: ${sections.join(' / ')}`);
      const notice = /^## What to notice\n\n((?:.+\n)+)/m.exec(text)?.[1].trimEnd().split('\n') ?? [];
      if (notice.length !== 5) wrong.push(`${page}: "What to notice" has ${notice.length} lines, not 5`);
    }
    assert.deepEqual(wrong, []);
  });

  it('the readers\' docs link to each other (README.md opens three doors)', function () {
    const readme = links('README.md').map((l) => l.target);
    for (const door of ['labs.md', 'packages/fdlab/README.md', 'CONTRIBUTING.md']) assert.ok(readme.includes(door), `README.md links to ${door}`);
  });

  it('slugs as GitHub makes them', function () {
    assert.equal(slug('The `fdlab` command'), 'the-fdlab-command');
    assert.equal(slug('fdlab/wire: the bytes, for peers in other languages'), 'fdlabwire-the-bytes-for-peers-in-other-languages');
    assert.equal(slug('Lab 5: hot upgrade of long-lived connections on SIGUSR2'), 'lab-5-hot-upgrade-of-long-lived-connections-on-sigusr2');
  });
});
