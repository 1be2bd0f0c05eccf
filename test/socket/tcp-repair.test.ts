// dumpTcp/restoreTcp on a real connection between real processes, in a network
// namespace the test makes (so its firewall rules touch nothing else): the
// client's bytes wait unread in the server's receive queue, the server's wait
// unsent and unacknowledged in its send queue, process A dumps and closes (no
// FIN, no RST), process B rebuilds it in a fresh socket, and both directions go
// on with every line in order. And what breaks without holding the client's
// packets: its next segment meets no socket, and the kernel answers RST.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { NetworkNamespace } from '../../src/runtime/process/netns';
import { dumpTcp, fdOf } from 'fdlab';
import { openFdCount, tempDir, until, within } from '../helpers/fds';

const PARTY = path.join(__dirname, '..', 'fixtures', 'tcp-repair-party.js');

/** Polls `probe` (an async question to a process) until it returns a value. */
async function eventually<T>(ms: number, what: string, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type Reply = Record<string, unknown> & { failed?: string };

/** A fixture process in the namespace: one command, one JSON reply. */
class Party {
  private readonly replies: Reply[] = [];
  private readonly waiting: ((reply: Reply) => void)[] = [];
  stderr = '';

  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (text) => {
      const reply = JSON.parse(text) as Reply;
      const next = this.waiting.shift();
      if (next) next(reply);
      else this.replies.push(reply);
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** The next reply (one the process volunteered, or the answer to the last command). */
  next(what: string): Promise<Reply> {
    const ready = this.replies.shift();
    const reply = ready ? Promise.resolve(ready) : new Promise<Reply>((resolve) => this.waiting.push(resolve));
    return within(10_000, `${what} (stderr: ${this.stderr})`, reply).then((r) => {
      assert.equal(r.failed, undefined, `${what}: ${r.failed} [${String(r.code)}]`);
      return r;
    });
  }

  ask(command: string): Promise<Reply> {
    this.child.stdin!.write(`${command}\n`);
    return this.next(command);
  }

  /** The reply as it is, a failure included. */
  askRaw(command: string): Promise<Reply> {
    this.child.stdin!.write(`${command}\n`);
    const ready = this.replies.shift();
    return within(10_000, command, ready ? Promise.resolve(ready) : new Promise<Reply>((resolve) => this.waiting.push(resolve)));
  }
}

describe('socket: dumpTcp/restoreTcp (TCP_REPAIR) between processes', function () {
  this.timeout(30_000);
  let ns: NetworkNamespace | undefined;
  const parties: Party[] = [];
  let dir: string;

  before(async function () {
    try {
      ns = await NetworkNamespace.create();
    } catch {
      // unshare --net needs root; without it there is no namespace to put firewall rules in.
      this.skip();
    }
  });
  after(async () => ns?.close());
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    for (const party of parties.splice(0)) {
      if (party.child.exitCode === null && party.child.signalCode === null) {
        party.child.kill('SIGKILL');
        await new Promise((resolve) => party.child.once('exit', resolve));
      }
    }
    if (ns) inNs('nft', 'delete', 'table', 'inet', 'fdlab_hold'); // absent already when the test got that far
  });

  /** Runs a command inside the namespace. */
  function inNs(...command: string[]): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(ns!.enter()[0], [...ns!.enter().slice(1), ...command], { encoding: 'utf8' });
  }

  function start(...args: string[]): Party {
    return startAs([], ...args);
  }

  /** `prefix` runs before node inside the namespace (setpriv, to drop a capability). */
  function startAs(prefix: string[], ...args: string[]): Party {
    const [command, ...rest] = ns!.enter();
    const party = new Party(spawn(command, [...rest, ...prefix, process.execPath, PARTY, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
    parties.push(party);
    return party;
  }

  /** The namespace's TCP counter of RSTs sent (/proc/net/snmp, per network namespace). */
  function outRsts(): number {
    const lines = inNs('cat', '/proc/net/snmp').stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
    const [names, values] = lines.map((l) => l.split(/\s+/));
    return Number(values[names.indexOf('OutRsts')]);
  }

  /** Drops what the client sends to the server's port (data and ACKs): CRIU's way of holding the peer. */
  function hold(port: number): void {
    const rules = `table inet fdlab_hold {\n chain input {\n  type filter hook input priority 0;\n  tcp dport ${port} drop\n }\n}\n`;
    const result = spawnSync(ns!.enter()[0], [...ns!.enter().slice(1), 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
    assert.equal(result.status, 0, `nft: ${result.stderr}`);
  }

  function release(): void {
    const result = inNs('nft', 'delete', 'table', 'inet', 'fdlab_hold');
    assert.equal(result.status, 0, `nft: ${result.stderr}`);
  }

  /** ss's line for the connection from the client's port, or '' when no socket has that 4-tuple. */
  function ssLine(clientPort: number, serverPort: number): string[] {
    return inNs('ss', '-tanH', `( sport = :${clientPort} or dport = :${clientPort} ) and ( sport = :${serverPort} or dport = :${serverPort} )`)
      .stdout.trim().split('\n').filter(Boolean);
  }

  async function connected(prefix: string[] = []): Promise<{ a: Party; client: Party; port: number; clientPort: number; inode: number }> {
    const portFile = path.join(dir, 'port');
    const a = startAs(prefix, 'server', portFile);
    await until(10_000, 'server A listens', () => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8') !== '');
    const port = Number(fs.readFileSync(portFile, 'utf8'));
    const client = start('client', String(port));
    const hello = await client.next('client connects');
    const clientPort = (hello.local as { port: number }).port;
    const at = await a.ask('where');
    return { a, client, port, clientPort, inode: at.inode as number };
  }

  it('moves a connection with bytes in both queues to a fresh socket in another process: no FIN, no RST, 0 lost', async function () {
    const { a, client, port, clientPort, inode } = await connected();
    const rstsBefore = outRsts();
    await client.ask('write 50'); // → A's receive queue, unread (A never reads)
    const inA = new RegExp(`^ESTAB\\s+500\\s+\\d+\\s+127\\.0\\.0\\.1:${port}\\s`);
    await until(5_000, 'the 50 lines wait unread in A', () => ssLine(clientPort, port).some((l) => inA.test(l)));

    // Hold: from now on the client's segments (its lines, its ACKs) are dropped before any socket sees them.
    hold(port);
    // 200,000 lines (2 MB) while the client's ACKs are dropped: a congestion window's worth goes out
    // and stays unacknowledged, the rest stays unsent.
    await a.ask('write 200000');
    await client.ask('write 30'); // the client keeps talking: held
    const dumped = await a.ask(`dump ${path.join(dir, 'state.json')}`);
    assert.equal(dumped.recvQueue, 500, 'the 50 unread lines were in the dump');
    assert.match(dumped.unread as string, /^c-0000000\nc-0000001\n/);
    const sentNotAcked = (dumped.sendQueue as number) - (dumped.unsent as number);
    assert.ok(sentNotAcked > 0 && (dumped.unsent as number) > 0, `send queue ${String(dumped.sendQueue)} bytes, ${String(dumped.unsent)} unsent: both kinds present`);

    // A's socket is gone, silently: the client still sees ESTABLISHED and got no FIN or RST.
    await until(5_000, "A's socket gone", () => ssLine(clientPort, port).length === 1);
    assert.match(ssLine(clientPort, port)[0], /^ESTAB/);
    await client.ask('write 20'); // talking into the gap: still held, not answered with a RST
    assert.equal(outRsts(), rstsBefore, 'no RST sent by anyone');
    const quiet = await client.ask('stats');
    assert.equal(quiet.error, null);
    assert.equal(quiet.ended, false, 'no FIN reached the client');

    const b = start('restore', path.join(dir, 'state.json'));
    const restored = await b.next('B restores');
    assert.notEqual(restored.inode, inode, 'a fresh socket (another inode)');
    assert.deepEqual([restored.local, restored.remote], [{ address: '127.0.0.1', port }, { address: '127.0.0.1', port: clientPort }], 'the same 4-tuple');
    release();

    await client.ask('read');
    await b.ask('write 100');
    await client.ask('write 10');
    const [c, s] = await eventually(10_000, 'every line arrives both ways', async () => {
      const stats = [await client.ask('stats'), await b.ask('stats')];
      return stats[0].received === 200_100 && stats[1].received === 110 ? stats : null;
    });
    assert.deepEqual([c.garbage, c.error, c.ended, s.garbage, s.error, s.ended], [0, null, false, 0, null, false]);
    assert.equal(outRsts(), rstsBefore, 'no RST sent by anyone, ever');
    const lines = ssLine(clientPort, port);
    assert.equal(lines.length, 2, `the client's socket and B's: ${lines.join(' / ')}`);
    assert.ok(lines.every((l) => l.startsWith('ESTAB')));
  });

  it("what breaks: without holding the client's packets, its next segment after the dump gets a RST", async function () {
    const { a, client, port, clientPort } = await connected();
    const rstsBefore = outRsts();
    await client.ask('write 5');
    await a.ask(`dump ${path.join(dir, 'state.json')}`); // dumped and closed: nothing held
    await until(5_000, "A's socket gone", () => ssLine(clientPort, port).length === 1);
    assert.equal(outRsts(), rstsBefore, 'closing in repair mode sent nothing');
    await client.ask('read'); // a reading socket learns of the RST at once
    await client.ask('write 1'); // meets A's listener, not a connection: the kernel answers RST
    const broken = await eventually(5_000, 'the client sees the reset', async () => {
      const stats = await client.ask('stats');
      return stats.error !== null ? stats : null;
    });
    assert.equal(broken.error, 'ECONNRESET');
    assert.equal(outRsts(), rstsBefore + 1, 'one RST, from the kernel');
    assert.equal(ssLine(clientPort, port).length, 0, 'the connection is gone on both sides: nothing left to restore into');
  });

  it('without CAP_NET_ADMIN: ERR_TCP_REPAIR_PERMISSION says which capability and how, and the connection goes on', async function () {
    const { a, client } = await connected(['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--']);
    const refused = await a.askRaw(`dump ${path.join(dir, 'state.json')}`);
    assert.equal(refused.code, 'ERR_TCP_REPAIR_PERMISSION');
    assert.match(refused.failed!, /CAP_NET_ADMIN.*root.*unshare -Urn.*--cap-add NET_ADMIN/);
    await a.ask('write 3');
    await client.ask('read');
    await eventually(5_000, 'the client reads on', async () => ((await client.ask('stats')).received === 3 ? true : null));
  });

  it('segments arriving all through the dump: ERR_TCP_REPAIR_MOVING says to hold the peer first; the socket leaves repair mode and goes on, no fd leaked', async function () {
    // strace makes every ioctl() of A's take 20 ms longer: a dumper descheduled in mid-dump, made
    // certain. The client writes a line every 2 ms, so each of the 16 reads of the queues sees the
    // receive queue grow between its SIOCINQ and its peek (without the delay a flood of 100-byte
    // writes reached this error in 4 of 5 runs, after 0.5-2.9 s: a race, not a test).
    const slow = ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=ioctl', '-e', 'inject=ioctl:delay_exit=20000', '--'];
    const { a, client, port, clientPort } = await connected(slow);
    const rstsBefore = outRsts();
    const fdsBefore = (await a.ask('fds')).fds;
    await client.ask('trickle 2');
    const file = path.join(dir, 'state.json');
    const refused = await a.askRaw(`dump ${file}`);
    await client.ask('still');
    assert.equal(refused.code, 'ERR_TCP_REPAIR_MOVING', JSON.stringify(refused));
    assert.match(refused.failed!, /queues kept changing during 16 reads: keep the peer's packets away \(a firewall drop rule\) before dumping/);
    assert.equal(fs.existsSync(file), false, 'no state written');
    assert.equal((await a.ask('fds')).fds, fdsBefore, 'no fd leaked');
    // Out of repair mode: what A writes now goes out (in repair mode it would wait silently in the queue).
    await a.ask('write 3');
    await client.ask('read');
    const seen = await eventually(5_000, 'the client reads A\'s 3 lines', async () => {
      const stats = await client.ask('stats');
      return stats.received === 3 ? stats : null;
    });
    assert.deepEqual([seen.garbage, seen.error, seen.ended], [0, null, false]);
    assert.equal(outRsts(), rstsBefore, 'no RST');
    assert.ok(ssLine(clientPort, port).every((l) => l.startsWith('ESTAB')));
  });
});

describe('socket: dumpTcp refuses what is not an established TCP connection (ERR_TCP_REPAIR_STATE)', function () {
  this.timeout(10_000);
  // These refusals come before TCP_REPAIR is asked for: no capability, no namespace needed.
  const STATE_HINT = /only an established connection can be dumped \(the socket is left as it was\); move a listener or an unconnected socket with fd passing \(sendFds\), and let a closing connection finish/;

  function refusal(fd: number): NodeJS.ErrnoException {
    try {
      dumpTcp(fd);
    } catch (error) {
      return error as NodeJS.ErrnoException;
    }
    assert.fail(`dumpTcp(${fd}) returned a state`);
  }

  it('a listener and a connection whose peer has closed: the state named, what to do, the socket goes on, no fd leaked', async function () {
    const fdsBefore = openFdCount();
    const server = net.createServer({ allowHalfOpen: true }); // the server's side stays open after the client's FIN
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;

    const listening = refusal(fdOf(server));
    assert.equal(listening.code, 'ERR_TCP_REPAIR_STATE');
    assert.match(listening.message, new RegExp(`^dumpTcp: fd ${fdOf(server)} is a TCP socket in state LISTEN, not ESTABLISHED: `));
    assert.match(listening.message, STATE_HINT);

    // The listener was left as it was: it accepts.
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    const [peer] = await accepted;
    await once(client, 'connect');

    // The client half-closes (FIN): the server's side is CLOSE_WAIT, the client's FIN_WAIT1 or 2 (its FIN acknowledged or not yet).
    client.end();
    peer.resume(); // 'end' comes once the stream flows
    await once(peer, 'end');
    const closing = refusal(fdOf(peer));
    assert.equal(closing.code, 'ERR_TCP_REPAIR_STATE');
    assert.match(closing.message, /is a TCP socket in state CLOSE_WAIT, not ESTABLISHED: /);
    const finWait = refusal(fdOf(client));
    assert.match(finWait.message, /in state FIN_WAIT[12], not ESTABLISHED: .*let a closing connection finish/);

    // Left as it was: the server's side can still answer and close normally.
    const answer = once(client, 'data') as Promise<[Buffer]>;
    const closed = Promise.all([once(client, 'close'), once(peer, 'close')]);
    peer.end('bye\n');
    assert.equal((await answer)[0].toString(), 'bye\n');
    await closed;
    await new Promise((resolve) => server.close(resolve));
    assert.equal(openFdCount(), fdsBefore, 'no fd leaked');
  });

  it('a Unix socket and a file: "not a TCP socket", what to do, no fd leaked', async function () {
    const fdsBefore = openFdCount();
    const file = path.join(tempDir(), 'plain');
    fs.writeFileSync(file, 'x');
    const fileFd = fs.openSync(file, 'r');
    const notSocket = refusal(fileFd);
    assert.equal(notSocket.code, 'ERR_TCP_REPAIR_STATE');
    assert.match(notSocket.message, new RegExp(`^dumpTcp: fd ${fileFd} is not a TCP socket: `));
    assert.match(notSocket.message, STATE_HINT);
    fs.closeSync(fileFd);

    const unixPath = path.join(tempDir(), 'unix.sock');
    const server = net.createServer();
    server.listen(unixPath);
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(unixPath);
    const [peer] = await accepted;
    const unix = refusal(fdOf(peer));
    assert.equal(unix.code, 'ERR_TCP_REPAIR_STATE');
    assert.match(unix.message, /is not a TCP socket: only an established connection can be dumped/);
    client.destroy();
    peer.destroy();
    await new Promise((resolve) => server.close(resolve));
    assert.equal(openFdCount(), fdsBefore, 'no fd leaked');
  });

  it('urgent data (MSG_OOB) pending: refused, because the dump would stop at its mark; the socket left as it was, no fd leaked', async function () {
    const fdsBefore = openFdCount();
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    // Node cannot send urgent data: a Python peer sends "abc", then "!" with MSG_OOB, then waits for stdin to close.
    const peer = spawn('python3', ['-c', [
      'import socket, sys',
      `s = socket.create_connection(("127.0.0.1", ${port}))`,
      's.sendall(b"abc"); s.send(b"!", socket.MSG_OOB)',
      'print("sent", flush=True); sys.stdin.read()',
    ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sent = once(peer.stdout!, 'data');
    const [socket] = await accepted;
    await sent;
    socket.pause();
    const fd = fdOf(socket);
    const urgent = refusal(fd);
    assert.equal(urgent.code, 'ERR_TCP_REPAIR_STATE');
    assert.match(urgent.message, new RegExp(`^dumpTcp: fd ${fd} has urgent data \\(MSG_OOB\\) pending, which a dump cannot carry: read it first`));
    // Left as it was: still ESTABLISHED, not in repair mode (a second refusal names the urgent data again, not a repair state).
    assert.match(refusal(fd).message, /has urgent data/);
    peer.stdin!.end();
    await once(peer, 'exit');
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    assert.equal(openFdCount(), fdsBefore, 'no fd leaked');
  });
});
