// `fdlab serve --app ws`: a WebSocket echo server on fdlab/ws, upgradable
// with SIGUSR2 like the ping/pong default: each message comes back unchanged
// (text as text, binary as binary). Plain HTTP on the same port: GET / names
// the version. permessage-deflate without context takeover (the only kind
// fdlab/ws carries): clients that offer deflate get it, messages over 1 KB
// compressed; clients that do not, do not.
import * as http from 'node:http';
import type { HandoverApp, Log } from 'fdlab';
import type { HttpSession } from 'fdlab/http';
import { wsApp } from 'fdlab/ws';
import { WebSocketServer } from 'ws';

export function wsServeApp(name: string, log: Log): HandoverApp<HttpSession> {
  const server = http.createServer((req, res) => res.end(`fdlab serve ${name}: ${req.method} ${req.url} (a WebSocket echo server)\n`));
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  const wss = new WebSocketServer({ server, perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (error) => log(`websocket: ${error.message}`));
  });
  return wsApp(server, wss, { log });
}
