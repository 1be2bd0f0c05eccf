// The hot-upgrade engine: hand a live TCP server (listener, connections and
// their state) to a new version on SIGUSR2, with rollback.
export { Upgrader, type UpgraderOptions } from './upgrader';
export { PingPongApp, type PingSession } from './ping-pong';
export { spawnSuccessor, externalSuccessor, UPGRADE_SOCKET_ENV, type StartSuccessor, type Successor } from './successor';
export type { HandoverApp, ServedConnection } from './types';
