// Issue 21: a reconnect storm. 2,000 connections at once (bench/c/storm_client.c)
// against `fdlab serve` in a network namespace of its own: every one answered,
// none refused, and the kernel dropped no SYN from a full accept queue (before:
// Node's 511 backlog; bare node:net overflowed 898 times at 2,000). No timing
// is asserted. The counters are proven able to see a drop first: a listener
// with a backlog of 1 that never accepts.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildClient, stormInNamespace } from '../../bench/storm';
import { tempDir } from '../helpers/fds';

const CONNECTIONS = 2000;

describe('bench:storm (a small run): 2,000 connections at once', function () {
  this.timeout(60_000);
  let client: string;

  before(function () {
    if (spawnSync('unshare', ['--net', 'true']).status !== 0) {
      if (process.env.FDLAB_REQUIRE_DOCKER === '1') assert.fail('unshare --net failed: the storm needs a network namespace of its own (root)');
      this.skip();
    }
    client = buildClient(tempDir());
  });

  it('the counters see dropped SYNs: a backlog of 1 that nobody accepts from overflows', () => {
    // Python: listen(1), never accept; 20 non-blocking connects; the counters before and after, in one namespace.
    const script = [
      'import socket, time',
      'def ext():',
      "    l = [x.split() for x in open('/proc/net/netstat') if x.startswith('TcpExt:')]",
      "    return int(l[1][l[0].index('ListenOverflows')])",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)",
      'before = ext()',
      'cs = []',
      'for i in range(20):',
      '    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); cs.append(c)',
      'time.sleep(0.5)',
      'print(ext() - before)',
    ].join('\n');
    const overflows = Number(execFileSync('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec python3 -c "$0"', script], { encoding: 'utf8' }).trim());
    assert.ok(overflows >= 10, `ListenOverflows counted ${overflows}`);
  });

  it('fdlab serve: every connection answered, none refused or reset, no SYN dropped or sent again', async () => {
    const result = await stormInNamespace('fdlab', CONNECTIONS, client);
    assert.deepEqual(
      { answered: result.answered, refused: result.refused, reset: result.reset, listenOverflows: result.listenOverflows, synRetransmits: result.synRetransmits },
      { answered: CONNECTIONS, refused: 0, reset: 0, listenOverflows: 0, synRetransmits: 0 },
    );
  });

  it('npm run bench:storm writes its results (one run of each server, 300 connections)', () => {
    const out = tempDir();
    const printed = execFileSync(process.execPath, [path.resolve(__dirname, '..', '..', 'bench', 'storm.js'), '--connections', '300', '--runs', '1', '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(printed, /^fdlab +\d+ \(\d+-\d+\)/m);
    assert.match(printed, /^python +\d+/m);
    const [file] = fs.readdirSync(out);
    const saved = JSON.parse(fs.readFileSync(path.join(out, file), 'utf8'));
    assert.equal(saved.results.length, 3);
    for (const r of saved.results) assert.equal(r.answered, 300, JSON.stringify(r));
  });
});
