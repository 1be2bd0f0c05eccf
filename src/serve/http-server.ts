// The HTTP/1.1 keep-alive server of `fdlab serve --app http`, without fdlab:
// http-app.ts hands it to fdlab/http; bench/plain-server.ts runs the same
// server under pm2 (cluster mode) for bench:http.
//   GET /        200, "fdlab serve <version> gen <g>: GET /\n"
//   POST /echo   200 once the request body has ended: the body back, after
//                the same prefix. A client that holds its body back keeps a
//                request in flight as long as it likes (the tests do, across
//                an upgrade: answered by the version that got the request).
//   GET /events  a Server-Sent Events stream: one event naming the version,
//                then open until the client leaves (or an upgrade ends it:
//                http-app.ts, endForUpgrade; the client asks again and the
//                next version answers)
//   anything else  404
// Every response names the version that wrote it, so a client sees who answered.
import * as http from 'node:http';

/** The Server-Sent Events stream's path. */
export const EVENTS = '/events';

/** Bodies of /echo larger than this are refused (413): a demo, not a sink. */
const MAX_ECHO = 1024 * 1024;

export function httpServer(name: string): http.Server {
  const server = http.createServer((req, res) => {
    const who = `fdlab serve ${name}: ${req.method} ${req.url}`;
    if (req.method === 'GET' && req.url === '/') return void res.end(`${who}\n`);
    if (req.method === 'GET' && req.url === EVENTS) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      return void res.write(`data: ${who}\n\n`);
    }
    if (req.method === 'POST' && req.url === '/echo') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ECHO) chunks.push(chunk);
      });
      req.on('end', () => {
        if (size > MAX_ECHO) res.writeHead(413).end(`${who}: body over ${MAX_ECHO} bytes\n`);
        else res.end(`${who}: ${Buffer.concat(chunks).toString()}\n`);
      });
      return;
    }
    res.writeHead(404).end(`${who}: not found (GET /, GET /events or POST /echo)\n`);
  });
  // Idle keep-alive connections stay open (Node's default closes them after 5 s): upgrades are what is tested here.
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  return server;
}
