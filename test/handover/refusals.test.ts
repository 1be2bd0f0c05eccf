// Who may take over, and who may hand over: the upgrade socket under attack
// (garbage, huge lengths, wrong token, wrong uid, an idle squatter), a
// successor that never comes, and an "old version" that lies to the new one
// (wrong uid, wrong kinds of fd, wrong counts). Old and new run in this
// process here, so fd counts are exact.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { closeFds, externalSuccessor, FdChannel, FdChannelServer, fdOf, socketpair, Upgrader } from 'fdlab';
import { PingPongApp } from '../../src/serve/ping-pong';
import { encode, type UpgradeMessage } from 'fdlab/wire';
import { openFdCount, tempDir, tempFile, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { collect } from '../helpers/process';
import { listeningOnAnyPort } from '../helpers/ports';

/** The old version's state dir, by the old version it belongs to. */
const stateDirs = new WeakMap<Upgrader<unknown>, string>();

async function startOld(lines: string[], extra: { timeoutMs?: number; expectedPeerUid?: number } = {}) {
  const stateDir = tempDir();
  const old = await Upgrader.start({ app: new PingPongApp(), port: 0, stateDir, startSuccessor: externalSuccessor, standbyMs: 300, log: (line) => lines.push(line), ...extra });
  stateDirs.set(old, stateDir);
  return old;
}

function stateDirOf(old: Upgrader<unknown>): string {
  return stateDirs.get(old)!;
}

/** A successor in this process: what `fdlab serve` does when fromEnvironment() names an upgrade socket. */
function startNew(socketPath: string, lines: string[], extra: { expectedPeerUid?: number; timeoutMs?: number } = {}) {
  return Upgrader.start({ app: new PingPongApp(), port: 0, stateDir: tempDir(), takeOver: { socket: socketPath }, log: (line) => lines.push(`new: ${line}`), ...extra });
}

const send = (channel: FdChannel, message: UpgradeMessage, fds: number[] = [], bytes?: Buffer) => channel.send({ data: encode(message, bytes), fds });

describe('hot-upgrade engine: who may take over', function () {
  this.timeout(30_000);

  it('times out on a successor that never comes, ignores a second upgrade meanwhile, and serves on', async () => {
    const lines: string[] = [];
    const old = await startOld(lines, { timeoutMs: 800 });
    const pinger = await Pinger.connect(old.port, 6);
    try {
      pinger.start();
      const first = old.upgrade();
      const second = await old.upgrade();
      assert.equal(second.outcome, 'ignored');
      const result = await first;
      assert.equal(result.outcome, 'rolled-back');
      assert.match((result as { reason: string }).reason, /the upgrade deadline passed/);
      assert.equal((result as { code: string }).code, 'ERR_UPGRADE_TIMEOUT');
      assert.deepEqual(fs.readdirSync(stateDirOf(old)), ['owner.lock'], 'no upgrade socket or token file left (owner.lock stays: state-dir-lock.ts)');
      const counts = await pinger.stop();
      assert.deepEqual([counts.disconnects, counts.pings - counts.pongs], [0, 0]);
      assert.ok(lines.some((l) => l.includes('SIGUSR2 ignored: not serving (upgrading)')), lines.join('\n'));
    } finally {
      pinger.close();
      await old.close();
    }
  });

  it('refuses garbage, a huge length, a wrong message and a wrong token, is not held up by an idle peer, then upgrades to the real successor', async () => {
    const lines: string[] = [];
    const old = await startOld(lines, { timeoutMs: 8000 });
    const socketPath = path.join(stateDirOf(old), 'upgrade.sock');
    const pinger = await Pinger.connect(old.port, 10);
    const peers: (net.Socket | FdChannel)[] = [];
    let successor: Upgrader<unknown> | undefined;
    try {
      pinger.start();
      const upgrading = old.upgrade();
      await until(3000, 'the upgrade socket', () => fs.existsSync(socketPath));
      assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);

      // An unprivileged process cannot even reach it (0700 dir, 0600 socket).
      const nobody = spawn('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).connect(${JSON.stringify(socketPath)})`], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
      const denied = await collect(nobody);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /PermissionError|Permission denied/);

      // Connects first and never says a word: it must not delay the real successor.
      const idle = await FdChannel.connect(socketPath);
      peers.push(idle);
      const junk = net.connect(socketPath).on('error', () => {});
      junk.write('GET / HTTP/1.1\r\n\r\n');
      const huge = net.connect(socketPath).on('error', () => {});
      huge.write(Buffer.from([0xfd, 0x1a, 1, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0])); // a frame header announcing 2 GiB
      peers.push(junk, huge);
      const wrongType = await FdChannel.connect(socketPath);
      const wrongToken = await FdChannel.connect(socketPath);
      peers.push(wrongType, wrongToken);
      await send(wrongType, { type: 'ack', pid: process.pid, connections: 0 });
      await send(wrongToken, { type: 'hello', pid: process.pid, version: 'evil', token: '0'.repeat(32) });
      await until(3000, () => `four refusals:\n${lines.join('\n')}`, () => lines.filter((l) => l.startsWith('refused a peer')).length >= 4);

      successor = await startNew(socketPath, lines);
      const result = await upgrading;
      assert.equal(result.outcome, 'upgraded', lines.join('\n'));
      assert.ok(!lines.some((l) => /refused a peer .*before this peer said hello/.test(l)), 'the upgrade finished while the idle peer was still waiting');
      assert.equal(successor.connections.size, 10);
      for (const pattern of [/garbled frame/, /exceeds maxMessageBytes|header length/, /it sent 'ack' instead of hello/, /its hello has the wrong token/]) {
        assert.ok(lines.some((l) => l.startsWith('refused a peer') && pattern.test(l)), `${pattern}\n${lines.join('\n')}`);
      }
      const counts = await pinger.stop();
      assert.deepEqual([counts.disconnects, counts.pings - counts.pongs, counts.garbage], [0, 0, 0]);
    } finally {
      pinger.close();
      for (const peer of peers) (peer instanceof FdChannel ? peer.close() : peer.destroy());
      await successor?.close();
      if (old.status !== 'handed-over') await old.close();
    }
  });

  it('refuses a successor running as another uid than expected, and serves on', async () => {
    const lines: string[] = [];
    const old = await startOld(lines, { timeoutMs: 1500, expectedPeerUid: 12345 });
    const pinger = await Pinger.connect(old.port, 3);
    let successor: Promise<unknown> | undefined;
    try {
      const upgrading = old.upgrade();
      const socketPath = path.join(stateDirOf(old), 'upgrade.sock');
      await until(3000, 'the upgrade socket', () => fs.existsSync(socketPath));
      successor = startNew(socketPath, []).catch((error: Error) => error);
      const result = await upgrading;
      assert.equal(result.outcome, 'rolled-back');
      assert.ok(lines.some((l) => new RegExp(`refused a peer .*uid ${process.getuid!()} is not the expected uid 12345`).test(l)), lines.join('\n'));
      const refused = (await successor) as Error & { code?: string };
      assert.ok(refused instanceof Error, 'the refused successor does not start');
      pinger.start();
      const counts = await pinger.stop();
      assert.deepEqual([counts.disconnects, counts.pings - counts.pongs], [0, 0]);
    } finally {
      pinger.close();
      await old.close();
    }
  });
});

describe('hot-upgrade engine: a new version that does not trust a lying old one', function () {
  this.timeout(30_000);

  /** A fake old version: the test plays its part on the upgrade socket. */
  async function fakeOld(play: (channel: FdChannel) => Promise<void>): Promise<Error & { code?: string }> {
    const dir = tempDir();
    const server = await FdChannelServer.listen(path.join(dir, 'upgrade.sock'), { mode: 0o600 });
    const before = openFdCount();
    try {
      const taking = startNew(path.join(dir, 'upgrade.sock'), [], { timeoutMs: 3000 }).then(
        () => assert.fail('the new version took over from a lying old one'),
        (error: Error) => error,
      );
      const channel = await server.accept();
      await channel.receive(); // the hello
      await play(channel).catch(() => {}); // the new side may hang up first
      const error = await taking;
      channel.close();
      await until(2000, () => `every fd the new side received is closed (${openFdCount()} open, ${before} before)`, () => openFdCount() <= before);
      return error;
    } finally {
      await server.close();
    }
  }

  it('refuses an old version running as another uid', async () => {
    const dir = tempDir();
    const server = await FdChannelServer.listen(path.join(dir, 'upgrade.sock'), { mode: 0o600 });
    try {
      await assert.rejects(startNew(path.join(dir, 'upgrade.sock'), [], { expectedPeerUid: 12345 }), { code: 'ERR_UPGRADE_UNTRUSTED', message: /runs as uid \d+, not 12345/ });
    } finally {
      await server.close();
    }
  });

  it('refuses a file where the listener should be, and closes it', async () => {
    const file = tempFile('not a socket');
    const error = await fakeOld((channel) => send(channel, { type: 'listener', remainingMs: 2000, connections: 1 }, [file.fd]));
    fs.closeSync(file.fd);
    assert.equal(error.code, 'ERR_FD_WRONG_KIND');
    assert.match(error.message, /the listener: fd \d+ is .*not a listening stream socket/);
  });

  it('refuses a listener and a datagram socket among the connections, and closes every fd of the batch', async () => {
    const { server: listener } = await listeningOnAnyPort();
    const datagram = socketpair('dgram');
    try {
      const error = await fakeOld(async (channel) => {
        await send(channel, { type: 'listener', remainingMs: 2000, connections: 1 }, [fdOf(listener)]);
        await send(channel, { type: 'copies', batch: 1, copies: [0, 1] }, [fdOf(listener), datagram[0]]);
      });
      assert.equal(error.code, 'ERR_FD_WRONG_KIND');
      assert.match(error.message, /copy 0: fd \d+ is a tcp stream socket \(listening\), not a connected stream socket/);
    } finally {
      listener.close();
      closeFds(datagram);
    }
  });

  it('refuses a switch that counts other detached connections than arrived, a message with fds it should not carry, and a switch naming a copy that never came', async () => {
    const { server: listener } = await listeningOnAnyPort();
    try {
      const miscount = await fakeOld(async (channel) => {
        await send(channel, { type: 'listener', remainingMs: 2000, connections: 5 }, [fdOf(listener)]);
        await send(channel, { type: 'switch', entries: [], dropped: [], detached: 3 });
      });
      assert.equal(miscount.code, 'ERR_UPGRADE_GARBLED');
      assert.match(miscount.message, /the switch counts 3 detached connections, 0 came/);
      const extraFd = await fakeOld(async (channel) => {
        await send(channel, { type: 'listener', remainingMs: 2000, connections: 0 }, [fdOf(listener), fdOf(listener)]);
      });
      assert.equal(extraFd.code, 'ERR_UPGRADE_GARBLED');
      assert.match(extraFd.message, /'listener' came with 2 fds, expected 1/);
      const unknownCopy = await fakeOld(async (channel) => {
        await send(channel, { type: 'listener', remainingMs: 2000, connections: 1 }, [fdOf(listener)]);
        await send(channel, { type: 'switch', entries: [{ copy: 7, session: {}, unread: 0 }], dropped: [], detached: 0 });
      });
      assert.equal(unknownCopy.code, 'ERR_UPGRADE_GARBLED');
      assert.match(unknownCopy.message, /the switch names copy 7, which never came/);
    } finally {
      listener.close();
    }
  });

  it('keeps one socket per connection when an old version detaches a copied connection without naming the copy', async () => {
    const dir = tempDir();
    const server = await FdChannelServer.listen(path.join(dir, 'upgrade.sock'), { mode: 0o600 });
    const { server: listener } = await listeningOnAnyPort();
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    const connection = await accepted;
    const inode = fs.fstatSync(fdOf(connection)).ino;
    const socketsOnIt = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    }).length;
    let successor: Upgrader<unknown> | undefined;
    try {
      const taking = startNew(path.join(dir, 'upgrade.sock'), [], { timeoutMs: 3000 });
      const channel = await server.accept();
      await channel.receive(); // hello
      await send(channel, { type: 'listener', remainingMs: 2000, connections: 1 }, [fdOf(listener)]);
      await send(channel, { type: 'copies', batch: 1, copies: [0] }, [fdOf(connection)]);
      await send(channel, { type: 'copies-end', copies: 1 });
      await channel.receive(); // ready
      // The same connection again, detached, without 'copy': the new side must find its copy by inode.
      const entry = { session: { id: 'c0ffee00', pingsServed: 0, connectedSince: new Date().toISOString() }, unread: 0, unsent: 0, peerEnded: false, writeEnd: 'open' as const };
      await send(channel, { type: 'connections', batch: 1, entries: [entry] }, [fdOf(connection)]);
      await send(channel, { type: 'switch', entries: [], dropped: [], detached: 1 });
      await channel.receive(); // ack
      await send(channel, { type: 'commit' });
      successor = await taking;
      assert.equal(successor.connections.size, 1);
      // Ours (the test's accepted socket) and the new version's one: its copy is gone already,
      // before any 'done' could tell it (an old version that died here would never send one).
      assert.equal(socketsOnIt(), 2, 'one socket of the new version on the connection, not two');
      await send(channel, { type: 'done', connections: 1, batches: 1 });
      channel.close();
    } finally {
      client.destroy();
      connection.destroy();
      listener.close();
      await successor?.close();
      await server.close();
    }
  });
});
