// `fdlab serve --app http`: an HTTP/1.1 keep-alive server on fdlab/http,
// upgradable with SIGUSR2 like the ping/pong default, for anyone to try with
// their own clients (curl, ab, a browser). What it answers: http-server.ts.
import type { HandoverApp, Log } from 'fdlab';
import { httpApp, type HttpSession } from 'fdlab/http';
import { httpServer } from './http-server';

export function httpServeApp(name: string, log: Log): HandoverApp<HttpSession> {
  return httpApp(httpServer(name), { log });
}
