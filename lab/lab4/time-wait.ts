// Lab 4, part R: why a server that closed its listener may still not bind
// its port again, and why Node servers do. A listener on a free port accepts
// a few connections and closes each first (the side that closes first keeps
// the connection in TIME_WAIT for 60 s), then closes itself. Nothing listens
// on the port now, yet a bind without SO_REUSEADDR fails with EADDRINUSE.
// libuv sets SO_REUSEADDR on every listener, so Node binds: bind-once.js,
// first with strace turning every setsockopt() into a no-op
// (-e inject=setsockopt:retval=0), then as it is. Needs strace; it must not itself
// run under strace (a process has one tracer).
//
//   node time-wait.js
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { HOST } from './common';

const CONNECTIONS = 5;
const say = (text: string) => console.log(`time-wait pid ${process.pid}: ${text}`);

/** bind-once.js under strace; the lines of strace (setsockopt SO_REUSEADDR, bind) and of the script. */
function bindOnce(port: number, withoutReuse: boolean): { outcome: string; strace: string[] } {
  const inject = withoutReuse ? ['-e', 'inject=setsockopt:retval=0'] : [];
  const run = spawnSync('strace', ['-f', '-e', 'trace=setsockopt,bind', ...inject, '--', process.execPath, path.join(__dirname, 'bind-once.js'), String(port)], { encoding: 'utf8' });
  const strace = run.stderr.split('\n').filter((l) => /SO_REUSEADDR|bind\(.*htons\(/.test(l)).map((l) => l.replace(/^\[pid\s+\d+\]\s+/, ''));
  const outcome = /bind\([^)]*\): (\S+)/.exec(run.stdout)?.[1] ?? `no outcome (exit ${run.status}: ${run.stderr.trim().split('\n').pop()})`;
  return { outcome, strace };
}

function timeWaitCount(port: number): number {
  const ss = spawnSync('ss', ['-Htan', 'state', 'time-wait', `sport = :${port}`], { encoding: 'utf8' });
  return ss.stdout.split('\n').filter(Boolean).length;
}

async function main(): Promise<void> {
  const server = net.createServer((socket) => socket.end()); // the server closes first: TIME_WAIT is on its side
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = net.connect(port, HOST);
      client.resume();
      await once(client, 'close'); // our FIN back went out once the server's came
    }),
  );
  server.close();
  await once(server, 'close');
  const waiting = timeWaitCount(port);
  say(`the listener on ${HOST}:${port} closed each of its ${CONNECTIONS} connections first, then itself: ${waiting} in TIME_WAIT (ss), nothing listening`);

  const without = bindOnce(port, true);
  say(`bind without SO_REUSEADDR (strace swallows the setsockopt): ${without.outcome}`);
  for (const line of without.strace) say(`  strace: ${line}`);
  const withReuse = bindOnce(port, false);
  say(`bind as Node does it (SO_REUSEADDR): ${withReuse.outcome}`);
  for (const line of withReuse.strace) say(`  strace: ${line}`);
  console.log(`RESULT ${JSON.stringify({ port, timeWait: waiting, withoutReuse: without, withReuse })}`);
}

main().catch((error: Error) => {
  say(`failed: ${error.message}`);
  process.exit(1);
});
