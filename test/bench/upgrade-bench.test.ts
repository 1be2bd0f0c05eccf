// bench:upgrade as a regression run: a small load, one upgrade per strategy.
// No timing is asserted (the machine is shared); what must hold is that
// fdlab's handover loses nothing, the results are written and well formed,
// and no process the bench started outlives it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertBalancedSvg, gone, runBench as run } from '../helpers/bench-run';
import { tempDir } from '../helpers/fds';

const runBench = (args: string[]) => run('upgrade', args);

describe('bench:upgrade', function () {
  this.timeout(90_000);

  it('runs every strategy with 200 connections and 1 upgrade: fdlab loses nothing, results written, no process left', async () => {
    const out = tempDir('fdlab-bench-');
    const run = await runBench(['--connections', '200', '--upgrades', '1', '--steady-ms', '500', '--after-ms', '500', '--rounds', '1', '--storm', '100', '--out', out]);
    assert.equal(run.code, 0, `bench failed:\n${run.stdout}\n${run.stderr}`);
    const files = fs.readdirSync(out).sort();
    assert.equal(files.length, 2, files.join(', '));
    assert.match(files[0], /^upgrade-200c-\d{4}-\d{2}-\d{2}\.json$/);
    assert.match(files[1], /^upgrade-200c-\d{4}-\d{2}-\d{2}\.svg$/);
    const doc = JSON.parse(fs.readFileSync(path.join(out, files[0]), 'utf8'));
    assertBalancedSvg(fs.readFileSync(path.join(out, files[1]), 'utf8'));

    const by = Object.fromEntries(doc.results.map((r: { strategy: string }) => [r.strategy, r]));
    assert.deepEqual(Object.keys(by), ['fdlab', 'restart', 'listener-only']);
    for (const strategy of ['fdlab', 'listener-only']) {
      const r = by[strategy];
      assert.equal(r.lost, 0, `${strategy} lost pongs`);
      assert.equal(r.duplicated, 0, `${strategy} duplicated pongs`);
      assert.equal(r.garbage, 0, `${strategy} garbage`);
      assert.equal(r.disconnects, 0, `${strategy} disconnects`);
      assert.ok(r.pongs > 0);
    }
    const fdlab = by.fdlab.upgrades[0];
    assert.equal(fdlab.engine.connections, 200);
    assert.ok(fdlab.oldGoneMs !== null && fdlab.newPid !== fdlab.oldPid);
    assert.equal(by.restart.disconnects, 200);
    assert.ok(by.restart.upgrades[0].allBackMs > 0);
    assert.deepEqual(by['listener-only'].end.oldStillServing.map((o: { connections: number }) => o.connections), [200]);
    assert.match(run.stdout, /What the clients saw/);
    // The medians of every upgrade, and the connect storm beside: each server once, every connection answered.
    assert.match(run.stdout, /Every upgrade of 1 round\(s\): median \(min-max\)/);
    assert.equal(doc.rounds.length, 1);
    assert.deepEqual(doc.storm.map((r: { server: string }) => r.server), ['fdlab', 'node', 'python']);
    for (const r of doc.storm) assert.equal(r.answered, 100, `${r.server}: ${JSON.stringify(r)}`);
    // 200 connections are one group: nothing is switched after the commit (restMs is a few ms at most, not asserted: timing).
    assert.ok(typeof fdlab.engine.startMs === 'number' && fdlab.engine.groups === 1 && typeof fdlab.engine.restMs === 'number', JSON.stringify(fdlab.engine));

    assert.ok(doc.pids.length >= 7, `pids: ${doc.pids}`); // 3 clients, 2 fdlab, 2 restart, 2 listener-only
    const left = doc.pids.filter((pid: number) => !gone(pid));
    assert.deepEqual(left, [], 'processes left running');
  });

  it('refuses bad arguments with a code', async () => {
    for (const [args, code] of [
      [['--connections', 'lots'], 'ERR_INVALID_ARG_VALUE'],
      [['--connections', '20000'], 'ERR_INVALID_ARG_VALUE'],
      [['--connections', '10', '--strategies', 'fdlab,magic'], 'ERR_INVALID_ARG_VALUE'],
      [['--connections', '10', '--runtime', 'docker'], 'ERR_UNSUPPORTED_RUNTIME'],
      [['--connections', '10', '--bogus'], 'ERR_PARSE_ARGS_UNKNOWN_OPTION'],
      [[], 'ERR_INVALID_ARG_VALUE'],
    ] as const) {
      const run = await runBench([...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`^error ${code}: `), args.join(' '));
    }
  });
});
