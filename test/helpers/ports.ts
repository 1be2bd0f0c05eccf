// Tests never use a fixed TCP port: two runs at once (or a lab in the process
// runtime, which binds its fixed ports on this machine's loopback) would
// collide. Listen on port 0 where the code allows it; where a port number must
// be passed on (a command line that refuses 0), take one the kernel just handed out.
import * as net from 'node:net';

/** A port nothing on 127.0.0.1 listens on right now: the kernel picks it (bind to 0), then it is released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A server listening on a port of the kernel's choice on 127.0.0.1, and that port. */
export async function listeningOnAnyPort(server = net.createServer()): Promise<{ server: net.Server; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}
