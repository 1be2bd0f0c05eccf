// A filesystem failure on one of the files the engine keeps (the state dir,
// the pid file, the upgrade socket, the token file) as a coded error that
// names the path, what the kernel said, and the fix for that errno. The
// kernel's own error (EROFS, ENOSPC, ...) stays the cause, and its errno and
// syscall are kept on the error, as Node's system errors have them.
import { FdlabError, type FdlabErrorCode } from '../errors';

/** What to do about each errno the state dir, pid file or upgrade socket can meet. */
function remedy(errno: string | undefined): string | null {
  switch (errno) {
    case 'EROFS':
      return 'its file system is mounted read-only: remount it read-write';
    case 'ENOSPC':
      return 'its file system is full: free some space';
    case 'EDQUOT':
      return "the user's disk quota is used up: free some space or raise the quota";
    case 'EACCES':
    case 'EPERM':
      return `uid ${process.getuid?.()} may not write there: fix the directory's owner or mode`;
    case 'ENOENT':
      return 'its directory does not exist (deleted?): create it';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ELOOP':
      return 'it is a symlink, which fdlab never follows: remove it';
    default:
      return null;
  }
}

/**
 * `what` ("cannot write the pid file") + the path + the errno and its fix +
 * `alternative` ("or pick another pidFile (fdlab serve: --pid-file)").
 */
export function fileError(code: FdlabErrorCode, what: string, file: string, error: unknown, alternative: string): FdlabError {
  const system = error as NodeJS.ErrnoException;
  const errno = typeof system?.code === 'string' ? system.code : undefined;
  const fix = remedy(errno);
  const said = errno ? `${errno}${system.syscall ? ` (${system.syscall})` : ''}` : ((error as Error)?.message ?? String(error));
  const coded = new FdlabError(code, `${what} ${file}: ${said}; ${fix ? `${fix}, or ${alternative}` : alternative}`, { cause: error });
  if (errno) Object.assign(coded, { errno: system.errno, syscall: system.syscall, systemCode: errno });
  return coded;
}

export const PID_FILE_ALTERNATIVE = 'pick another pidFile (fdlab serve: --pid-file)';
/** The supervisor's own pid file (supervise()'s pidFile): `fdlab run --pid-file`, not fdlab serve's. */
export const SUPERVISOR_PID_FILE_ALTERNATIVE = 'pick another pidFile (fdlab run: --pid-file)';
export const STATE_DIR_ALTERNATIVE = 'pick another stateDir (fdlab serve: --state-dir)';
