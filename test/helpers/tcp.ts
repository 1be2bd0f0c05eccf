// A real TCP connection on 127.0.0.1 for tests: the listening server, the
// connecting client, and the server's accepted end.
import * as net from 'node:net';

export interface TcpConnection {
  server: net.Server;
  client: net.Socket;
  accepted: net.Socket;
  /** Destroys both ends and closes the server. */
  end(): void;
}

export async function tcpConnection(): Promise<TcpConnection> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  const connection = { server, client, accepted: await accepted };
  return {
    ...connection,
    end: () => {
      connection.client.destroy();
      connection.accepted.destroy();
      connection.server.close();
    },
  };
}
