// The WebSocket echo server of `fdlab serve --app ws`, without fdlab: ws-app.ts
// hands it to fdlab/ws; bench/plain-server.ts runs the same server under pm2
// (cluster mode) for bench:ws. Each message comes back unchanged (text as
// text, binary as binary). Plain HTTP on the same port: GET / names the
// version. permessage-deflate without context takeover (the only kind
// fdlab/ws carries): clients that offer deflate get it, messages over 1 KB
// compressed; clients that do not, do not.
import * as http from 'node:http';
import { WebSocketServer } from 'ws';

export function wsServer(name: string, log: (line: string) => void): { server: http.Server; wss: WebSocketServer } {
  const server = http.createServer((req, res) => res.end(`fdlab serve ${name}: ${req.method} ${req.url} (a WebSocket echo server)\n`));
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  const wss = new WebSocketServer({ server, perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (error) => log(`websocket: ${error.message}`));
  });
  return { server, wss };
}
