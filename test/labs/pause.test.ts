// --pause through a real terminal: `script` gives the lab a pty and we type
// Enter (or Ctrl-C) into it. At each pause every role is stopped (the cgroup
// v2 freezer as processes, docker pause in containers), nothing of the next
// step has run, the printed commands work as printed; the roles go on at Enter.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { cgroup2Root, removeStaleFreezers } from '../../src/runtime/process/freezer';
import { pausableTimeout, whilePaused } from '../../src/util/pause';
import { labImageOrSkip } from '../helpers/docker';
import { until } from '../helpers/fds';
import { pauseCgroup, pausePids, runPausedLab, sh, type PauseAnswer, type PausedRun } from '../helpers/paused-lab';

/** `fdlab lab <lab> --runtime <runtime> --pause --quiet` in a pty; `atPause` looks around at each pause. */
function runPaused(runtime: 'process' | 'docker', atPause: (n: number, pause: string, output: string) => Promise<PauseAnswer>, lab = '1', network = 'host', quiet = true): Promise<PausedRun> {
  // As processes, the learner's default: this machine's network (lab 1 uses no TCP port); lab 2's port 9999 in a namespace of its own.
  return runPausedLab([lab, '--runtime', runtime, ...(quiet ? ['--quiet'] : [])], atPause, runtime === 'process' ? { FDLAB_PROCESS_NETWORK: network } : {});
}

/** The commands printed under one role in a pause. */
function commandsFor(pause: string, role: string): { pid: string; commands: string[] } {
  const block = pause.slice(pause.indexOf(`     ${role} pid `)).split(/\n {5}(?=\S)/)[0];
  return { pid: new RegExp(`${role} pid (\\d+)`).exec(block)![1], commands: [...block.matchAll(/^ {7}(\S.*)$/gm)].map((m) => m[1]) };
}

/** The pause's cgroup is frozen (the kernel's word: cgroup.events), every role pid the pause names is in it, and the prompt names them all. */
function assertFrozen(pause: string): { cgroup: string; pids: number[] } {
  const cgroup = pauseCgroup(pause);
  assert.ok(cgroup, `the pause names its freezer:\n${pause}`);
  assert.match(fs.readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8'), /^frozen 1$/m, 'frozen');
  const pids = [...pausePids(pause)];
  assert.ok(pids.length > 0, pause);
  for (const [role, pid] of pids) {
    assert.ok(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`0::/${path.basename(cgroup)}\n`), `${role} (pid ${pid}) is in ${cgroup}`);
    assert.ok(pause.includes(`${role} (pid ${pid})`), `the prompt names ${role} (pid ${pid}) as paused:\n${pause}`);
  }
  assert.match(pause, /^ {3}paused: .*\n(?:.*\n)*? {3}press Enter to run step \d+: \S/m);
  return { cgroup, pids: pids.map(([, pid]) => pid) };
}

/** Nothing the lab made is left: no role process, no cgroup. */
async function assertNothingLeft(cgroup: string, pids: number[]): Promise<void> {
  await until(5000, () => `roles ${pids.filter((pid) => fs.existsSync(`/proc/${pid}`)).join(', ')} and ${cgroup} gone`, () => pids.every((pid) => !fs.existsSync(`/proc/${pid}`)) && !fs.existsSync(cgroup), 20);
}

describe('fdlab lab --pause (in a pty)', function () {
  this.timeout(90_000);

  it('stops the roles before each step (frozen, not ended), prints commands that work, resumes at Enter', async () => {
    const frozen: { cgroup: string; pids: number[] }[] = [];
    const { text, pauses, code } = await runPaused('process', async (n, pause, output) => {
      frozen.push(assertFrozen(pause));
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
    await assertNothingLeft(frozen[0].cgroup, frozen.flatMap((f) => f.pids));
  });

  it("lab 2: a step's output comes before the next prompt, and nothing of step 4 runs until Enter", async () => {
    let cgroup = '';
    const pids = new Set<number>();
    const run = await runPaused('process', async (n, pause, output) => {
      const seen = assertFrozen(pause);
      cgroup = seen.cgroup;
      seen.pids.forEach((pid) => pids.add(pid));
      if (n !== 3) return;
      // Before step 4: the receiver holds the handed-over socket and has written nothing; step 3's lines are all above the prompt.
      assert.match(pause, /press Enter to run step 4: unix-socket-server writes/);
      const before = output.slice(0, output.lastIndexOf('Step 4.'));
      assert.match(before, /fd tables after the hand-over[^\n]*\n\s+unix-socket-server\s+pid \d+\s+fd \d+ ───▶ TCP/);
      assert.match(before, /unix-socket-server +│ holding: the socket is fd \d+ here, nothing written yet/);
      assert.doesNotMatch(output, /test_tcp_sock: write|messages on the migrated connection|Step 5\./, 'nothing of step 4 yet');
    }, '2 --set count=1', 'private', false);
    assert.equal(run.pauses, 3, run.text); // before steps 2, 3 and 4
    assert.equal(run.code, 0, run.text);
    assert.match(run.text, /Lab passed/);
    const prompt = run.text.lastIndexOf('press Enter to run step 4');
    assert.ok(run.text.indexOf('test_tcp_sock: write 22 bytes OK.') > prompt, 'the receiver wrote after Enter');
    await assertNothingLeft(cgroup, [...pids]);
  });

  it('Ctrl-C at a pause ends the frozen roles and removes their cgroup', async () => {
    let seen: { cgroup: string; pids: number[] } | undefined;
    const run = await runPaused('process', async (n, pause) => {
      seen = assertFrozen(pause);
      return 'ctrl-c';
    });
    assert.equal(run.pauses, 1, run.text);
    assert.match(run.text, /SIGINT: cleaning up 1 lab runtime/);
    assert.equal(run.code, 130, run.text);
    await assertNothingLeft(seen!.cgroup, seen!.pids);
  });

  it('kill -9 of the lab at a pause: its guard thaws and ends the roles; fdlab clean removes a cgroup whose guard is gone too', async () => {
    let seen: { cgroup: string; pids: number[] } | undefined;
    const run = await runPaused('process', async (n, pause) => {
      seen = assertFrozen(pause);
      process.kill(Number(/-(\d+)$/.exec(seen.cgroup)![1]), 'SIGKILL'); // the cgroup is named after the lab's pid
      return 'nothing';
    });
    assert.equal(run.pauses, 1, run.text);
    await assertNothingLeft(seen!.cgroup, seen!.pids);

    // No guard: a frozen process in an fdlab cgroup whose lab (a pid that has exited) is gone.
    const gone = spawn('true');
    await once(gone, 'exit');
    const cgroup = path.join(cgroup2Root()!, `fdlab-test-${gone.pid}`);
    fs.mkdirSync(cgroup);
    const frozen = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec sleep 60', cgroup], { stdio: 'ignore' });
    const exited = once(frozen, 'exit');
    await until(2000, 'the sleep in the cgroup', () => fs.readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').includes(String(frozen.pid)));
    fs.writeFileSync(path.join(cgroup, 'cgroup.freeze'), '1');
    await until(2000, 'frozen', () => fs.readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8').includes('frozen 1'));
    assert.ok((await removeStaleFreezers()).includes(cgroup));
    await exited;
    assert.equal(fs.existsSync(cgroup), false);
  });

  it('in Docker mode: every role container is paused, host pids, and the printed host-side commands (ls /proc, nsenter ss, fdinfo, nsenter sh) work', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const docker = new Docker();
    const containers: string[] = [];
    const { text, pauses, code } = await runPaused('docker', async (n, pause, output) => {
      assert.match(pause, /host pids/);
      assert.match(pause, /stopped by docker pause/);
      const receiver = commandsFor(pause, 'receiver');
      const pid = receiver.pid;
      assert.deepEqual(receiver.commands.slice(0, 3), [`ls -l /proc/${pid}/fd`, `nsenter -t ${pid} -n ss -atxnpe`, `cat /proc/${pid}/fdinfo/<fd>`]);
      // docker exec refuses a paused container: the pause prints nsenter into its namespaces instead.
      assert.equal(receiver.commands[3], `nsenter -t ${pid} -a sh`);
      for (const [role, rolePid] of pausePids(pause)) {
        // The engine's cgroups are v1 here (or v2 elsewhere): the container id is in the pid's cgroup path.
        const id = /docker[/-]([0-9a-f]{64})/.exec(fs.readFileSync(`/proc/${rolePid}/cgroup`, 'utf8'))?.[1];
        assert.ok(id, `${role}'s container id from /proc/${rolePid}/cgroup`);
        assert.equal((await docker.getContainer(id).inspect()).State.Paused, true, `${role}'s container is paused`);
        containers.push(id);
      }
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
    for (const id of containers) await assert.rejects(docker.getContainer(id).inspect(), /no such container/i, 'removed');
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
