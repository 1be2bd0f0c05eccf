// Lab 4 echo server (seed 004): a line echo that restarts without closing its
// listener.
//
//   node echo-server.js <port> [--drain-ms N] [--graceful]
//
// Without --graceful it binds 127.0.0.1:<port> itself. On SIGHUP it starts its
// successor, the same command plus --graceful, with the listening socket as
// the successor's fd 3 (Go: cmd.ExtraFiles; Node: a 4th stdio entry). The
// successor serves on fd 3 (Go: net.FileListener; Node: listen({fd: 3})) and
// sends SIGTERM to its parent, which stops accepting, drains and exits.
import { spawn } from 'node:child_process';
import { adoptServer, describeFd, fdOf, formatFd } from 'fdlab';
import { drain, echoServer, HOST, option } from './common';

const port = Number(process.argv[2]);
const graceful = process.argv.includes('--graceful');
const drainMs = Number(option('drain-ms', '2000'));
const generation = Number(process.env.LAB4_GENERATION ?? '1');
// --fault no-fd3 (what breaks): the successor is started without the listener.
const withoutListener = process.env.LAB4_FAULT === 'no-fd3';
const log = (text: string) => console.log(`pid ${process.pid} (gen ${generation}): ${text}`);

async function main(): Promise<void> {
  const { server, connections, accepted } = echoServer();
  if (graceful) {
    await adoptServer(3, server);
    log(`serving on inherited fd ${formatFd(describeFd(3))}; I never called bind()`);
    process.kill(process.ppid, 'SIGTERM'); // seed 004: os.FindProcess(os.Getppid()).Signal(SIGTERM)
    log(`sent SIGTERM to my parent, pid ${process.ppid}`);
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, HOST, () => resolve());
    });
    log(`serving on ${HOST}:${port}, bound and listening on fd ${formatFd(describeFd(fdOf(server)))}`);
  }

  let stopping = false;
  process.on('SIGHUP', () => {
    if (stopping) return;
    const fd = fdOf(server);
    const args = process.argv.slice(2).filter((arg) => arg !== '--graceful');
    log(
      withoutListener
        ? 'received SIGHUP: starting my successor with --graceful but WITHOUT my listener (--fault no-fd3)'
        : `received SIGHUP: starting my successor with listening fd ${fd} as its fd 3, and --graceful`,
    );
    const successor = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, '--graceful'], {
      // Index 3: the child's fd 3 becomes a dup of our listener (dup2 clears close-on-exec on it).
      stdio: withoutListener ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'inherit', 'inherit', fd],
      env: { ...process.env, LAB4_GENERATION: String(generation + 1) },
    });
    log(`successor is pid ${successor.pid}; I keep serving until it tells me to stop`);
    successor.once('exit', (code, signal) => {
      if (!stopping) log(`successor pid ${successor.pid} exited (${signal ?? `code ${code}`}) before taking over: I am still serving`);
    });
  });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`received ${signal}`);
    const cut = await drain(server, connections, drainMs, log);
    log(`served ${accepted()} connections; cut ${cut} at the drain timeout; exiting`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: Error) => {
  log(`cannot serve: ${error.message}; exiting${graceful ? ' (my parent goes on serving)' : ''}`);
  process.exit(1);
});
