// Lab 4, part C: hand the listener to a new container over a Unix socket in
// the shared volume, the way HAProxy (`expose-fd listeners`, then the new
// process started with `-x <socket>` asks with `_getsocks`) and Envoy (hot
// restart: the new epoch asks the old one over a Unix domain socket) do.
//
//   node handover-server.js old <port> [--drain-ms N]   binds, serves, offers its listener
//   node handover-server.js new [--drain-ms N]          asks for the listener, serves on it
//
// The old one stops accepting only when the new one says it serves.
import { adoptServer, describeFd, FdChannel, FdChannelServer, fdOf, formatFd } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';
import { drain, echoServer, HOST, option } from './common';

const CHANNEL = 'lab4-listeners.sock';
const mode = process.argv[2];
const drainMs = Number(option('drain-ms', '2000'));
const log = (text: string) => console.log(`${mode} pid ${process.pid}: ${text}`);

async function old(port: number): Promise<void> {
  const { server, connections, accepted } = echoServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  const listener = fdOf(server);
  log(`serving on ${HOST}:${port}, listening fd ${formatFd(describeFd(listener))}`);
  // Only our own uid may connect (0600), and each peer's uid is checked again with
  // SO_PEERCRED: whoever gets this fd can accept every client of the port.
  const channels = await FdChannelServer.listen(sharedPath(CHANNEL), { mode: 0o600 });
  log(`offering my listener on ${sharedPath(CHANNEL)} (mode 0600, uid ${process.getuid!()} only)`);

  let channel = await channels.accept();
  while (channel.peer().uid !== process.getuid!()) {
    log(`refused pid ${channel.peer().pid} uid ${channel.peer().uid}: not my uid`);
    channel.close();
    channel = await channels.accept();
  }
  const ask = await channel.receive();
  log(`the new instance asks: "${ask.data.toString()}"`);
  await channel.send({ data: JSON.stringify({ listeners: [`${HOST}:${port}`] }), fds: [listener] });
  log(`sent it my listening fd ${listener} (SCM_RIGHTS); I keep accepting until it serves`);
  const ready = await channel.receive();
  log(`the new instance says: "${ready.data.toString()}"`);
  await channels.close();
  const cut = await drain(server, connections, drainMs, log);
  log(`served ${accepted()} connections; cut ${cut} at the drain timeout; exiting`);
  channel.close();
  process.exit(0);
}

async function successor(): Promise<void> {
  const channel = await FdChannel.connect(sharedPath(CHANNEL), { waitMs: 10_000 });
  await channel.send({ data: '_getsocks' });
  const { data, fds } = await channel.receive();
  log(`received ${data.toString()} with fd ${formatFd(describeFd(fds[0]))}`);
  const { server, connections, accepted } = echoServer();
  await adoptServer(fds[0], server);
  log(`serving on the received fd ${fds[0]}; I never called bind()`);
  await channel.send({ data: 'serving' });
  channel.on('close', () => log('the old instance has gone'));
  // Ask for nothing more: let the channel's end be the old instance's exit.
  void channel.receive().catch(() => undefined);

  const stop = async () => {
    const cut = await drain(server, connections, drainMs, log);
    log(`served ${accepted()} connections; cut ${cut} at the drain timeout; exiting`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

(mode === 'old' ? old(Number(process.argv[3])) : successor()).catch((error: Error) => {
  log(`failed: ${error.message}`);
  process.exit(1);
});
