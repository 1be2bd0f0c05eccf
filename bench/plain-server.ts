// The servers of `fdlab serve --app ws|http` without fdlab, for bench:ws and
// bench:http to run under pm2 in cluster mode (pm2 start -i N; pm2 reload):
//   node dist/bench/plain-server.js --app ws|http --port P
// On SIGINT (what pm2 sends an old worker; SIGKILL 1.6 s later) or SIGTERM it
// shuts down gracefully, the way pm2's docs ask: it stops accepting, closes
// each WebSocket with 1001 (going away), answers the HTTP requests in flight
// with Connection: close, closes idle keep-alive connections, and exits once
// every connection is gone.
import { parseArgs } from 'node:util';
import { httpServer } from '../src/serve/http-server';
import { wsServer } from '../src/serve/ws-server';

const { values } = parseArgs({ options: { app: { type: 'string' }, port: { type: 'string' } } });
const name = `plain pid ${process.pid}`;
const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} [${name}] ${line}\n`);

if (values.app !== 'ws' && values.app !== 'http') throw new Error(`--app must be ws or http, not ${values.app}`);
const ws = values.app === 'ws' ? wsServer(name, log) : null;
const server = ws ? ws.server : httpServer(name);
let closing = false;
// Before the app's handler: once closing, every response says the connection ends after it.
server.prependListener('request', (_req, res) => closing && res.setHeader('Connection', 'close'));
server.listen(Number(values.port), '127.0.0.1', () => log(`listening on 127.0.0.1:${values.port} as pid ${process.pid}`));

function shutDown(signal: string): void {
  if (closing) return;
  closing = true;
  log(`${signal}: closing ${ws ? ws.wss.clients.size : 'all'} connection(s)`);
  server.close(() => {
    log('every connection closed; exiting');
    process.exit(0);
  });
  server.closeIdleConnections();
  for (const client of ws?.wss.clients ?? []) client.close(1001, 'going away');
}
process.on('SIGINT', () => shutDown('SIGINT'));
process.on('SIGTERM', () => shutDown('SIGTERM'));
