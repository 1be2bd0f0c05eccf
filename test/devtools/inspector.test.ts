// A debugger attaches to a lab role from where the lab runner runs. In Docker
// the pod is --network none, so a run that asks for inspector ports puts the
// pod on a bridge network of its own and publishes them on 127.0.0.1; this
// test speaks the inspector protocol (what VS Code's "attach" does) to lab 1's
// sender through that port, breaks on the line that sends the fd, and reads
// the fd number on the paused frame.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import Docker from 'dockerode';
import { withRuntime } from '../../src/runtime/cleanup';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime';
import { Cdp, listTargets, type CallFrame } from '../helpers/cdp';
import { labImageOrSkip, leftovers } from '../helpers/docker';
import { freePort } from '../helpers/ports';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SENDER = 'dist/lab/lab1/sender.js';
const RECEIVER = 'dist/lab/lab1/receiver.js';
const SEND_CALL = "channel.send({ data: 'boy', fds: [fd] })";

/** 0-based line and column of the fd-sending statement in a compiled file. */
function findLine(file: string, needle: string): { line: number; column: number } {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((text) => text.includes(needle));
  assert.ok(line >= 0, `${needle} not found in ${file}`);
  return { line, column: lines[line].search(/\S/) };
}

async function networksLabelled(docker: Docker, label: string): Promise<string[]> {
  return (await docker.listNetworks({ filters: { label: [label] } })).map((n) => n.Name);
}

describe('debugging lab roles through the inspector', function () {
  this.timeout(120_000);

  it('maps the fd-sending line of lab 1 from the compiled sender back to lab/lab1/sender.ts', () => {
    const compiled = path.join(ROOT, SENDER);
    const { line, column } = findLine(compiled, SEND_CALL);
    const map = new SourceMap(JSON.parse(fs.readFileSync(`${compiled}.map`, 'utf8')) as SourceMapPayload);
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    assert.ok(entry.originalSource?.endsWith('lab/lab1/sender.ts'), `mapped to ${entry.originalSource}`);
    const source = fs.readFileSync(path.join(ROOT, 'lab/lab1/sender.ts'), 'utf8').split('\n');
    assert.ok(source[entry.originalLine!].includes(SEND_CALL), `sender.ts line ${entry.originalLine! + 1}: ${source[entry.originalLine!]}`);
  });

  describe('in Docker', () => {
    let image: string;
    const docker = new Docker();

    before(async function () {
      const tag = await labImageOrSkip();
      if (!tag) this.skip();
      image = tag;
    });

    it('keeps the pod at --network none without inspector ports, and refuses a port it did not publish', async () => {
      const runtime = new DockerRuntime({ lab: 'devtools', image, docker, echoLogs: false });
      await withRuntime(runtime, async (rt) => {
        const pod = await docker.getContainer(runtime.podName).inspect();
        assert.equal(pod.HostConfig.NetworkMode, 'none');
        assert.deepEqual(Object.keys(pod.NetworkSettings.Networks), ['none']);
        await assert.rejects(
          rt.startRole({ name: 'sender', script: SENDER, inspectPort: 9229 }),
          (error: Error & { code?: string }) => error.code === 'ERR_INSPECT_PORT_NOT_PUBLISHED' && /publishes none/.test(error.message),
        );
      });
      assert.equal(await leftovers(`fdlab.run=${runtime.run}`), 0);
    });

    it('says which inspector port is taken when another process holds it, and leaves nothing behind', async () => {
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const { port } = holder.address() as net.AddressInfo;
      const runtime = new DockerRuntime({ lab: 'devtools', image, docker, echoLogs: false, inspectPorts: [port] });
      try {
        await assert.rejects(
          withRuntime(runtime, async () => undefined),
          (error: Error & { code?: string }) => error.code === 'ERR_INSPECT_PORT_BUSY' && error.message.includes(`127.0.0.1:${port}`),
        );
      } finally {
        holder.close();
      }
      assert.equal(await leftovers(`fdlab.run=${runtime.run}`), 0);
      assert.deepEqual(await networksLabelled(docker, `fdlab.run=${runtime.run}`), []);
    });

    it('publishes the inspector on 127.0.0.1 and stops lab 1 sender on the line that sends the fd', async () => {
      const port = await freePort();
      const runtime = new DockerRuntime({ lab: 'devtools', image, docker, echoLogs: false, inspectPorts: [port] });
      const { line } = findLine(path.join(ROOT, SENDER), SEND_CALL);

      await withRuntime(runtime, async (rt) => {
        // The pod: a bridge network of the run's own with no way out, the port on loopback only.
        const pod = await docker.getContainer(runtime.podName).inspect();
        assert.equal(pod.HostConfig.NetworkMode, runtime.networkName);
        assert.deepEqual(pod.HostConfig.PortBindings, { [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
        const network = await docker.getNetwork(runtime.networkName).inspect();
        assert.equal(network.Options?.['com.docker.network.bridge.enable_ip_masquerade'], 'false');
        assert.equal(network.Labels?.['fdlab.run'], runtime.run);

        const receiver = await rt.startRole({ name: 'receiver', script: RECEIVER });
        await receiver.waitForLine('listening on');
        // FDLAB_INSPECT_BRK=1: --inspect-brk, so the sender waits for us before its first line.
        const sender = await rt.startRole({ name: 'sender', script: SENDER, inspectPort: port, env: { FDLAB_INSPECT_BRK: '1' } });
        await sender.waitForLine(new RegExp(`^Debugger listening on ws://0\\.0\\.0\\.0:${port}/`), 30_000);

        const [target] = await listTargets(port);
        assert.equal(target.url, `file:///opt/fdlab/${SENDER}`);
        assert.match(target.webSocketDebuggerUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/`));
        const cdp = await Cdp.connect(target.webSocketDebuggerUrl);
        try {
          await cdp.send('Runtime.enable');
          await cdp.send('Debugger.enable');
          const { breakpointId } = await cdp.send<{ breakpointId: string }>('Debugger.setBreakpointByUrl', {
            urlRegex: 'lab1/sender\\.js$',
            lineNumber: line,
          });
          await cdp.send('Runtime.runIfWaitingForDebugger');

          // --inspect-brk stops on the script's first statement ("Break on start"): go on to ours.
          let paused = await cdp.next('Debugger.paused');
          while (!(paused.hitBreakpoints as string[] | undefined)?.includes(breakpointId)) {
            await cdp.send('Debugger.resume');
            paused = await cdp.next('Debugger.paused');
          }
          const [frame] = paused.callFrames as CallFrame[];
          assert.equal(frame.location.lineNumber, line, 'paused on the channel.send line');
          assert.equal(cdp.scripts.get(frame.location.scriptId), `file:///opt/fdlab/${SENDER}`);

          // What the watch window shows: the fd about to travel, as the role itself printed it.
          const { result } = await cdp.send<{ result: { type: string; value: number } }>('Debugger.evaluateOnCallFrame', {
            callFrameId: frame.callFrameId,
            expression: 'fd',
          });
          assert.equal(result.type, 'number');
          const opened = sender.lines.find((l) => l.startsWith('opened '));
          assert.match(opened ?? '', new RegExp(` as fd ${result.value}: `));
          assert.ok(!receiver.lines.some((l) => l.startsWith('received fd')), 'nothing is sent while the sender is paused');

          await cdp.send('Debugger.resume');
          assert.match(await sender.waitForLine(/^sent fd /, 20_000), new RegExp(`^sent fd ${result.value} inode \\d+`));
          // Started without FDLAB_HOLD_STILL, the receiver goes straight on (no SIGUSR2 to wait
          // for: one sent now would race its exit, killing it or finding it gone).
          await receiver.waitForLine(/^received fd \d+ inode \d+/, 20_000);
        } finally {
          // A node that had a debugger waits for it to disconnect before exiting.
          await cdp.close();
        }
        assert.equal((await sender.wait(20_000)).exitCode, 0);
        assert.equal((await receiver.wait(20_000)).exitCode, 0);
      });
      assert.equal(await leftovers(`fdlab.run=${runtime.run}`), 0);
      assert.deepEqual(await networksLabelled(docker, `fdlab.run=${runtime.run}`), []);
    });
  });

  it('as a process, listens on 127.0.0.1 only', async () => {
    const port = await freePort();
    const runtime = new ProcessRuntime({ lab: 'devtools', echoLogs: false, network: 'host' }); // the test reaches its inspector from here
    await withRuntime(runtime, async (rt) => {
      const role = await rt.startRole({ name: 'sender', script: SENDER, inspectPort: port, env: { FDLAB_INSPECT_BRK: '1' } });
      assert.match(await role.waitForLine(/^Debugger listening on /, 20_000), new RegExp(`^Debugger listening on ws://127\\.0\\.0\\.1:${port}/`));
      const [target] = await listTargets(port);
      assert.equal(target.url, `file://${path.join(ROOT, SENDER)}`);
    });
  });
});
