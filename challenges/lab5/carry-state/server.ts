// Lab 5 challenge "carry-state": a numbered ping/pong server, upgradable with
// fdlab's Upgrader (packages/fdlab/README.md, "The shape of an upgradable
// server"). The client sends "ping\n"; the answer is "pong <n>\n", n counting
// this connection's pongs from 1.
// `fdlab check 5 carry-state` runs it as `node server.js <state dir>` and sends
// it SIGUSR2: the Upgrader starts this same file again as the new version and
// hands it the listener and every connection, with the bytes read but not
// answered yet and each connection's session as snapshot() returns it.
import type * as net from 'node:net';
import * as path from 'node:path';
import { fromEnvironment, guardUpgradeSignal, Upgrader, type HandoverApp, type ServedConnection } from 'fdlab';

guardUpgradeSignal(); // first: a SIGUSR2 that arrives while this version starts must not kill it

/** What travels to the next version with each connection (as JSON). */
interface Session {
  since: string; // when the client connected, to any version
}

const { takeOver, generation } = fromEnvironment(); // takeOver: set when the old version started us

const app: HandoverApp<Session> = {
  serve(socket: net.Socket, carried?: Session, pending?: Buffer): ServedConnection<Session> {
    // A session from another process: trust its shape only after a look.
    const session: Session = typeof carried?.since === 'string' ? carried : { since: new Date().toISOString() };
    let answered = 0; // pongs on this connection so far
    let partial = Buffer.alloc(0); // read, but not a whole line yet
    const consume = (chunk: Buffer) => {
      partial = Buffer.concat([partial, chunk]);
      let reply = '';
      for (let end = partial.indexOf('\n'); end >= 0; end = partial.indexOf('\n')) {
        if (partial.subarray(0, end).toString() === 'ping') reply += `pong ${++answered}\n`;
        partial = partial.subarray(end + 1);
      }
      if (reply) socket.write(reply);
    };
    if (pending) consume(pending); // what the old version had read and not answered: first
    socket.on('data', consume);
    socket.on('error', () => socket.destroy());
    return { socket, snapshot: () => ({ session, pending: partial }) };
  },
};

async function main(): Promise<void> {
  const stateDir = process.argv[2];
  const upgrader = await Upgrader.start({
    app,
    port: 0, // any free port; the new version takes the listener over
    host: '127.0.0.1',
    stateDir,
    pidFile: path.join(stateDir, 'pid'),
    takeOver,
    signals: true, // SIGUSR2 calls upgrader.upgrade()
    standbyMs: 500,
    log: (line) => console.log(`gen ${generation}: ${line}`),
  });
  console.log(`gen ${generation}: serving on 127.0.0.1:${upgrader.port} as pid ${process.pid}`);
  upgrader.on('upgraded', () => process.exit(0)); // the new version serves: this one leaves
  process.on('SIGTERM', () => void upgrader.close().then(() => process.exit(0)));
}

main().catch((error: Error & { code?: string }) => {
  console.error(`gen ${generation}: ${error.code ?? 'error'}: ${error.message}`);
  process.exit(1);
});
