// How the new version closes a connection it was handed with a reason to
// (HttpSession.close): the old version could not finish with it.
//   - a request in flight (still busy at the upgrade's deadline): reset (RST).
//     Nobody can finish that response, and a FIN after part of a body that
//     has no length (close-delimited) would read as a complete response; an
//     RST is an error to every client (ECONNRESET), which may retry.
//   - a WebSocket closing: its close frame, and whatever the old version
//     queued before it, travel as unsent bytes ahead of this; destroy() would
//     throw them away (measured: the client saw 1006 instead of the server's
//     4001, and lost the tail of the 6 MB message before it; one that sent
//     close got a truncated message and no close frame). end() sends them, then the
//     FIN; a client that never reads them is cut off after ws's own close
//     timeout.
import type * as net from 'node:net';

/** ws's closeTimeout: how long a closing WebSocket waits for its peer (30 s). */
const CLOSING_TIMEOUT_MS = 30_000;

export function closeCarried(socket: net.Socket, why: string, log: (line: string) => void): void {
  // A peer already gone (both ends closed before it got here) has no address any more: seen under load as undefined:undefined.
  const name = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a client already gone';
  if (/WebSocket closing/.test(why)) {
    log(`ending a WebSocket from ${name} handed over closing: what the old version queued goes out first`);
    socket.on('error', () => {}); // a peer gone meanwhile: nothing left to tell it
    socket.resume(); // its last bytes (the peer's close frame, its FIN) are read and dropped
    socket.end();
    const timer = setTimeout(() => socket.destroy(), CLOSING_TIMEOUT_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return;
  }
  log(`closed a connection from ${name} handed over with ${why}: reset, never answered twice`);
  socket.resetAndDestroy();
}
