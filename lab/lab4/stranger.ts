// Lab 4, part A: an unrelated process (in Docker: another container in the
// pod, same network namespace). It tries to bind the port and gets
// EADDRINUSE; then all it can do is connect, and the child answers.
//
//   node stranger.js <port>
import * as net from 'node:net';
import { HOST, whoAnswered } from './common';

const port = Number(process.argv[2]);

async function main(): Promise<void> {
  const bind = await new Promise<string>((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen(port, HOST, () => server.close(() => resolve('bound (unexpected)')));
  });
  console.log(`stranger pid ${process.pid}: bind(${HOST}:${port}): ${bind}${bind === 'EADDRINUSE' ? ' (Address already in use)' : ''}`);

  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, HOST, () => socket.write('hello from a stranger\n'));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) {
        socket.end();
        resolve(text.trim());
      }
    });
    socket.on('error', reject);
  });
  console.log(`stranger pid ${process.pid}: connected instead; the answer: ${reply}`);
  console.log(`RESULT ${JSON.stringify({ bind, reply, answeredBy: whoAnswered(reply) })}`);
}

main().catch((error: Error) => {
  console.log(`stranger: failed: ${error.message}`);
  process.exit(1);
});
