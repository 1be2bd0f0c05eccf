// `fdlab serve --app ws`: a WebSocket echo server on fdlab/ws, upgradable
// with SIGUSR2 like the ping/pong default. What it answers: ws-server.ts.
import type { HandoverApp, Log } from 'fdlab';
import type { HttpSession } from 'fdlab/http';
import { wsApp } from 'fdlab/ws';
import { wsServer } from './ws-server';

export function wsServeApp(name: string, log: Log): HandoverApp<HttpSession> {
  const { server, wss } = wsServer(name, log);
  return wsApp(server, wss, { log });
}
