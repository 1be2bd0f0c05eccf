// The upgrade socket's directory: whoever can connect there can ask for every
// connection we hold, so it must be ours, private, and checked every time.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdChannelServer } from '../channel';
import { FdlabError, isErrorWithCode } from '../errors';
import { fileError, STATE_DIR_ALTERNATIVE } from './file-errors';
import { MAX_UPGRADE_MESSAGE } from './protocol';

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;
export const UPGRADE_SOCKET_NAME = 'upgrade.sock';
export const TOKEN_FILE_NAME = 'upgrade.token';

export function upgradeSocketPath(stateDir: string): string {
  return path.join(stateDir, UPGRADE_SOCKET_NAME);
}

/** Refuses a socket path the kernel would truncate (bind would succeed at another path). */
export function checkSocketPath(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH) {
    throw new FdlabError(
      'ERR_SOCKET_PATH_TOO_LONG',
      `the upgrade socket path ${socketPath} is ${bytes} bytes; a Unix socket path holds at most ${MAX_SOCKET_PATH}: use a shorter stateDir (fdlab serve: --state-dir)`,
    );
  }
}

/**
 * Creates the state dir (mode 0700) or checks the one there: a real
 * directory, owned by us, that nobody else may enter. Anything else is
 * refused, never repaired: someone else may have made it on purpose.
 */
export function ensureStateDir(stateDir: string): void {
  checkSocketPath(upgradeSocketPath(stateDir));
  let stat: fs.Stats;
  try {
    try {
      fs.mkdirSync(stateDir, { mode: 0o700 });
    } catch (error) {
      if (isErrorWithCode(error, 'ENOENT')) {
        fs.mkdirSync(path.dirname(stateDir), { recursive: true, mode: 0o700 });
        fs.mkdirSync(stateDir, { mode: 0o700 });
      } else if (!isErrorWithCode(error, 'EEXIST')) {
        throw error;
      }
    }
    stat = fs.lstatSync(stateDir);
  } catch (error) {
    throw fileError('ERR_STATE_DIR', 'cannot create the state dir', stateDir, error, STATE_DIR_ALTERNATIVE);
  }
  const uid = process.getuid!();
  const problem = !stat.isDirectory()
    ? 'is not a directory (a symlink or a file)'
    : stat.uid !== uid
      ? `belongs to uid ${stat.uid}, not to us (uid ${uid})`
      : (stat.mode & 0o077) !== 0
        ? `has mode ${(stat.mode & 0o777).toString(8)}: others may enter it`
        : null;
  if (problem) {
    throw new FdlabError(
      'ERR_STATE_DIR_UNSAFE',
      `the state dir ${stateDir} ${problem}; remove it or pick another stateDir (fdlab serve: --state-dir; fdlab creates it with mode 0700)`,
    );
  }
}

/**
 * Listens on the upgrade socket with mode 0600 from the first moment: bound
 * under a random name in the private dir, chmod, then renamed into place, so
 * there is no window in which the socket exists with the umask's mode.
 */
export async function listenUpgradeSocket(stateDir: string): Promise<{ server: FdChannelServer; close: () => Promise<void> }> {
  ensureStateDir(stateDir);
  const socketPath = upgradeSocketPath(stateDir);
  try {
    const stat = fs.lstatSync(socketPath);
    if (!stat.isSocket()) {
      throw new FdlabError('ERR_PATH_NOT_SOCKET', `${socketPath} exists and is not a socket; remove it`);
    }
  } catch (error) {
    if (!isErrorWithCode(error, 'ENOENT')) throw error;
  }
  const temporary = path.join(stateDir, `.${UPGRADE_SOCKET_NAME}.${randomBytes(4).toString('hex')}`);
  let server: FdChannelServer;
  try {
    server = await FdChannelServer.listen(temporary, { mode: 0o600, maxMessageBytes: MAX_UPGRADE_MESSAGE });
  } catch (error) {
    throw upgradeSocketError(socketPath, error);
  }
  try {
    // A stale socket of a dead process is replaced; a live one cannot be there:
    // one state dir has one owner (state-dir-lock.ts), and its upgrades are one at a time.
    fs.renameSync(temporary, socketPath);
  } catch (error) {
    await server.close();
    fs.rmSync(temporary, { force: true });
    throw upgradeSocketError(socketPath, error);
  }
  return {
    server,
    // Closed once the successor is chosen, or on a rollback: the token was read or is void.
    close: async () => {
      await server.close();
      fs.rmSync(socketPath, { force: true });
      fs.rmSync(path.join(stateDir, TOKEN_FILE_NAME), { force: true });
    },
  };
}

/** Our own coded errors pass; a syscall's becomes ERR_UPGRADE_SOCKET naming the path and the fix. */
function upgradeSocketError(socketPath: string, error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (code?.startsWith('ERR_') && !(error as { syscall?: string }).syscall) return error;
  return fileError('ERR_UPGRADE_SOCKET', 'cannot create the upgrade socket', socketPath, error, STATE_DIR_ALTERNATIVE);
}

/** A one-time token for an external successor, in a 0600 file no one else can have made. */
export function writeTokenFile(stateDir: string, token: string): string {
  const file = path.join(stateDir, TOKEN_FILE_NAME);
  try {
    fs.rmSync(file, { force: true });
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, token);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    fs.rmSync(file, { force: true, maxRetries: 0 });
    throw fileError('ERR_TOKEN_FILE', 'cannot write the upgrade token file', file, error, STATE_DIR_ALTERNATIVE);
  }
  return file;
}

export function readTokenFile(socketPath: string): string | undefined {
  try {
    return fs.readFileSync(path.join(path.dirname(socketPath), TOKEN_FILE_NAME), 'utf8').trim();
  } catch {
    return undefined;
  }
}
