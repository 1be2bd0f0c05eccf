// The syscalls of a capture made with strace -f -tt: one record per call,
// with a call that strace split across lines (another thread or process
// printed in between) put back together.
//
//   12040 21:28:51.032556 recvmsg(3<UNIX-STREAM:[212215->212214]>,  <unfinished ...>
//   12047 21:28:51.033099 sendmsg(...) = 14
//   12040 21:28:51.040012 <... recvmsg resumed>{msg_name=NULL, ...}, 0) = 14
import { matchingClose } from './scan';

export interface SyscallLine {
  /** The thread id strace printed (-f; the pid for a main thread); 0 in a capture without -f. */
  pid: number;
  /** When the call started, as -tt printed it ("12:34:56.789012"); '' without -tt. */
  time: string;
  syscall: string;
  /** The arguments as printed, between the parentheses. */
  args: string;
  /** The return value; null when there is none ("= ?": the process died in the call). */
  result: number | null;
  /** "EAGAIN" and the like, when the call failed. */
  errno?: string;
  /** The capture's line, or both lines of a split call. */
  line: string;
}

// "12345 ", "[pid 12345] " (strace writing to a terminal), then "12:34:56.789012 ".
export const PREFIX = /^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(?:(\d\d:\d\d:\d\d(?:\.\d+)?)\s+)?(.*)$/s;
const UNFINISHED = /\s*<unfinished \.\.\.>$/;
const RESUMED = /^<\.\.\. (\w+) resumed>(.*)$/s;
const RESULT = /^\s*=\s*(\?|-?\d+|0x[0-9a-f]+)(?:\s+([A-Z][A-Z0-9_]*))?/i;

interface Started {
  time: string;
  body: string;
  line: string;
}

function complete(pid: number, started: Started): SyscallLine | null {
  const name = /^(\w+)\(/.exec(started.body);
  if (!name) return null; // "--- SIGCHLD ...", "+++ exited with 0 +++"
  const open = name[0].length - 1;
  const close = matchingClose(started.body, open);
  const result = close < 0 ? null : RESULT.exec(started.body.slice(close + 1));
  if (!result) return null;
  return {
    pid,
    time: started.time,
    syscall: name[1],
    args: started.body.slice(open + 1, close),
    result: result[1] === '?' ? null : Number(result[1]),
    ...(result[2] ? { errno: result[2] } : {}),
    line: started.line,
  };
}

/** Every syscall in the capture, in the order they finished; only those named `name` if given. */
export function syscallLines(capture: string, name?: string): SyscallLine[] {
  const calls: SyscallLine[] = [];
  const unfinished = new Map<number, Started>(); // by pid: each thread has at most one call open
  for (const line of capture.split('\n')) {
    const [, bracketPid, plainPid, time = '', rest] = PREFIX.exec(line.trimEnd())!;
    const pid = Number(bracketPid ?? plainPid ?? 0);
    let started: Started = { time, body: rest, line };
    const resumed = RESUMED.exec(rest);
    if (resumed) {
      const head = unfinished.get(pid);
      unfinished.delete(pid);
      if (!head || !head.body.startsWith(`${resumed[1]}(`)) continue; // its start is not in the capture
      started = { time: head.time, body: head.body + resumed[2], line: `${head.line}\n${line}` };
    }
    if (UNFINISHED.test(started.body)) {
      unfinished.set(pid, { ...started, body: started.body.replace(UNFINISHED, '') });
      continue;
    }
    const call = complete(pid, started);
    if (call && (name === undefined || call.syscall === name)) calls.push(call);
  }
  return calls;
}
