// fdlab's public API: pass fds between processes (SCM_RIGHTS), frame them
// into messages, move live sockets in and out of Node, and hot-upgrade a
// server (Upgrader). Beside it: 'fdlab/wire' (the bytes, for peers in other
// languages) and 'fdlab/testing' (an old and a new version in one process).
export { ERRORS, FdlabError, isErrorWithCode, type ErrorInfo, type FdlabErrorCode } from './errors';
export { SCM_MAX_FD, sendFd, recvFd, sendFds, recvFds, recvFdsInto, type ReceivedFds, type RecvFdsOptions } from './fd/transfer';
export { socketpair, dup, close, closeFds, closeQuietly, setNonBlocking, takeFdFromProcess, type SocketPairType } from './fd/fds';
export {
  describeFd,
  formatFd,
  formatEndpoint,
  peerCredentials,
  queuedBytes,
  type FdDescription,
  type FdKind,
  type Endpoint,
  type PeerCredentials,
} from './fd/inspect';
export { tcpUseOf, type TcpUse } from './socket/tcp-use';
export { dumpTcp, restoreTcp, resumeTcp, type TcpRepairState, type TcpEndpoint } from './socket/tcp-repair';
export { watchFd, type FdWatcher } from './fd/watch';
export { FdChannel, type FdMessage, type FdChannelOptions } from './channel/fd-channel';
export { FdChannelServer, type ListenOptions } from './channel/channel-server';
export { detachSocket, fdOf, type DetachedSocket, type DetachOptions } from './socket/detach';
export { trackWrites } from './socket/write-tracker';
export { adoptSocket, adoptServer, type AdoptSocketOptions } from './socket/adopt';
export { writePidFile, removePidFile } from './handover/pid-file';
export { bestEffortOutput, writeLine } from './util/best-effort-output';
export {
  fromEnvironment,
  spawnSuccessor,
  UPGRADE_SOCKET_ENV,
  UPGRADE_TOKEN_ENV,
  GENERATION_ENV,
  NATIVE_BUILD_ENV,
  SUPERVISOR_ENV,
  NOTIFY_SOCKET_ENV,
  notifySocketFromEnvironment,
  type FromEnvironment,
  type TakeOver,
} from './environment';
export {
  Upgrader,
  externalSuccessor,
  guardUpgradeSignal,
  OLD_STATES,
  NEW_STATES,
  type OldState,
  type NewState,
  type OnState,
  type StartSuccessor,
  type Successor,
  type SuccessorRequest,
  type Log,
  type UpgraderOptions,
  type UpgradeResult,
  type HandoverApp,
  type ServedConnection,
  markBusy,
  markIdle,
  isBusy,
} from './handover';
