// The commands fdlab prints must run as printed from where the learner is.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { invokedAs } from '../../src/cli/invoked-as';
import { tempDir } from '../helpers/fds';
import { collect } from '../helpers/process';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

describe('commands fdlab prints name the way it was run', () => {
  it('npm run fdlab -- in a checkout, npx fdlab through npx, else fdlab', () => {
    assert.equal(invokedAs({ npm_lifecycle_event: 'fdlab' }), 'npm run fdlab --');
    assert.equal(invokedAs({ npm_lifecycle_event: 'npx', npm_command: 'exec' }), 'npx fdlab');
    assert.equal(invokedAs({}), 'fdlab');
  });

  it('fdlab challenge, started as npm run fdlab would start it, says "npm run fdlab -- check"', async () => {
    const dir = tempDir('fdlab-invoked-');
    const run = await collect(spawn(process.execPath, [CLI, 'challenge', '1', 'read-world', '--dir', dir], {
      env: { ...process.env, npm_lifecycle_event: 'fdlab', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Check it: {2}npm run fdlab -- check 1 read-world --dir /m);
    assert.match(run.stdout, /^Stuck\? {5}npm run fdlab -- hint 1 read-world --dir /m);
  });
});
