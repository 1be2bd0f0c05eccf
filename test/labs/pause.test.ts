// --pause through a real terminal: `script` gives the lab a pty and we type
// Enter into it. At the first pause the receiver is alive and the printed
// commands work as printed; the lab goes on at Enter and passes.
import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { pausableTimeout, whilePaused } from '../../src/util/pause';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function sh(command: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }));
  });
}

// eslint-disable-next-line no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

describe('fdlab lab --pause (in a pty)', function () {
  this.timeout(90_000);

  it('stops before each step with the roles alive, prints commands that work, resumes at Enter', async () => {
    const lab = spawn('script', ['-qfec', `${process.execPath} ${CLI} lab 1 --runtime process --pause --quiet`, '/dev/null'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '1' },
    });
    let output = '';
    let pauses = 0;
    const checked: Promise<void>[] = [];
    lab.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const text = plain(output);
      const seen = text.split('press Enter to run this step').length - 1;
      if (seen === pauses) return;
      pauses = seen;
      const pause = text.slice(text.lastIndexOf(' paused '));
      checked.push(
        (async () => {
          if (pauses === 1) {
            // Step 2: only the receiver runs, listening; it waits for a sender that is not started yet.
            const pid = /receiver pid (\d+)/.exec(pause)![1];
            const commands = [...pause.matchAll(/^ {7}(\S.*)$/gm)].map((m) => m[1]).filter((c) => !c.includes('<fd>'));
            assert.deepEqual(commands, [`ls -l /proc/${pid}/fd`, `ss -atxnpe | grep 'pid=${pid},'`]);
            const fds = await sh(commands[0]);
            assert.equal(fds.code, 0, fds.output);
            assert.match(fds.output, /socket:\[\d+\]/);
            const sockets = await sh(commands[1]);
            assert.equal(sockets.code, 0, sockets.output);
            assert.match(sockets.output, /lab1\.sock/, 'the listening socket, with its process');
            assert.doesNotMatch(plain(output), /Step 3\./, 'the lab waits');
          }
          lab.stdin.write('\r');
        })(),
      );
    });
    const code = await new Promise<number | null>((resolve) => lab.once('close', resolve));
    await Promise.all(checked);
    const text = plain(output);
    assert.equal(pauses, 2, text); // before steps 2 and 3 (before step 1 nothing runs yet)
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
