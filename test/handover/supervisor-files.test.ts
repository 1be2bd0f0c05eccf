// The supervisor's pid file on a bad day (issues 18 and 20): deleted while it
// runs (a tmp cleaner: before, never rewritten, and `fdlab upgrade` failed with
// ENOENT for good); unwritable at start (the fix named fdlab serve's option);
// naming a pid that another process got since (before, `fdlab upgrade` sent
// SIGUSR2 to that stranger, which died of it).
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { processesUsing } from '../helpers/serve';
import { killRun, serveCommand, startRun, type Running } from '../helpers/run';
import { cliPath } from '../../src/project';

/** `fdlab upgrade <file>`: its stdout, or its stderr if it failed. */
function upgrade(file: string): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(process.execPath, [cliPath(), 'upgrade', file], { stdio: 'pipe', encoding: 'utf8' }) };
  } catch (error) {
    return { ok: false, output: String((error as { stderr: string }).stderr) };
  }
}

describe('fdlab run: its pid file on a bad day (issues 18 and 20)', function () {
  this.timeout(60_000);
  let run: Running | null = null;

  afterEach(async () => {
    if (run) await killRun(run);
    run = null;
  });

  it('deleted while it runs: rewritten within a second, and fdlab upgrade <it> upgrades', async () => {
    const dir = tempDir();
    run = await startRun(dir, serveCommand(dir, ['--standby', '300']));
    fs.rmSync(run.runPidFile);
    await until(3000, 'the pid file rewritten', () => fs.existsSync(run!.runPidFile) && Number(fs.readFileSync(run!.runPidFile, 'utf8')) === run!.pid);
    // Said after the rewrite, through a pipe: waited for, not read at once (CI saw the file before the line).
    await run.waitForLog(new RegExp(`the pid file ${run.runPidFile} was missing: rewritten`), 5000);
    const from = run.log().length;
    const result = upgrade(run.runPidFile);
    assert.ok(result.ok, result.output);
    await run.waitForLog(/SIGUSR2: upgrading worker pid \d+/, 5000, from);
  });

  it('unwritable at start: exit 1, ERR_PID_FILE naming the path and fdlab run\'s own option; no worker started', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    const result = spawnSync(process.execPath, [cliPath(), 'run', '--pid-file', path.join(file, 'run.pid'), '--', ...serveCommand(dir)], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stderr, new RegExp(`cannot write the pid file ${file}/run\\.pid: ENOTDIR[^\\n]*pick another pidFile \\(fdlab run: --pid-file\\) \\[ERR_PID_FILE\\]`));
    assert.deepEqual(processesUsing(dir), []);
  });

  it('naming a pid another process got since: fdlab upgrade refuses (ERR_PID_FILE) and sends nothing; the process lives on', async () => {
    const dir = tempDir();
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', dir], { stdio: 'ignore' });
    try {
      const file = path.join(dir, 'run.pid');
      fs.writeFileSync(file, `${stranger.pid}\n`);
      const hourAgo = new Date(Date.now() - 3600_000);
      fs.utimesSync(file, hourAgo, hourAgo); // written an hour before the stranger started: its writer is long gone
      const result = upgrade(file);
      assert.equal(result.ok, false, result.output);
      assert.match(result.output, new RegExp(`pid ${stranger.pid} from ${file} started 36\\d\\d s after the file was written: another process got the pid[^\\n]*nothing sent \\[ERR_PID_FILE\\]`));
      assert.equal(stranger.exitCode, null);
      assert.equal(stranger.signalCode, null, 'no SIGUSR2 reached it');
      // The same file, written now (after it started): it is taken for the service's process, as before.
      fs.utimesSync(file, new Date(), new Date());
      assert.ok(upgrade(file).ok);
      await new Promise((resolve) => stranger.once('exit', resolve));
      assert.equal(stranger.signalCode, 'SIGUSR2', 'the check is what spared it');
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});
