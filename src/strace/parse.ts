// The fd-passing events of a capture: sendmsg and recvmsg calls that carried
// SCM_RIGHTS. A sendmsg lists the sender's fds, a recvmsg the numbers the
// receiver got for them:
//
//   msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS,
//                 cmsg_data=[5<TCP:[127.0.0.1:35634->127.0.0.1:9000]>]}]
import { syscallLines, type SyscallLine } from './calls';
import { parseTracedFd, splitDecorated, type TracedFd } from './decoration';
import { arrayItems, splitTopLevel, structFields } from './scan';

export interface FdPassingEvent {
  pid: number;
  time: string;
  syscall: 'sendmsg' | 'recvmsg';
  /** The Unix socket the fds travelled on, and its decoration ("UNIX-STREAM:[12345->12346]"; '' without -y). */
  channelFd: number;
  channel: string;
  /** The fds strace printed, in order. */
  fds: TracedFd[];
  /** How many fds the call carried: more than fds.length when strace cut the array ("...", see -s). */
  fdCount: number;
  /** The return value: bytes sent or received. */
  bytes: number;
  line: string;
}

// On 64-bit Linux cmsg_len is CMSG_LEN(4 * n): a 16-byte header, then n ints.
const CMSG_HEADER_BYTES = 16;

function fdsIn(cmsg: Map<string, string>): { shown: TracedFd[]; count: number } {
  const items = arrayItems(cmsg.get('cmsg_data') ?? '');
  const shown = items.map(parseTracedFd).filter((fd): fd is TracedFd => fd !== null);
  const cut = items[items.length - 1] === '...';
  const declared = Math.floor((Number(cmsg.get('cmsg_len')) - CMSG_HEADER_BYTES) / 4);
  return { shown, count: cut && declared > shown.length ? declared : shown.length };
}

function toEvent(call: SyscallLine): FdPassingEvent | null {
  // A failed call (EAGAIN from a non-blocking recvmsg) moved no fds.
  if (call.result === null || call.result < 0) return null;
  const [channelArg = '', message = ''] = splitTopLevel(call.args);
  const fds: TracedFd[] = [];
  let fdCount = 0;
  for (const item of arrayItems(structFields(message).get('msg_control') ?? '')) {
    const cmsg = structFields(item);
    if (cmsg.get('cmsg_level') !== 'SOL_SOCKET' || cmsg.get('cmsg_type') !== 'SCM_RIGHTS') continue;
    const { shown, count } = fdsIn(cmsg);
    fds.push(...shown);
    fdCount += count;
  }
  const channel = splitDecorated(channelArg);
  if (fdCount === 0 || !channel) return null;
  return {
    pid: call.pid,
    time: call.time,
    syscall: call.syscall as FdPassingEvent['syscall'],
    channelFd: channel.fd,
    channel: channel.decoration ?? '',
    fds,
    fdCount,
    bytes: call.result,
    line: call.line,
  };
}

/** The sendmsg/recvmsg calls of a capture that passed fds, in capture order. */
export function parseCapture(capture: string): FdPassingEvent[] {
  return syscallLines(capture)
    .filter((call) => call.syscall === 'sendmsg' || call.syscall === 'recvmsg')
    .map(toEvent)
    .filter((event): event is FdPassingEvent => event !== null);
}

export { syscallLines, type SyscallLine };
