// What one traced call does to its process's fd table: the fds it makes
// (openat, socket, socketpair, accept4, dup*, fcntl(F_DUPFD*), recvmsg with
// SCM_RIGHTS), the fd it closes, the fds it uses; and, for clone/fork, the
// process or thread it starts. Only decorated fds count as uses: with -yy
// strace decorates every fd argument, so a bare number (kill's pid) is none.
import type { SyscallLine } from './calls';
import { parseTracedFd, splitDecorated, type TracedFd } from './decoration';
import type { FdPassingEvent } from './parse';
import { arrayItems, splitTopLevel } from './scan';

export interface FdEffects {
  creates: TracedFd[];
  closes: number[];
  uses: TracedFd[];
  /** clone/clone3/fork/vfork: the new task and whether it shares the fd table (a thread, CLONE_FILES). */
  started?: { pid: number; sharesFds: boolean };
}

function decorated(text: string | undefined): TracedFd | null {
  if (text === undefined) return null;
  const split = splitDecorated(text.trim());
  return split?.decoration !== undefined ? parseTracedFd(text.trim()) : null;
}

/** `= 19<TCP:[...]>` at the end of the call. */
function resultFd(call: SyscallLine): TracedFd | null {
  const last = call.line.split('\n').pop() ?? '';
  const match = /\)\s*=\s*(\d+(?:<.*>)?)\s*$/s.exec(last);
  return match ? parseTracedFd(match[1]) : null;
}

const NONE: FdEffects = { creates: [], closes: [], uses: [] };

export function fdEffects(call: SyscallLine, passing: FdPassingEvent | undefined): FdEffects {
  const failed = call.errno !== undefined || call.result === null || call.result < 0;
  const args = splitTopLevel(call.args);
  const first = decorated(args[0]);
  const uses = first ? [first] : [];
  switch (call.syscall) {
    case 'clone':
    case 'clone3':
    case 'fork':
    case 'vfork': {
      if (failed || !call.result) return NONE;
      const flags = call.syscall === 'fork' || call.syscall === 'vfork' ? '' : call.args;
      return { ...NONE, started: { pid: call.result, sharesFds: /CLONE_THREAD|CLONE_FILES/.test(flags) } };
    }
    case 'close':
      return { creates: [], closes: first && !failed ? [first.fd] : [], uses };
    case 'open':
    case 'openat':
    case 'socket':
    case 'accept':
    case 'accept4':
    case 'dup': {
      const got = failed ? null : resultFd(call);
      return { creates: got ? [got] : [], closes: [], uses };
    }
    case 'dup2':
    case 'dup3': {
      const got = failed ? null : resultFd(call);
      // The target number is closed first if it was open (unless it is the source: then nothing happens).
      const target = decorated(args[1]) ?? (got ? { ...got } : null);
      const same = first && got && first.fd === got.fd;
      return { creates: got && !same ? [got] : [], closes: target && !same ? [target.fd] : [], uses };
    }
    case 'fcntl': {
      const got = !failed && /^F_DUPFD/.test(args[1] ?? '') ? resultFd(call) : null;
      return { creates: got ? [got] : [], closes: [], uses };
    }
    case 'socketpair': {
      const pair = failed ? [] : arrayItems(args[3] ?? '').map((item) => parseTracedFd(item)).filter((fd): fd is TracedFd => fd !== null);
      return { creates: pair, closes: [], uses: [] };
    }
    case 'sendmsg':
      return { ...NONE, uses: [...uses, ...(passing ? passing.fds : [])] };
    case 'recvmsg':
      return { creates: passing ? passing.fds : [], closes: [], uses };
    case 'execve':
    case 'kill':
    case 'tgkill':
      return NONE;
    default:
      return { ...NONE, uses };
  }
}
