// Both runtimes, one suite: roles pass a file fd and a live TCP connection,
// logs and signals work, strace captures SCM_RIGHTS, and nothing is left over.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withRuntime } from '../../src/runtime/cleanup';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime';
import type { LabRuntime, RoleSpec } from '../../src/runtime/types';
import { tempDir } from '../helpers/fds';
import { labImageOrSkip, leftovers } from '../helpers/docker';
import { compiledPath } from '../../src/project';

/** The compiled test roles (dist/test/fixtures/roles), in the lab image too. */
const ROLES = compiledPath('test/fixtures/roles');
const TRACE = { syscalls: ['sendmsg', 'recvmsg', 'connect'] };

const role = (name: string, script: string, extra: Partial<RoleSpec> = {}): RoleSpec => ({
  name,
  script: path.join(ROLES, `${script}.js`),
  ...extra,
});

type Make = () => Promise<LabRuntime | null>;

/** Running: there, and not a zombie (one killed with its group waits for init to reap it). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

const runtimes: Array<[string, Make]> = [
  ['process', async () => new ProcessRuntime({ lab: 'test', echoLogs: false })],
  [
    'docker',
    async () => {
      const image = await labImageOrSkip();
      return image ? new DockerRuntime({ lab: 'test', image, echoLogs: false }) : null;
    },
  ],
];

for (const [kind, make] of runtimes) {
  describe(`${kind} runtime`, function () {
    this.timeout(60_000);
    let runtime: LabRuntime;

    beforeEach(async function () {
      const made = await make();
      if (!made) this.skip();
      runtime = made;
    });

    it('passes a file fd from one role to another, traced, and delivers a signal', async () => {
      const captures = tempDir();
      await withRuntime(runtime, async (rt) => {
        const receiver = await rt.startRole(role('receiver', 'fd-receiver', { strace: TRACE }));
        await receiver.waitForLine('interfaces:');
        // exec runs beside the role: in its container, or on this machine.
        const listing = await receiver.exec(['ls', '-l', rt.sharedDir]);
        assert.equal(listing.exitCode, 0, listing.output);
        assert.match(listing.output, /^s.* runtime-test\.sock$/m, 'the receiver\'s Unix socket is on the shared volume');
        assert.notEqual((await receiver.exec(['ls', '/no/such/dir'])).exitCode, 0);
        const sender = await rt.startRole(role('sender', 'file-sender', { strace: TRACE }));
        assert.equal(await receiver.waitForLine(/^read: /), 'read: hello world');
        assert.equal((await sender.wait(10_000)).exitCode, 0);
        await receiver.waitForLine('waiting for SIGUSR2');
        await receiver.signal('SIGUSR2');
        assert.equal((await receiver.wait(10_000)).exitCode, 0);
        assert.ok(receiver.lines.includes('got SIGUSR2'), 'the signal went through strace to node');
        const files = await rt.collectCaptures(captures);
        assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['receiver.strace', 'sender.strace']);
        const sent = fs.readFileSync(path.join(captures, 'sender.strace'), 'utf8');
        const received = fs.readFileSync(path.join(captures, 'receiver.strace'), 'utf8');
        assert.match(sent, /sendmsg\(.*SCM_RIGHTS.*private\.txt/);
        assert.match(received, /recvmsg\(.*SCM_RIGHTS.*private\.txt/);
      });
    });

    it('moves a live TCP connection into a role whose network is none', async () => {
      await withRuntime(runtime, async (rt) => {
        // Port 0: in the process runtime the pod's loopback is this machine's, shared with everything else.
        const server = await rt.startRole(role('tcp-server', 'tcp-echo-server', { args: ['0'] }));
        const port = /^listening on 127\.0\.0\.1:(\d+)$/.exec(await server.waitForLine('listening'))![1];
        const receiver = await rt.startRole(role('isolated', 'fd-receiver', { network: 'none' }));
        const interfaces = await receiver.waitForLine('interfaces:');
        if (rt.kind === 'docker') assert.equal(interfaces, 'interfaces: lo', 'a --network none container has only lo');
        const client = await rt.startRole(role('client', 'tcp-handover-client', { args: [port] }));
        const first = await server.waitForLine('wrote: before handover');
        assert.equal((await client.wait(10_000)).exitCode, 0);
        const second = await server.waitForLine('wrote: after handover');
        assert.equal(first.split(' ')[0], second.split(' ')[0], 'same peer address and port: one connection');
        await receiver.signal('SIGUSR2');
        await receiver.wait(10_000);
      });
    });

    it('runs a role with host: true as a process on this machine, in the pod\'s network, and ends it at cleanup', async () => {
      let lingering = 0;
      await withRuntime(runtime, async (rt) => {
        const server = await rt.startRole(role('tcp-server', 'tcp-echo-server', { args: ['0'] }));
        const port = /^listening on 127\.0\.0\.1:(\d+)$/.exec(await server.waitForLine('listening'))![1];
        const probe = await rt.startRole(role('probe', 'tcp-probe', { args: [port], host: true }));
        const said = await probe.waitForLine(/^(connected|cannot connect)/);
        assert.equal((await probe.wait(10_000)).exitCode, 0, said);
        // The server's own network namespace, read from this machine: the probe ran in it.
        const serverNetns = fs.readlinkSync(`/proc/${(await server.hostPid())!}/ns/net`);
        assert.equal(said.split('; netns ')[1], serverNetns);
        assert.match(await server.waitForLine(/wrote: hello from the probe/), new RegExp(`^127\\.0\\.0\\.1:${said.split(':')[1].split(';')[0]} wrote`), 'the server saw the probe\'s connection');
        assert.match(probe.id, /^\d+$/, 'a process (its runner\'s pid), not a container');
        if (rt.kind === 'docker') {
          await assert.rejects(rt.startRole(role('traced', 'tcp-probe', { args: [port], host: true, strace: TRACE })), /cannot be traced in the pod/);
        }
        // One that does not exit by itself: cleanup must end it.
        const stays = await rt.startRole(role('stays', 'tcp-echo-server', { args: ['0'], host: true }));
        await stays.waitForLine('listening');
        lingering = (await stays.hostPid())!;
        assert.ok(lingering > 0 && running(lingering));
      });
      assert.ok(!running(lingering), 'the host role that stayed is gone after cleanup (or a zombie until init reaps it)');
    });

    it('leaves nothing behind after a failing lab body', async () => {
      await assert.rejects(
        withRuntime(runtime, async (rt) => {
          await rt.startRole(role('server', 'tcp-echo-server', { args: ['0'] }));
          throw new Error('the lab failed');
        }),
        /the lab failed/,
      );
      if (runtime instanceof DockerRuntime) assert.equal(await leftovers(`fdlab.run=${runtime.run}`), 0);
      else assert.equal(fs.existsSync(runtime.sharedDir), false);
    });
  });
}
