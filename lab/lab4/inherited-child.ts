// Lab 4, part A: the child. First it tries what an unrelated process would
// do, bind the port itself, and gets EADDRINUSE like everyone else. Then it
// serves on the socket it inherited as fd 3, which is already bound and
// listening: no bind at all.
//
//   node inherited-child.js <port>
import * as net from 'node:net';
import { adoptServer, describeFd, formatFd } from 'fdlab';
import { echoServer, HOST } from './common';

const port = Number(process.argv[2]);
const log = (text: string) => console.log(`child pid ${process.pid} (parent ${process.ppid}): ${text}`);

async function main(): Promise<void> {
  const own = await new Promise<string>((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen(port, HOST, () => probe.close(() => resolve('bound (unexpected)')));
  });
  log(`my own socket, bind(${HOST}:${port}): ${own}`);

  log(`inherited fd ${formatFd(describeFd(3))}`);
  const { server, connections, accepted } = echoServer();
  await adoptServer(3, server);
  log(`serving on the inherited fd 3`);
  console.log(`RESULT ${JSON.stringify({ pid: process.pid, ownBind: own, inherited: formatFd(describeFd(3)) })}`);

  const stop = () => {
    server.close();
    for (const socket of connections) socket.destroy();
    log(`served ${accepted()} connection(s); exiting`);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  log(`failed: ${error.message}`);
  process.exit(1);
});
