// `fdlab serve --app http`: an HTTP/1.1 keep-alive server on fdlab/http,
// upgradable with SIGUSR2 like the ping/pong default, for anyone to try with
// their own clients (curl, ab, a browser). What it answers: http-server.ts.
import type { HandoverApp, Log } from 'fdlab';
import { httpApp, type HttpSession } from 'fdlab/http';
import { EVENTS, httpServer } from './http-server';

export function httpServeApp(name: string, log: Log): HandoverApp<HttpSession> {
  return httpApp(httpServer(name), {
    log,
    // An SSE stream never ends on its own: ended here once the new version serves, so its connection moves at once
    // (not reset at the deadline); the client asks again and the new version answers. A POST /echo in flight is left to finish.
    endForUpgrade: (req, res) => {
      if (req.url === EVENTS) res.end(`event: upgrade\ndata: fdlab serve ${name} hands over: ask again\n\n`);
    },
  });
}
