// --pause through a real terminal: `script` gives the lab a pty and we type
// Enter into it. At the first pause the receiver is alive and the printed
// commands work as printed; the lab goes on at Enter and passes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { pausableTimeout, whilePaused } from '../../src/util/pause';
import { labImageOrSkip } from '../helpers/docker';
import { runPausedLab, sh, type PausedRun } from '../helpers/paused-lab';

/** `fdlab lab <lab> --runtime <runtime> --pause --quiet` in a pty; `atPause` looks around at each pause. */
function runPaused(runtime: 'process' | 'docker', atPause: (n: number, pause: string, output: string) => Promise<void>, lab = '1'): Promise<PausedRun> {
  // As processes, the learner's default: this machine's network (lab 1 uses no TCP port).
  return runPausedLab([lab, '--runtime', runtime, '--quiet'], atPause, runtime === 'process' ? { FDLAB_PROCESS_NETWORK: 'host' } : {});
}

/** The commands printed under one role in a pause. */
function commandsFor(pause: string, role: string): { pid: string; commands: string[] } {
  const block = pause.slice(pause.indexOf(`     ${role} pid `)).split(/\n {5}(?=\S)/)[0];
  return { pid: new RegExp(`${role} pid (\\d+)`).exec(block)![1], commands: [...block.matchAll(/^ {7}(\S.*)$/gm)].map((m) => m[1]) };
}

describe('fdlab lab --pause (in a pty)', function () {
  this.timeout(90_000);

  it('stops before each step with the roles alive, prints commands that work, resumes at Enter', async () => {
    const { text, pauses, code } = await runPaused('process', async (n, pause, output) => {
      if (n !== 1) return;
      // Step 2: only the receiver runs, listening; it waits for a sender that is not started yet.
      const { pid, commands } = commandsFor(pause, 'receiver');
      const runnable = commands.filter((c) => !c.includes('<fd>'));
      assert.deepEqual(runnable, [`ls -l /proc/${pid}/fd`, `ss -atxnpe | grep 'pid=${pid},'`]);
      const fds = await sh(runnable[0]);
      assert.equal(fds.code, 0, fds.output);
      assert.match(fds.output, /socket:\[\d+\]/);
      const sockets = await sh(runnable[1]);
      assert.equal(sockets.code, 0, sockets.output);
      assert.match(sockets.output, /lab1\.sock/, 'the listening socket, with its process');
      assert.doesNotMatch(output, /Step 3\./, 'the lab waits');
    });
    assert.equal(pauses, 2, text); // before steps 2 and 3 (before step 1 nothing runs yet)
    assert.match(text, /Lab passed/, text);
    assert.equal(code, 0, text);
  });

  it('in Docker mode: host pids, and the printed host-side commands (ls /proc, nsenter ss, fdinfo, docker exec) work', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const { text, pauses, code } = await runPaused('docker', async (n, pause, output) => {
      assert.match(pause, /host pids/);
      const receiver = commandsFor(pause, 'receiver');
      const pid = receiver.pid;
      assert.deepEqual(receiver.commands.slice(0, 3), [`ls -l /proc/${pid}/fd`, `nsenter -t ${pid} -n ss -atxnpe`, `cat /proc/${pid}/fdinfo/<fd>`]);
      assert.match(receiver.commands[3], /^docker exec -it \S+ sh$/);
      // The pid is the host's view of the role's own node (its container has its own pids).
      assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /receiver\.js/);
      const fds = await sh(receiver.commands[0]);
      assert.equal(fds.code, 0, fds.output);
      const sockets = await sh(receiver.commands[1]);
      assert.equal(sockets.code, 0, sockets.output);
      assert.match(sockets.output, new RegExp(`/run/fdlab/lab1\\.sock .*pid=${pid},`), 'the listening socket, owned by that host pid, in the pod network namespace');
      if (n === 1) {
        assert.match(fds.output, /socket:\[\d+\]/);
        assert.doesNotMatch(output, /Step 3\./, 'the lab waits');
        // Into the container, typed the way a learner would (through a pty).
        const shell = await sh(`printf 'ls /run/fdlab\\nexit\\n' | script -qec '${receiver.commands[3]}' /dev/null`);
        assert.match(shell.output, /lab1\.sock/, shell.output);
      } else {
        // Before step 3: the receiver holds the passed fd (and has not read yet), the sender too.
        const held = /(\d+) -> (\/tmp\/sender-private-\w+\/tmp\.txt)/.exec(fds.output);
        assert.ok(held, fds.output);
        const info = await sh(receiver.commands[2].replace('<fd>', held[1]));
        assert.match(info.output, /^pos:\s+0$/m, info.output);
        const sender = commandsFor(pause, 'sender');
        assert.match((await sh(sender.commands[0])).output, new RegExp(`-> ${held[2]}`), 'the same file in the sender');
      }
    });
    assert.equal(pauses, 2, text);
    assert.match(text, /Lab passed/, text);
    assert.equal(code, 0, text);
  });

  it('in Docker mode, lab 5: a pause longer than v1\'s usual 10 s upgrade deadline does not roll it back', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    let waited = 0;
    const { text, pauses, code } = await runPaused('docker', async (n, pause, output) => {
      if (n !== 3) return; // pauses come before steps 2, 3, 4 and 5: this one is before step 4
      assert.match(output.slice(output.lastIndexOf('Step ')), /^Step 4\. Start v2 in a new container/);
      // v1 waits for its successor; the learner looks around for longer than the 10 s it would wait unpaused.
      const v1 = commandsFor(pause, 'server-v1');
      const sockets = await sh(v1.commands[1]);
      assert.match(sockets.output, new RegExp(`127\\.0\\.0\\.1:7000 .*pid=${v1.pid},`), sockets.output);
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      waited = Date.now() - started;
    }, '5 --set connections=5');
    assert.equal(pauses, 4, text); // before steps 2, 3, 4 and 5
    assert.ok(waited >= 11_000, `paused ${waited} ms before step 4`);
    assert.doesNotMatch(text, /rolled back/, text);
    assert.match(text, /Lab passed/, text);
    assert.equal(code, 0, text);
  });

  it('timeouts stand still while paused', async () => {
    let fired = false;
    const timer = pausableTimeout(() => (fired = true), 50);
    const pausedFor = await whilePaused(async () => {
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 200)); // a learner looking around, well past the 50 ms
      return Date.now() - started;
    });
    assert.ok(pausedFor >= 150 && !fired, 'did not fire while paused');
    await new Promise<void>((resolve) => {
      const check = pausableTimeout(() => resolve(), 60); // after the remaining 50 ms it has fired
      void check;
    });
    assert.equal(fired, true);
    timer.clear();
  });
});
