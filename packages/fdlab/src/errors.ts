// fdlab's own failures carry a `code`, like Node's system errors, so callers
// can branch on err.code whether the kernel or fdlab refused.
//
// ERRORS is the one list of every code fdlab itself raises (in TypeScript or
// in native/*.cc) or reports as an upgrade result's `code`: what it means and
// what to do about it. FdlabError only takes a code from it, so a new code
// must be declared (and documented: test/library/errors.test.ts renders this
// table into packages/fdlab/README.md). Syscall errors from the kernel pass
// through with their errno name as `code` ('EBADF', 'EAGAIN', 'EMFILE', ...),
// plus `errno` and `syscall`; those are not listed here.

/** One entry of ERRORS: what the code means, and what the user should do. */
export interface ErrorInfo {
  readonly meaning: string;
  readonly action: string;
}

export const ERRORS = {
  // ---- arguments (Node's own codes, same meaning)
  ERR_INVALID_ARG_TYPE: {
    meaning: 'an argument has the wrong type (not an fd number, Buffer, Int32Array, callback, net.Socket, ...)',
    action: 'pass what the message names; fds are non-negative integers',
  },
  ERR_INVALID_ARG_VALUE: {
    meaning: 'an argument or setting has a value fdlab does not accept (socketpair type, FDLAB_NATIVE_BUILD, heartbeatTimeoutMs)',
    action: 'use one of the values the message lists',
  },
  ERR_OUT_OF_RANGE: {
    meaning: 'a number is out of range: more than 253 fds (SCM_MAX_FD) in one message, an empty data buffer, or maxData/maxFds outside their limits',
    action: 'split the batch (or use FdChannel, which splits and rejoins it); send at least one data byte',
  },
  // ---- loading
  ERR_FDLAB_NATIVE_MISSING: {
    meaning: "fdlab's native module (fdlab.node) is not built for this platform, or FDLAB_NATIVE_BUILD names a build that is not there",
    action: "run 'npm install' or 'npm run build:native' in the fdlab package (needs python3, make and g++)",
  },
  // ---- passing fds
  ERR_CHANNEL_NOT_UNIX: {
    meaning: 'sendFds was given a channel that is not a Unix domain socket; the kernel would send the bytes and silently drop the fds',
    action: 'pass fds over an AF_UNIX socket, e.g. socketpair() or FdChannel',
  },
  ERR_FD_CTRUNC: {
    meaning: 'control data was truncated: the peer sent more fds than maxFds, or this process hit its fd limit; the fds that arrived were closed',
    action: 'raise maxFds, or the fd limit (ulimit -n); the lost fds must be sent again',
  },
  ERR_NO_FD: {
    meaning: 'recvFd got a message without an fd, or fdOf was given a socket or server with no open fd',
    action: 'check that the peer sends an fd with each message; call fdOf only on a connected socket or a listening server',
  },
  ERR_FD_WRONG_KIND: {
    meaning: 'adoptSocket/adoptServer got an fd that is not a stream socket in the state asked for (listening or connected)',
    action: 'adopt listeners with adoptServer and connections with adoptSocket; check the fd with describeFd',
  },
  ERR_POLLER_CLOSED: {
    meaning: 'want() was called on an FdWatcher after close()',
    action: 'make a new watchFd() watcher instead of reusing a closed one',
  },
  // ---- FdChannel
  ERR_CHANNEL_CLOSED: {
    meaning: 'the channel (or channel server) is closed, or the peer closed it before a message or fd arrived',
    action: 'stop using it; connect again if the work should go on',
  },
  ERR_CHANNEL_NOT_UNIX_STREAM: {
    meaning: 'FdChannel was given an fd that is not a connected Unix stream socket',
    action: 'use FdChannel.connect, FdChannel.pair, or a connected AF_UNIX SOCK_STREAM fd',
  },
  ERR_CHANNEL_GARBLED: {
    meaning: 'the peer does not speak FdChannel framing (bad header or flags, or fds that no frame claims); the channel closes with every fd it held',
    action: 'make sure both ends use FdChannel and nothing else writes to the socket',
  },
  ERR_CHANNEL_OVERSIZED: {
    meaning: 'a message is larger than maxMessageBytes or carries more than maxMessageFds; the channel closes',
    action: 'raise maxMessageBytes/maxMessageFds on the receiving side, or send smaller messages',
  },
  ERR_CHANNEL_TRUNCATED: {
    meaning: 'the peer closed the channel in the middle of a message; the partial message and its fds are dropped',
    action: 'treat it as the peer crashing; see why it exited',
  },
  ERR_PATH_NOT_SOCKET: {
    meaning: 'the path to listen on (a channel server or the upgrade socket) exists and is not a socket',
    action: 'remove that file or pick another path',
  },
  EADDRINUSE: {
    meaning: 'FdChannelServer.listen: a live process already listens on the socket path (fdlab raises it, with syscall bind)',
    action: 'stop the other process or pick another path; a stale socket file is removed for you',
  },
  EPIPE: {
    meaning: 'FdChannel.send after the peer closed the channel (also raised by the kernel, with syscall sendmsg)',
    action: 'stop sending; the peer is gone',
  },
  // ---- moving sockets out of Node
  ERR_SOCKET_NOT_DETACHABLE: {
    meaning: 'detachSocket got a socket with no open fd (destroyed or still connecting) or one with setEncoding() called',
    action: 'detach only connected sockets, and read Buffers (no setEncoding) from sockets you may detach',
  },
  ERR_SOCKET_WRITES_UNTRACKED: {
    meaning: 'libuv holds part of a write and trackWrites() was not called on the socket, so the unsent bytes cannot travel',
    action: 'call trackWrites(socket) as soon as you have the socket; or use detachSocket, which waits for the write',
  },
  ERR_DETACH_FLUSH_TIMEOUT: {
    meaning: 'detachSocket waited flushTimeoutMs for an untracked write to reach the kernel, and the peer did not read; the socket is left working',
    action: 'call trackWrites(socket) when you get the socket so unsent bytes travel with it, or raise flushTimeoutMs',
  },
  ERR_NODE_INTERNALS: {
    meaning: "this Node's net.Socket lacks an internal that moving sockets relies on (_handle.readStop, writeQueueSize, _readableState, ...); the message names what is missing and the Node version",
    action: 'run fdlab on a Node it supports (20, 22 or 24), or an fdlab release that supports this Node; Upgrader.start, detachSocket and adoptSocket refuse until then',
  },
  // ---- rebuilding a connection (TCP_REPAIR: dumpTcp, restoreTcp)
  ERR_TCP_REPAIR_PERMISSION: {
    meaning: "TCP_REPAIR was refused (EPERM): it needs CAP_NET_ADMIN in the user namespace that owns the socket's network namespace",
    action: "run as root, inside 'unshare -Urn' (an unprivileged user holds CAP_NET_ADMIN in its own namespaces), or in a container started with --cap-add NET_ADMIN",
  },
  ERR_TCP_REPAIR_STATE: {
    meaning: 'dumpTcp got an fd that is not a TCP connection in ESTABLISHED (a listener, a half-closed or closing connection, a Unix socket, ...); the socket is left as it was',
    action: 'dump only established TCP connections; move the others with fd passing (sendFds) or let them finish',
  },
  ERR_TCP_REPAIR_MOVING: {
    meaning: "dumpTcp read the connection's queues 16 times and they changed every time: segments kept arriving during the dump; the socket left repair mode and goes on",
    action: "keep the peer's packets away first (a firewall drop rule on the connection, as CRIU does), then dump",
  },
  // ---- hot upgrade (Upgrader)
  ERR_STATE_DIR: {
    meaning: 'the state dir (or its lock file) cannot be created or opened; the message names the path and the errno (EROFS, ENOSPC, EDQUOT, EACCES, ENOENT, ...)',
    action: 'do what the message says for that errno (remount read-write, free space, fix the owner or mode, create the parent), or pick another stateDir (fdlab serve: --state-dir)',
  },
  ERR_STATE_DIR_IN_USE: {
    meaning: 'another running server (the message names its pid) owns the state dir: one state dir serves one server and its upgrades; this start is refused',
    action: 'give this server another stateDir (fdlab serve: --state-dir), or stop the one named first',
  },
  ERR_STATE_DIR_UNSAFE: {
    meaning: 'the state dir is not a directory we own with mode 0700 (a symlink, another uid, or open to others); fdlab never repairs it',
    action: 'remove it or pick another stateDir; fdlab creates it with mode 0700',
  },
  ERR_SOCKET_PATH_TOO_LONG: {
    meaning: 'the upgrade socket path in the state dir is longer than a Unix socket path can hold',
    action: 'use a shorter stateDir',
  },
  ERR_PID_FILE: {
    meaning: 'the pid file cannot be written (the message names the path and the errno): at start the server stops serving; a new version refuses the upgrade before its ack, or hands everything back if it fails at the commit; a serving version keeps serving and retries every second',
    action: 'do what the message says for that errno (remount read-write, free space, fix the owner or mode, create the directory), or pick another pidFile (fdlab serve: --pid-file)',
  },
  ERR_UPGRADE_SOCKET: {
    meaning: 'the upgrade socket cannot be created in the state dir (the message names the path and the errno: EROFS, ENOSPC, EACCES, ...); the upgrade rolled back, the old version keeps serving',
    action: 'do what the message says for that errno, or pick another stateDir (fdlab serve: --state-dir)',
  },
  ERR_TOKEN_FILE: {
    meaning: "the upgrade token file for an external successor cannot be written in the state dir (the message names the path and the errno); the upgrade rolled back",
    action: 'do what the message says for that errno, or pick another stateDir (fdlab serve: --state-dir)',
  },
  ERR_SESSION_NOT_JSON: {
    meaning: "a connection's session holds a value JSON cannot carry as it is (a Map, a Set, a Date, a class instance, a function, a BigInt, undefined in an array, a cycle...): it would arrive changed, so the upgrade rolled back (or, after the commit, everything was taken back); the message names the connection and the field",
    action: 'make the session plain data (objects, arrays, strings, finite numbers, booleans, null): e.g. a Map as [...map] and new Map(entries) in the next version, a BigInt as a string',
  },
  ERR_APP_CALLBACK: {
    meaning: "the app's handedOver() or takenBack() threw (a process warning with this code): the connection was switched or served again anyway",
    action: "fix the app's callback; it must not throw",
  },
  ERR_BUSY_AT_DEADLINE: {
    meaning: 'a connection the app marked busy (markBusy) was still busy at the upgrade deadline: it was switched anyway, with the session and pending bytes its snapshot() gave then (a log line names it)',
    action: "answer within the deadline (fdlab serve --upgrade-timeout, timeoutMs), or make the app's snapshot() of a busy connection carry what the next version needs; fdlab/http resets such a connection in the next version (or give httpApp an endForUpgrade that ends a stream that would never end on its own)",
  },
  ERR_HTTP_TLS: {
    meaning: "httpApp() was given an https (TLS) server: a TLS connection's keys and sequence numbers live in the process's OpenSSL, not in the fd, so no other process can go on with it",
    action: 'terminate TLS in front of the server (a proxy or load balancer) and give fdlab/http a plain http.Server',
  },
  ERR_WS_UNSUPPORTED: {
    meaning: "wsApp() was given something that is not a ws 8.x WebSocketServer (fdlab/ws rebuilds WebSockets in the next version with the server's options.WebSocket and its setSocket()), or a server with permessage-deflate on a ws older than 8.20 (the extension is rebuilt with WebSocket.PerMessageDeflate, exported since 8.20), or one with allowSynchronousEvents: false, or a ws without that option (ws then keeps frames it has read in its Receiver until a later setImmediate: lost at the switch)",
    action: "pass the WebSocketServer of ws ^8.20.0 (fdlab's peerDependencies; tested with 8.20 and 8.23), with allowSynchronousEvents left at its default (true); other WebSocket libraries are not supported",
  },
  ERR_WS_DEFLATE: {
    meaning: "wsApp() was given a WebSocketServer with permessage-deflate and context takeover: the compression window lives in the process's zlib and cannot travel, so the next version could not inflate the client's next message (close code 1007)",
    action: 'create the WebSocketServer with perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } (each message compressed on its own: carried), or perMessageDeflate: false',
  },
  ERR_APP_SNAPSHOT: {
    meaning: "the app's snapshot() threw or did not return { session, pending: Buffer } while its connections were handed over; the upgrade rolled back (or, after the commit, everything was taken back)",
    action: 'fix the app: snapshot() returns { session, pending } with pending a Buffer (Buffer.alloc(0) if nothing is pending); the message says what was wrong',
  },
  ERR_CONNECTION_HANDED_OVER: {
    meaning: "the app wrote to, or end()ed, a connection the upgrade had handed to the new version: nothing was sent (the write's callback gets this error; no 'error' event); the engine counts these and logs them once per upgrade",
    action: 'stop writing to a connection once the upgrade took it (after its snapshot()); answer what it asked from the new version, through the session and pending bytes snapshot() returns',
  },
  ERR_HANDOVER_STATE: {
    meaning: 'the handover state machine was asked for a transition it does not have',
    action: 'a bug in fdlab: report it with the log',
  },
  ERR_UPGRADE_UNTRUSTED: {
    meaning: 'the process on the upgrade socket runs as another uid than expectedPeerUid; nothing is taken from it',
    action: 'run the new version as the same user, or set expectedPeerUid',
  },
  ERR_UPGRADE_TIMEOUT: {
    meaning: 'the upgrade did not finish within timeoutMs',
    action: 'see both logs for the step that stalled; raise timeoutMs for very many connections',
  },
  ERR_UPGRADE_GARBLED: {
    meaning: 'the other version sent an unexpected or malformed upgrade message (wrong type, count, fds or session)',
    action: 'run compatible versions of fdlab on both sides; see both logs',
  },
  ERR_UPGRADE_MESSAGE_TOO_LARGE: {
    meaning: 'fdlab was about to send an upgrade message larger than the other version accepts (64 MiB); it was not sent and the step failed (a rollback before the commit, a take-back after it)',
    action: 'a bug in fdlab (each connection larger than a message is held back, ERR_CONNECTION_TOO_LARGE): report it with the log',
  },
  ERR_CONNECTION_TOO_LARGE: {
    meaning: "one connection's state (its session as JSON, the bytes read and not consumed, the bytes written and not yet sent: a client that does not read) is larger than one upgrade message carries (60 MiB): the upgrade holds it back, the old version serves it and switches it once it is small enough; still too large at the upgrade deadline, it is closed (reset); in the new version's reports it is not reported, so a take-back closes it (a log line names it and its size)",
    action: 'keep sessions small; bound what you queue to one client (socket.write() returning false: stop writing until drain); or give the upgrade more time (timeoutMs, fdlab serve --upgrade-timeout) for a slow client to read',
  },
  ERR_UPGRADE_ABORTED: {
    meaning: 'the old version aborted the upgrade (its reason is in the message); it keeps serving',
    action: "see the old version's log, fix the cause, and upgrade again",
  },
  ERR_UPGRADE_REFUSED: {
    meaning: 'the old version refused the new one (wrong uid, pid or token, or no valid hello)',
    action: 'start the new version through the old one (SIGUSR2 or upgrade()), not by hand',
  },
  ERR_SUPERVISOR_GONE: {
    meaning: 'a worker started by a supervisor (fdlab run, fdlab-run, supervise()) found it dead before it could ask the kernel to stop it with the supervisor: it does not start (a successor: the old version rolls back, then stops on its own SIGTERM)',
    action: 'start the service again (its manager does: systemd Restart=, pm2, a container restart)',
  },
  ERR_SUPERVISOR_WRAPPED: {
    meaning: "a supervised worker's parent is not its supervisor: something between them (a shell) did not exec the server, so the supervisor's signals would not reach it",
    action: "make the command after -- the server itself, or exec it: sh -c 'exec node server.js'",
  },
  ERR_SUCCESSOR_REFUSED: {
    meaning: "the new version could not take over and said why (its reason, with its own code, is in the message: the app threw while serving a handed-over connection, its pid file cannot be written, ...); the old version rolled back and keeps serving",
    action: 'fix what the reason names in the new version (its log has the stack), then upgrade again',
  },
  ERR_SUCCESSOR_EXITED: {
    meaning: 'the new version exited before the commit; the old version keeps serving',
    action: "see the successor's log for why it exited",
  },
  ERR_UPGRADE_MEMORY: {
    meaning: "the memory limit (cgroup) leaves less room than the new version needs (about this version's private memory): spawnSuccessor starts nothing, the upgrade rolls back and the old version keeps serving",
    action: 'raise the memory limit by what the message says (systemd MemoryMax, docker --memory) and upgrade again',
  },
  ERR_SUCCESSOR_SIGNALLED: {
    meaning: 'a signal killed the new version while Node started, before its handlers (pkill -USR2 -f reaches every version); the old version keeps serving and ignores SIGUSR2 for a moment',
    action: 'send SIGUSR2 to the pid in the pid file only, or run under a supervisor',
  },
  ERR_UPGRADE: {
    meaning: "an upgrade result's code when a step failed without a code of its own; the reason says what failed",
    action: 'read the reason and the log; the old version keeps serving',
  },
  ERR_UPGRADE_INTERNAL: {
    meaning: "an upgrade result's code when upgrade() itself failed unexpectedly; whatever still serves is kept",
    action: 'a bug in fdlab: report it with the log (it has the stack)',
  },
  // ---- fdlab/testing (startUpgradePair)
  ERR_PAIR_UPGRADE_FAILED: {
    meaning: "an upgrade pair's upgrade() did not end in 'upgraded' (rolled back, taken back, ignored or failed); err.result is the old version's result, err.cause the next version's start error if it had one",
    action: "read the message and pair.logs (both versions' log lines); the version that serves is still pair.current",
  },
  ERR_PAIR_CLOSED: {
    meaning: 'upgrade() was called on an upgrade pair after close()',
    action: 'start a new pair with startUpgradePair',
  },
} as const satisfies Record<string, ErrorInfo>;

/** Every code fdlab raises itself; see ERRORS for what each means. */
export type FdlabErrorCode = keyof typeof ERRORS;

export class FdlabError extends Error {
  readonly code: FdlabErrorCode;

  constructor(code: FdlabErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FdlabError';
    this.code = code;
  }
}

/**
 * A TypeError, RangeError or plain Error (not an FdlabError) carrying one of
 * fdlab's codes, for failures Node itself would report with that class.
 */
export function codedError<E extends Error>(
  Kind: new (message: string) => E,
  code: FdlabErrorCode,
  message: string,
  options?: { cause?: unknown },
): E & { code: FdlabErrorCode } {
  const error = Object.assign(new Kind(message), { code });
  if (options && 'cause' in options) Object.assign(error, { cause: options.cause });
  return error;
}

export function isErrorWithCode(error: unknown, code?: string): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' &&
    (code === undefined || (error as unknown as { code: string }).code === code);
}
