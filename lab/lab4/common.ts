// Lab 4's shared pieces: the ports, seed 004's line echo (each line comes back
// with a timestamp and the name of the process that answered), and the drain
// an old server does before it exits.
import * as net from 'node:net';

/** Ports of this lab (8080-8089 are lab 4's): one per part, so no run waits for another's TIME_WAIT. */
export const PORTS = { inherit: 8080, graceful: 8081, handover: 8082, naive: 8083, restart: 8084 } as const;

export const HOST = '127.0.0.1';

/** "a-parent[17]": the role and the pid that answered, as every reply names it. */
export function whoAmI(): string {
  return `${process.env.FDLAB_ROLE ?? 'server'}[${process.pid}]`;
}

/** Seed 004's separator between the timestamp and the echoed line. */
const SEPARATOR = '--ll----ll--';

/** `2024-05-01T12:00:00.123Z --ll----ll-- b-server[23]: hello` -> "b-server[23]" */
export function whoAnswered(reply: string): string | null {
  const match = / --ll----ll-- (\S+): /.exec(reply);
  return match ? match[1] : null;
}

/** Answers every line with "<time> --ll----ll-- <who>: <line>", as seed 004's CallBack does. */
export function serveLines(socket: net.Socket, who = whoAmI()): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      socket.write(`${new Date().toISOString()} ${SEPARATOR} ${who}: ${line}\n`);
    }
  });
  socket.on('error', () => socket.destroy());
}

/** An echo server that remembers its open connections, for the drain. */
export function echoServer(): { server: net.Server; connections: Set<net.Socket>; accepted: () => number } {
  const connections = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serveLines(socket);
  });
  return { server, connections, accepted: () => accepted };
}

/**
 * Stops accepting (the listening fd is closed in this process only), lets open
 * connections finish, and after `drainMs` closes whatever is still open: a
 * line protocol has no "end of request" to wait for, so a long-lived client is
 * cut here (seed 004's closing remark). Resolves with how many were cut.
 */
export function drain(server: net.Server, connections: Set<net.Socket>, drainMs: number, log: (text: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    let cut = 0;
    log(`stopped accepting; draining ${connections.size} open connection(s), at most ${drainMs} ms`);
    const timer = setTimeout(() => {
      const open = [...connections];
      cut = open.length;
      log(`drain timeout (${drainMs} ms): closing ${cut} connection(s) still open: ${open.map((s) => `${s.remoteAddress}:${s.remotePort}`).join(', ')}`);
      for (const socket of open) socket.end(); // FIN, as Go's conn.Close(): the client sees end of stream
      setTimeout(() => open.forEach((s) => s.destroy()), 200).unref();
    }, drainMs);
    server.close(() => {
      clearTimeout(timer);
      log(`drained in ${Date.now() - started} ms${cut > 0 ? ` (${cut} cut at the timeout)` : ''}`);
      resolve(cut);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `--name value` from argv, or the fallback. */
export function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}
