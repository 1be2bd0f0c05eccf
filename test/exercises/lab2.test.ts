// lab/lab2/README.md: each exercise and the "what breaks", done as a learner
// would (--pause in Docker, or the quoted edit on a copy of the lab) and
// checked against what the lab's page says happens.
import { strict as assert } from 'node:assert';
import { labImageOrSkip } from '../helpers/docker';
import { pauseCommands, pausePids, runPausedLab, sh } from '../helpers/paused-lab';
import { runLabForTest } from '../labs/harness';
import { patchedLab } from './patch';

const CLOSE = '  close(fd);\n';

describe('lab/lab2/README.md: exercises and what breaks', function () {
  this.timeout(90_000);

  it("lab 2 exercise 1: at the pause before step 4, ss in the pod's namespace shows the receiver owning the inode the client handed over; its own has none", async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const looks: { receiver: number; pod: string[]; own: string[] }[] = [];
    const run = await runPausedLab(['2', '--runtime', 'docker'], async (n, pause) => {
      if (n !== 3) return;
      const pids = pausePids(pause);
      const ssOf = async (role: string) => {
        const command = pauseCommands(pause).find((c) => c === `nsenter -t ${pids.get(role)} -n ss -atxnpe`);
        assert.ok(command, `the pause prints nsenter ... ss for ${role}:\n${pause}`);
        const ss = await sh(command);
        return ss.output.split('\n').filter((l) => /^tcp\s/.test(l));
      };
      looks.push({ receiver: pids.get('unix-socket-server')!, pod: await ssOf('tcp-server'), own: await ssOf('unix-socket-server') });
    });
    assert.equal(run.code, 0, run.text);
    assert.equal(looks.length, 1, run.text);
    const [{ receiver, pod, own }] = looks;
    const handedOver = /handed over \d+<TCP:\[127\.0\.0\.1:(\d+)->127\.0\.0\.1:9999\]> inode (\d+)/.exec(run.text);
    assert.ok(handedOver, run.text);
    const [, clientPort, inode] = handedOver;
    // In the pod's namespace, where the client created it: owned now by the receiver, same inode.
    const owned = pod.find((l) => new RegExp(`^tcp\\s+ESTAB\\s+\\d+\\s+\\d+\\s+127\\.0\\.0\\.1:${clientPort}\\s`).test(l));
    assert.ok(owned, `the connection from port ${clientPort} in:\n${pod.join('\n')}`);
    // ss names the thread: "node" on Node 20, "MainThread" on Node 24.
    assert.match(owned, new RegExp(`users:\\(\\("(?:node|MainThread)",pid=${receiver},fd=\\d+\\)\\) ino:${inode}\\b`));
    // The receiver's own namespace (--network none) has no TCP socket at all.
    assert.deepEqual(own, []);
  });

  it('lab 2 exercise 2: the client writes through its own fd after the handover, on the same connection', async () => {
    const edited = patchedLab(2, {
      'unix-socket-client.ts': [
        ["import * as net from 'node:net';", "import * as fs from 'node:fs';\nimport * as net from 'node:net';"],
        [CLOSE, `  await new Promise((r) => setTimeout(r, 500));\n  fs.writeSync(fd, 'the client still holds the socket');\n${CLOSE}`],
      ],
    });
    const run = (await runLabForTest(edited, 'process'))!;
    assert.equal(run.ok, true, JSON.stringify(run.checks, null, 1));
    const everything = run.check('the server saw every message on one connection').measured;
    assert.match(everything, /^7 messages from 127\.0\.0\.1:\d+ \(1 test message \+ 5 migrated\)$/);
    const server = (await sh(`cat ${run.capturesDir}/tcp-server.log`)).output.split('\n');
    const messages = server.filter((_, i) => server[i - 1]?.endsWith(' wrote:'));
    assert.deepEqual(messages.slice(0, 3), ['Test message from tcp client to python server!!!', 'the client still holds the socket', 'Migrate to new Process']);
  });

  it('lab 2 what breaks: the client ends the socket instead of closing its fd; the receiver\'s first write fails with EPIPE', async () => {
    const edited = patchedLab(2, {
      'unix-socket-client.ts': [
        ['import { close, describeFd', 'import { adoptSocket, close, describeFd'],
        [CLOSE, '  adoptSocket(fd).end();\n'],
      ],
    });
    const run = (await runLabForTest(edited, 'process'))!;
    assert.deepEqual(
      run.checks.filter((c) => c.status === 'fail').map((c) => c.name),
      [
        'the server saw every message on one connection',
        'the client had exited before the later messages',
        "fd tables from /proc: the client's TCP socket is now the receiver's (same inode)", // Node closed it at the peer's FIN
        'unix-socket-server finished writing',
      ],
    );
    assert.equal(run.check('the client had exited before the later messages').measured, 'client exit 0; 0 messages arrived after it exited');
    const every = run.check('the server saw every message on one connection');
    assert.equal(every.status, 'fail');
    assert.match(every.measured, /^1 messages from 127\.0\.0\.1:\d+ \(1 test message \+ 0 migrated\); the peer closed the connection after message 1$/);
    const writing = run.check('unix-socket-server finished writing');
    assert.equal(writing.status, 'fail');
    assert.match(writing.measured, /^exit 1; wrote 0 of 5, then a write failed: EPIPE /);
    assert.equal(run.check('strace shows the socket leaving the client and arriving in the receiver').status, 'pass', 'the socket did move');
  });
});
