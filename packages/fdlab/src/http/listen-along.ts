// A listener of ours on a node:http server event that changes nothing about
// what node:http does. For some events the mere presence of a listener does:
//   'upgrade'           with none, a request with `Connection: upgrade` is
//                       answered as any other (`curl --http2` sends `Upgrade:
//                       h2c` and gets HTTP/1.1); with one, it is an upgrade.
//                       Measured with ours alone: no response at all.
//   'checkContinue'     with none, node:http answers 100 Continue itself and
//   'checkExpectation'  emits 'request'; with one, it emits this instead.
// So ours is there only while the app has one of its own, first (prepended).
import type * as http from 'node:http';

/** For upgrade the second argument is the socket: ours there reads only the request. */
type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * Calls `listener` for each `event` of `server`, before the app's listeners,
 * and listens only while the app listens too. Returns whether the app listens
 * now (what node:http checks when it reads a request head).
 */
export function listenAlong(server: http.Server, event: 'upgrade' | 'checkContinue' | 'checkExpectation', listener: Listener): () => boolean {
  const others = () => server.listeners(event).filter((l) => l !== listener).length;
  const attached = () => server.listeners(event).includes(listener);
  if (others() > 0) server.prependListener(event, listener);
  server.on('newListener', (name: string | symbol, added: unknown) => {
    if (name === event && added !== listener && !attached()) server.prependListener(event, listener);
  });
  server.on('removeListener', (name: string | symbol, removed: unknown) => {
    if (name === event && removed !== listener && others() === 0 && attached()) server.removeListener(event, listener);
  });
  return () => others() > 0;
}
