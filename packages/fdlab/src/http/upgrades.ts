// Whether a node:http server takes upgrades, and a listener of ours on them
// that changes nothing about that. node:http emits 'upgrade' for a request
// with `Connection: upgrade` only if the server has an 'upgrade' listener;
// with none, it answers the request as any other (`curl --http2` sends
// `Upgrade: h2c`, and gets HTTP/1.1). A listener of our own would turn that
// into an upgrade nobody handles: measured, such a request got no response at
// all (before this, on `fdlab serve --app http`). So ours is there only while
// the app has one of its own.
import type * as http from 'node:http';

type UpgradeListener = (req: http.IncomingMessage) => void;

/**
 * Calls `onUpgrade` for each upgrade the server takes (before the app's
 * listeners), listening only while the app listens too. Returns whether the
 * server takes upgrades now (what node:http checks at each request head).
 */
export function watchUpgrades(server: http.Server, onUpgrade: UpgradeListener): () => boolean {
  const others = () => server.listeners('upgrade').filter((l) => l !== onUpgrade).length;
  const attached = () => server.listeners('upgrade').includes(onUpgrade);
  if (others() > 0) server.prependListener('upgrade', onUpgrade);
  server.on('newListener', (event: string | symbol, listener: unknown) => {
    if (event === 'upgrade' && listener !== onUpgrade && !attached()) server.prependListener('upgrade', onUpgrade);
  });
  server.on('removeListener', (event: string | symbol, listener: unknown) => {
    if (event === 'upgrade' && listener !== onUpgrade && others() === 0 && attached()) server.removeListener('upgrade', onUpgrade);
  });
  return () => others() > 0;
}
