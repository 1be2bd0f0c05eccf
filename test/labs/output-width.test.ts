// What the learner reads fits 100 columns (a 100-column pty wrapped the
// checks table at 108, SCM_RIGHTS lines at 136-200, lab 5's RESULT at 2,000),
// and what the labs parse stays whole.
import { strict as assert } from 'node:assert';
import { checksTable } from '../../src/labs/checks';
import { pairLines } from '../../src/labs/scm-report';
import { RoleLog } from '../../src/runtime/role-log';
import { wrap } from '../../src/util/wrap';

// eslint-disable-next-line no-control-regex
const widest = (lines: string[]) => Math.max(...lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').length));

describe('lab output width', () => {
  it('the checks table is at most 100 wide, long words broken rather than cut', () => {
    const path = '/work/some/very/long/path/without/a/space/captures/lab2/unix-socket-server.strace';
    const table = checksTable([
      { name: 'strace shows the socket leaving the client and arriving in the receiver', status: 'pass', measured: `unix-socket-client (pid 18, host 10397) sent fd 19 <TCP 127.0.0.1:59238->127.0.0.1:8080 inode 12413419>; ${path}` },
      { name: 'skipped', status: 'skipped', measured: 'not traced (--no-strace)' },
    ]);
    assert.equal(widest(table.split('\n')), 100);
    assert.ok(!table.includes('…'), table);
    assert.ok(table.replace(/[│\s]/g, '').includes(path.replace(/\s/g, '')), `the whole path is in the table:\n${table}`);
  });

  it('an SCM_RIGHTS line breaks before the receiver and keeps a TCP socket\'s a->b whole', () => {
    const line = 'unix-socket-client (pid 18, host 10397) sent fd 19 <TCP 127.0.0.1:59238->127.0.0.1:8080 inode 12413419> -> unix-socket-server (pid 18, host 10412) got it as fd 19 (same socket, inode 12413419)';
    const lines = pairLines(line);
    assert.ok(widest(lines) <= 100, lines.join('\n'));
    assert.match(lines[lines.length - 1], /^ {4}-> unix-socket-server \(pid 18, host 10412\) got it as fd 19/);
    assert.ok(lines.join(' ').includes('127.0.0.1:59238->127.0.0.1:8080'));
    assert.equal(lines.map((l) => l.trim()).join(' '), line);
  });

  it('wrap: at most the width, words whole, indents kept', () => {
    const lines = wrap('a '.repeat(120) + 'end', '   ', '     ');
    assert.ok(widest(lines) <= 100 && lines.length === 3, lines.join('\n'));
    assert.ok(lines.slice(1).every((l) => l.startsWith('     a')));
  });

  it('a long RESULT line is echoed as its length and file; role.lines and waitForLine get it whole', async () => {
    const printed: string[] = [];
    const log = new RoleLog('client', { out: (text) => printed.push(text), logFile: 'captures/lab5/client.log' });
    const result = `RESULT ${JSON.stringify({ delays: Array.from({ length: 200 }, (_, i) => [i, i]) })}`;
    const waiting = log.waitForLine(/^RESULT /);
    log.write(`short line\nRESULT {"ok":1}\n${result}\n`);
    assert.equal(await waiting, 'RESULT {"ok":1}');
    assert.equal(await log.waitForLine(/^RESULT \{"delays"/), result);
    assert.equal(log.lines[2], result);
    assert.match(printed[1], /RESULT \{"ok":1\}\n$/, 'a short RESULT is echoed as is');
    assert.match(printed[2], new RegExp(`RESULT \\(${result.length.toLocaleString('en-US')} characters: in captures/lab5/client\\.log\\)\\n$`));
    assert.ok(widest(printed.map((p) => p.trimEnd())) <= 100);
  });
});
