// --pause through a real terminal: `script` gives the lab a pty and we type
// Enter into it. At the first pause the receiver is alive and the printed
// commands work as printed; the lab goes on at Enter and passes.
import { strict as assert } from 'node:assert';
import { pausableTimeout, whilePaused } from '../../src/util/pause';
import { pauseCommands, runPausedLab, sh } from '../helpers/paused-lab';

describe('fdlab lab --pause (in a pty)', function () {
  this.timeout(90_000);

  it('stops before each step with the roles alive, prints commands that work, resumes at Enter', async () => {
    const run = await runPausedLab(['1', '--runtime', 'process', '--quiet'], async (n, pause) => {
      if (n !== 1) return;
      // Step 2: only the receiver runs, listening; it waits for a sender that is not started yet.
      const pid = /receiver pid (\d+)/.exec(pause)![1];
      const commands = pauseCommands(pause).filter((c) => !c.includes('<fd>'));
      assert.deepEqual(commands, [`ls -l /proc/${pid}/fd`, `ss -atxnpe | grep 'pid=${pid},'`]);
      const fds = await sh(commands[0]);
      assert.equal(fds.code, 0, fds.output);
      assert.match(fds.output, /socket:\[\d+\]/);
      const sockets = await sh(commands[1]);
      assert.equal(sockets.code, 0, sockets.output);
      assert.match(sockets.output, /lab1\.sock/, 'the listening socket, with its process');
    });
    assert.doesNotMatch(run.text.slice(0, run.text.indexOf('press Enter')), /Step 3\./, 'the lab waits');
    assert.equal(run.pauses, 2, run.text); // before steps 2 and 3 (before step 1 nothing runs yet)
    assert.match(run.text, /Lab passed/, run.text);
    assert.equal(run.code, 0, run.text);
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
