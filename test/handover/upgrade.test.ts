// The hot-upgrade engine's failure paths, with real sockets and processes:
// whatever goes wrong before the new version acknowledges, the old one keeps
// every connection and goes on serving.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { FdChannel } from '../../src';
import { externalSuccessor, PingPongApp, Upgrader, UPGRADE_SOCKET_ENV } from '../../src/handover';
import { tempDir, within } from '../helpers/fds';
import { collect } from '../helpers/process';
import { startServe, stopServing, waitForPidFile } from '../helpers/serve';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A pinging client over several connections that counts pongs and hang-ups. */
class Pinger {
  readonly sockets: net.Socket[] = [];
  pings = 0;
  pongs = 0;
  /** Connections the server side closed (ours are not counted). */
  disconnects = 0;
  private stopping = false;
  private timer?: NodeJS.Timeout;

  constructor(port: number, count: number) {
    for (let i = 0; i < count; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('data', (d) => (this.pongs += d.length / 4));
      socket.on('close', () => {
        if (!this.stopping) this.disconnects += 1;
      });
      socket.on('error', () => {});
      this.sockets.push(socket);
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const socket of this.sockets) {
        socket.write('pi');
        socket.write('ng');
        this.pings += 1;
      }
    }, 20);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await within(5000, 'all pongs', (async () => { while (this.pongs < this.pings) await sleep(10); })());
    this.stopping = true;
    for (const socket of this.sockets) socket.destroy();
  }
}

function inProcessOld(port: number, stateDir: string, lines: string[], extra: { timeoutMs?: number; expectedPeerUid?: number } = {}) {
  return Upgrader.start({
    app: new PingPongApp(),
    port,
    stateDir,
    startSuccessor: externalSuccessor,
    log: (line) => lines.push(line),
    ...extra,
  });
}

describe('hot-upgrade engine: rollback and refusals', function () {
  this.timeout(30_000);

  it('rolls back when the new version crashes mid-handover: no connection lost', async () => {
    const dir = tempDir();
    const serve = startServe(7022, dir, ['--fault', 'crash-new']);
    const pid = await waitForPidFile(serve.pidFile);
    const pinger = new Pinger(7022, 20);
    try {
      await sleep(200);
      pinger.start();
      await sleep(300);
      process.kill(pid, 'SIGUSR2');
      await within(10_000, 'rollback', (async () => { while (!serve.log().includes('rolled back')) await sleep(20); })());
      await sleep(300);
      await pinger.stop();
      assert.match(serve.log(), /fault injection \(crash-new\)/);
      assert.match(serve.log(), /upgrade failed: the successor hung up before acknowledging/);
      assert.match(serve.log(), /rolled back: serving 20 connections again/);
      assert.equal(pinger.disconnects, 0);
      assert.equal(pinger.pongs, pinger.pings);
      assert.equal(Number(fs.readFileSync(serve.pidFile, 'utf8')), pid, 'the old version still serves');
    } finally {
      stopServing(serve.pidFile);
    }
  });

  it('ignores a second SIGUSR2 during an upgrade, and times out on a successor that never comes', async () => {
    const lines: string[] = [];
    const old = await inProcessOld(7023, tempDir(), lines, { timeoutMs: 800 });
    const pinger = new Pinger(7023, 5);
    try {
      await sleep(100);
      pinger.start();
      const first = old.upgrade();
      const second = await old.upgrade();
      assert.equal(second.outcome, 'ignored');
      const result = await first;
      assert.equal(result.outcome, 'rolled-back');
      assert.match((result as { reason: string }).reason, /no successor connected within the upgrade deadline/);
      await sleep(100);
      await pinger.stop();
      assert.equal(pinger.pongs, pinger.pings);
      assert.ok(lines.some((l) => l.includes('SIGUSR2 ignored: an upgrade is already in progress')));
    } finally {
      await old.close();
    }
  });

  it('refuses a peer with the wrong uid, garbage and oversized frames, then upgrades to the real successor', async () => {
    const lines: string[] = [];
    const stateDir = tempDir();
    const old = await inProcessOld(7024, stateDir, lines, { timeoutMs: 8000, expectedPeerUid: process.getuid!() });
    const socketPath = path.join(stateDir, 'upgrade.sock');
    const pinger = new Pinger(7024, 10);
    let successor: Upgrader<unknown> | undefined;
    try {
      await sleep(100);
      pinger.start();
      const upgrading = old.upgrade();
      await within(3000, 'upgrade socket', (async () => { while (!fs.existsSync(socketPath)) await sleep(10); })());
      assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);

      // An unprivileged process cannot even reach it (0700 dir, 0600 socket).
      const nobody = spawn('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).connect(${JSON.stringify(socketPath)})`], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
      const refused = await collect(nobody);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /PermissionError|Permission denied/);

      // Garbage: not FdChannel frames at all.
      const junk = net.connect(socketPath);
      junk.on('error', () => {});
      junk.write('GET / HTTP/1.1\r\n\r\n');
      // Oversized: a valid header announcing 64 MiB.
      const big = net.connect(socketPath);
      big.on('error', () => {});
      big.write(Buffer.from([0xfd, 0x1a, 1, 0, 0, 0, 0x04, 0, 0, 0]));
      // A well-framed message that is not 'ready'.
      const wrong = await FdChannel.connect(socketPath);
      await wrong.send({ data: JSON.stringify({ type: 'ack', pid: 1 }) });
      await within(3000, 'three refusals', (async () => { while (lines.filter((l) => l.startsWith('refused')).length < 3) await sleep(20); })());
      assert.ok(lines.some((l) => /refused a connection .*garbled frame/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /refused a connection .*exceeds maxMessageBytes/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /refused a connection .*expected 'ready', got 'ack'/.test(l)), lines.join('\n'));
      junk.destroy();
      big.destroy();
      wrong.close();

      // The real successor still gets everything.
      process.env[UPGRADE_SOCKET_ENV] = socketPath;
      successor = await Upgrader.start({ app: new PingPongApp(), port: 7024, stateDir: tempDir(), log: () => {} });
      const result = await upgrading;
      assert.equal(result.outcome, 'upgraded');
      assert.equal(successor.connections.size, 10);
      await sleep(200);
      await pinger.stop();
      assert.equal(pinger.pongs, pinger.pings);
      assert.equal(pinger.disconnects, 0);
    } finally {
      delete process.env[UPGRADE_SOCKET_ENV];
      await successor?.close();
      if (old.status !== 'handed-over') await old.close();
    }
  });

  it('refuses a successor running as another uid', async () => {
    const lines: string[] = [];
    const old = await inProcessOld(7025, tempDir(), lines, { timeoutMs: 1500, expectedPeerUid: 12345 });
    try {
      const upgrading = old.upgrade();
      const socketPath = path.join((old as unknown as { options: { stateDir: string } }).options.stateDir, 'upgrade.sock');
      await within(3000, 'upgrade socket', (async () => { while (!fs.existsSync(socketPath)) await sleep(10); })());
      const impostor = await FdChannel.connect(socketPath);
      await impostor.send({ data: JSON.stringify({ type: 'ready', pid: process.pid, version: 'evil' }) }).catch(() => {}); // it may be shut out first
      const result = await upgrading;
      assert.equal(result.outcome, 'rolled-back');
      assert.ok(lines.some((l) => new RegExp(`refused a connection .* uid ${process.getuid!()}: expected uid 12345`).test(l)), lines.join('\n'));
      impostor.close();
      const probe = net.connect(7025, '127.0.0.1');
      probe.write('ping');
      const pong = await within(2000, 'pong after refusal', new Promise<string>((resolve) => probe.once('data', (d) => resolve(d.toString()))));
      assert.equal(pong, 'pong');
      probe.destroy();
    } finally {
      await old.close();
    }
  });
});
