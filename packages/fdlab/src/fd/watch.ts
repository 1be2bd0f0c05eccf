// Readiness of a raw fd from Node's event loop (libuv poll): for code that
// drives sockets through sendFds/recvFds without wrapping them in net.Socket.
import { binding, type RawPoller } from '../native/binding';

export interface FdWatcher {
  /** Changes what to wait for; both false pauses. */
  want(readable: boolean, writable?: boolean): void;
  /** Stops watching for good; the fd itself stays open. */
  close(): void;
}

export function watchFd(fd: number, onReady: (error: Error | null, readable: boolean, writable: boolean) => void): FdWatcher {
  const poller: RawPoller = new binding.Poller(fd, onReady);
  return {
    want: (readable, writable = false) => poller.start(readable, writable),
    close: () => poller.close(),
  };
}
