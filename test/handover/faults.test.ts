// The hot-upgrade engine on a bad day, one row of docs/handover.md's fault
// table per test: `fdlab serve` as real processes, 30 pinging connections,
// and a fault hook (FDLAB_HANDOVER_HOOK) that kills or stops one side on
// entering a named state, so each state is reached deterministically.
// Whatever happens, at the end: one server left, named by the pid file,
// every connection open, every ping answered once, no fd left behind, and
// the next upgrade works.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { fdCountOf, processesUsing, processState, type Serving, soleServer, startServe, stopServing } from '../helpers/serve';

const CONNECTIONS = 30;
/** More than two groups of 256: the faults after the commit then strike while groups are still switching. */
const MANY = 600;
/** Past 2,048, groups of 1,024 (hand-off.ts): 8 groups of 256, one of 1,024, one of 28. */
const HUGE = 3100;

interface Row {
  hook: string;
  /** Who serves at the end: the first version, or its successor. */
  survivor: 'old' | 'new';
  /** The log line that says how it ended. */
  outcome: RegExp;
  /** A stopped side, continued (SIGCONT) once this line is logged. */
  continueAfter?: RegExp;
}

const ROWS: Row[] = [
  { hook: 'new:hello-sent=kill', survivor: 'old', outcome: /rolled back: serving 30 connections again/ },
  { hook: 'new:hello-sent=stop', survivor: 'old', outcome: /rolled back: serving 30 connections again/ },
  { hook: 'new:receiving=kill', survivor: 'old', outcome: /rolled back: serving 30 connections again/ },
  { hook: 'new:acked=kill', survivor: 'old', outcome: /rolled back: serving 30 connections again/ },
  { hook: 'new:acked=stop', survivor: 'old', outcome: /upgrade failed in state 'awaiting-ack': the upgrade deadline passed[^]*rolled back: serving 30 connections again/ },
  { hook: 'new:serving-standby=kill', survivor: 'old', outcome: /took everything back: serving 30 connections again \((exited|closed the upgrade channel)/ },
  // Stopped while groups still switch (600 connections), the old version sees it take no group.
  { hook: 'new:serving-standby=stop', survivor: 'old', outcome: /took everything back: serving 30 connections again \((stopped answering|read no group|took no group)/ },
  { hook: 'old:awaiting-ack=kill', survivor: 'new', outcome: /the old version vanished after sending everything, before its commit: serving the listener and the 30 connections/ },
  { hook: 'old:standby=kill', survivor: 'new', outcome: /the old version is gone: serving alone/ },
  {
    hook: 'old:awaiting-ack=stop',
    survivor: 'old',
    continueAfter: /the upgrade deadline passed while waiting for the commit/,
    outcome: /rolled back: serving 30 connections again/,
  },
  { hook: 'old:standby=stop', survivor: 'new', continueAfter: /took over the listener and the first 30 connections/, outcome: /standby over: released our copies/ },
  { hook: 'new:receiving=usr2', survivor: 'new', outcome: /SIGUSR2 ignored[^]*upgraded 30 connections/ },
  { hook: 'new:acked=usr2', survivor: 'new', outcome: /SIGUSR2 ignored[^]*upgraded 30 connections/ },
  { hook: 'old:transferring=usr2', survivor: 'new', outcome: /SIGUSR2 ignored: not serving \(upgrading\)[^]*upgraded 30 connections/ },
];

async function serving(serve: Serving, pinger: Pinger, from: number, connections: number): Promise<void> {
  // Pongs on every connection after `from` pongs in all: whoever serves now answers.
  const target = from + 3 * connections;
  await until(10_000, () => `pongs from the server left (${pinger.pongs} of ${target})\n${serve.log()}`, () => pinger.pongs >= target || pinger.disconnects > 0, 10);
}

describe('hot-upgrade engine: a fault in every state', function () {
  this.timeout(60_000);

  const scaled = (row: Row, n: number): Row => ({ ...row, outcome: new RegExp(row.outcome.source.replaceAll(String(CONNECTIONS), String(n))) });
  const rows: [Row, number][] = [
    ...ROWS.map((row): [Row, number] => [row, CONNECTIONS]),
    // Where many connections make a difference: copies in several batches (receiving), a group of 256
    // acknowledged (acked), later groups still to switch (serving-standby). A kill of the old version
    // mid-stream is left out: the groups it never switched lose what it had read. (The rows where the
    // successor dies before anything is sent, or only meets the deadline or a SIGUSR2, took 16 s of
    // npm test at 600 and showed nothing the 30-connection rows do not.)
    ...ROWS.filter((row) => /^new:(receiving=kill|acked=kill|serving-standby=(kill|stop))$/.test(row.hook)).map((row): [Row, number] => [scaled(row, MANY), MANY]),
    // The new version killed with the large groups still to come: all 3,100 are taken back.
    ...ROWS.filter((row) => row.hook === 'new:serving-standby=kill').map((row): [Row, number] => [scaled(row, HUGE), HUGE]),
  ];
  for (const [row, connections] of rows) {
    it(`${row.hook}, ${connections} connections: ${row.survivor === 'old' ? 'the old version keeps' : 'the new version gets'} every one`, async () => {
      // The deadline is what ends the rows that stop a side before the commit; the others must not meet it:
      // with 1,500 ms for all, a successor that took longer to start on a loaded machine (a CI run beside
      // four other test runs) rolled back old:transferring=usr2 before its hook.
      const deadlineEnds = /^(new:hello-sent|new:acked|old:awaiting-ack)=stop$/.test(row.hook);
      // Each upgrade ends only after the standby: 3 s where the fault happens in it, 0.5 s elsewhere
      // (3 s for every row was 2 x 2.5 s of waiting in 19 of the 25 rows, 95 s of npm test).
      const standby = /standby/.test(row.hook) ? '3000' : '500';
      const serve = await startServe(tempDir(), ['--upgrade-timeout', deadlineEnds ? '3000' : '8000', '--standby', standby], { FDLAB_HANDOVER_HOOK: row.hook });
      const pinger = await Pinger.connect(serve.port, connections);
      try {
        pinger.start(connections > MANY ? 500 : connections > CONNECTIONS ? 100 : 20);
        const fdsBefore = fdCountOf(serve.pid);
        process.kill(serve.pid, 'SIGUSR2');
        await serve.waitForLog(new RegExp(`hook: ${row.hook}`));
        if (row.continueAfter) {
          await serve.waitForLog(row.continueAfter);
          // The hook logs, then stops its process: a SIGCONT sent between the two is lost (seen on Node 24).
          await until(5000, 'the hooked side to stop', () => processesUsing(serve.dir).some((pid) => processState(pid) === 'T'));
          for (const pid of processesUsing(serve.dir)) process.kill(pid, 'SIGCONT');
        }
        await serve.waitForLog(row.outcome);
        const survivor = await soleServer(serve);
        if (row.survivor === 'old') assert.equal(survivor, serve.pid, 'the old version still serves');
        else assert.notEqual(survivor, serve.pid, 'the new version serves');
        await until(5000, 'the pid file to name the server left', () => serve.pidInFile() === survivor);
        await serving(serve, pinger, pinger.pongs, connections);
        if (row.survivor === 'old') assert.equal(fdCountOf(survivor), fdsBefore, `no fd left behind in the old version\n${serve.log()}`);
        // A successor killed or stopped after it prepared the pid file leaves no serve.pid.<pid>.tmp behind.
        await until(5000, () => `no temporary pid file left (${fs.readdirSync(path.dirname(serve.pidFile))})`, () => !fs.readdirSync(path.dirname(serve.pidFile)).some((name) => name.endsWith('.tmp')));

        // The hook is used up: the next upgrade goes through, and only one server is left.
        const mark = serve.log().length;
        process.kill(survivor, 'SIGUSR2');
        await serve.waitForLog(new RegExp(`upgraded ${connections} connections: gap \\d+ ms`), 15_000, mark);
        const last = await soleServer(serve);
        assert.notEqual(last, survivor);
        await until(5000, 'the pid file to name the last version', () => serve.pidInFile() === last);
        await serving(serve, pinger, pinger.pongs, connections);

        const counts = await pinger.stop();
        assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, serve.log());
      } finally {
        pinger.close();
        await stopServing(serve);
      }
    });
  }

  it('the old version dies while the new one takes its copies: the new one serves them all', async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '3000', '--standby', '300'], { FDLAB_HANDOVER_HOOK: 'new:receiving=stop' });
    // Whole pings only: half a ping the dead version had read dies with it (docs/handover.md, not covered).
    const pinger = await Pinger.connect(serve.port, CONNECTIONS, ['plain', 'pipelined']);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/hook: new:receiving=stop/);
      await serve.waitForLog(/sent the listener and copies of 30 connections/); // all in the kernel, for the new one to read
      const successor = processesUsing(serve.dir).find((pid) => pid !== serve.pid)!;
      // The hook logs, then stops its process: a SIGCONT sent between the two was lost (Node 24, 1 run in 2), stopping it for good.
      await until(5000, 'the successor to stop', () => processState(successor) === 'T');
      process.kill(serve.pid, 'SIGKILL'); // the old one dies with every connection still its own...
      await until(5000, 'the old version to be gone', () => !processesUsing(serve.dir).includes(serve.pid));
      process.kill(successor, 'SIGCONT'); // ...but the new one holds a copy of each
      await serve.waitForLog(/the old version vanished (as we took its copies|in the middle of the transfer): serving the listener and the 30 connections/);
      assert.equal(await soleServer(serve), successor);
      await serving(serve, pinger, pinger.pongs, CONNECTIONS);
      const counts = await pinger.stop();
      assert.equal(counts.disconnects, 0, serve.log());
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('a standby shorter than the heartbeat timeout still never releases to a stopped version', async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '1500', '--standby', '300'], { FDLAB_HANDOVER_HOOK: 'new:serving-standby=stop' });
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took everything back: serving 30 connections again \(stopped answering \(nothing for \d+ ms at the end of the standby\)\)/);
      assert.equal(await soleServer(serve), serve.pid);
      await serving(serve, pinger, pinger.pongs, CONNECTIONS);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
