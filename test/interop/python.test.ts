import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { closeQuietly, recvFds, sendFds, setNonBlocking, socketpair } from 'fdlab';
import { openFdCount, readSome, tempFile } from '../helpers/fds';
import { collect } from '../helpers/process';
import { projectPath } from '../../src/project';

// The script is not compiled: it lives beside the sources.
const SCRIPT = projectPath('test', 'interop', 'py_fds.py');

async function python(mode: string, pass: number[]): Promise<Record<string, unknown>> {
  const child = spawn('python3', [SCRIPT, mode], { stdio: ['ignore', 'pipe', 'pipe', ...pass] });
  const done = await collect(child);
  assert.equal(done.code, 0, `python3 ${mode} failed: ${done.stderr}`);
  return JSON.parse(done.stdout) as Record<string, unknown>;
}

describe('interop with Python socket.send_fds / recv_fds', () => {
  let pair: [number, number];
  beforeEach(() => (pair = socketpair()));
  afterEach(() => closeQuietly(pair));

  it('Node sends, Python receives and reads the file', async () => {
    const file = tempFile('hello world');
    sendFds(pair[0], [file.fd], 'boy');
    const got = await python('receive', [pair[1]]);
    assert.equal(got.msg, 'boy');
    assert.equal(got.content, 'hello world');
    assert.equal(got.truncated, false);
    fs.closeSync(file.fd);
  });

  it('Python sends, Node receives and reads the pipe', async () => {
    const before = openFdCount();
    await python('send', [pair[1]]);
    setNonBlocking(pair[0], false);
    const { data, fds } = recvFds(pair[0]);
    assert.equal(data.toString(), 'py');
    assert.equal(fds.length, 1);
    assert.equal(readSome(fds[0], 100), 'from python');
    closeQuietly(fds);
    assert.equal(openFdCount(), before);
  });

  it('Node skips SCM_CREDENTIALS and keeps the SCM_RIGHTS of the same recvmsg', async () => {
    await python('passcred', [pair[0], pair[1]]);
    setNonBlocking(pair[0], false);
    const { data, fds } = recvFds(pair[0]);
    assert.equal(data.toString(), 'creds');
    assert.equal(fds.length, 2, 'both fds, no credential numbers mistaken for fds');
    assert.equal(readSome(fds[0], 10), 'x');
    closeQuietly(fds);
  });
});
