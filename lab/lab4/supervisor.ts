// Lab 4 supervisor: the process that stays while server generations come and
// go, as systemd or s6 would. A container lives as long as its main process:
// if the first server generation were the main process, its exit after the
// drain would end the container and kill the successor with it.
//
//   node supervisor.js [--restart-gap-ms N] -- <script> [args...]
//
// Without --restart-gap-ms it starts the server once and passes SIGHUP and
// SIGTERM to whichever generation serves now (it learns the pid from the
// "pid N (gen G): serving" lines); the server restarts itself. With it,
// SIGHUP is a naive restart, `systemctl restart` style: SIGTERM the server,
// wait for it to exit, wait N ms, start a new one, which binds again.
// It exits once every generation has exited: they all write into the pipes it
// reads, so end of file on both means none is left.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { option } from './common';

const separator = process.argv.indexOf('--');
const [script, ...args] = process.argv.slice(separator + 1);
const gapMs = Number(option('restart-gap-ms', '-1'));
const say = (text: string) => console.log(`supervisor: ${text}`);

let serving: number | undefined;
let direct: ChildProcess | undefined;
let openPipes = 0;
let restartTimer: NodeJS.Timeout | undefined;
let restarting = false;
let stopping = false;

function relay(from: Readable, to: Writable): void {
  let pending = '';
  openPipes += 1;
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const match = /^pid (\d+) \(gen \d+\): serving/.exec(line);
      if (match) serving = Number(match[1]);
      to.write(`${line}\n`);
    }
  });
  from.once('end', () => {
    if (pending) to.write(`${pending}\n`);
    openPipes -= 1;
    exitWhenAllGone();
  });
}

function start(): void {
  const child = spawn(process.execPath, [...process.execArgv, path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  direct = child;
  say(`started ${script} ${args.join(' ')} as pid ${child.pid}`);
  relay(child.stdout!, process.stdout);
  relay(child.stderr!, process.stderr);
  child.once('exit', (code, signal) => {
    say(`pid ${child.pid} exited (${signal ?? `code ${code}`})`);
    if (direct === child) direct = undefined;
    if (restarting && !stopping) {
      say(`restart: starting a new server in ${gapMs} ms; until then nothing listens on the port`);
      restartTimer = setTimeout(() => {
        restartTimer = undefined;
        restarting = false;
        start();
      }, gapMs);
    }
    exitWhenAllGone();
  });
}

function exitWhenAllGone(): void {
  if (!direct && openPipes === 0 && !restartTimer) process.exit(0);
}

process.on('SIGHUP', () => {
  if (serving === undefined || stopping) return;
  if (gapMs < 0) {
    say(`SIGHUP: passing it to the serving process, pid ${serving}`);
    process.kill(serving, 'SIGHUP');
  } else {
    say(`SIGHUP: naive restart: SIGTERM to pid ${serving}, wait for it to exit, wait ${gapMs} ms, start a new one`);
    restarting = true;
    process.kill(serving, 'SIGTERM');
  }
});

const stop = () => {
  stopping = true;
  if (restartTimer) clearTimeout(restartTimer);
  restartTimer = undefined;
  if (serving !== undefined) {
    try {
      process.kill(serving, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  exitWhenAllGone();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

start();
