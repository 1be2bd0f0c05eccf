// A lab's strace captures as one timeline: a lane per process, each call that
// matters as an event (bind, listen, accept4, connect, execve, kill, signals,
// fd passing, close, and the files a role opens itself), each handed-over fd
// as an arrow from the sendmsg to the recvmsg, with its number on both ends.
// What the runtime does to load itself (shared libraries, .js modules, /proc,
// the pipes of its own logging) is marked as start-up noise: folded away in
// the pictures, kept in the capture and in the timeline's data.
import { pairPassedFds, describeTracedFd, type FdPair, type RoleCapture } from './annotate';
import { PREFIX, syscallLines, type SyscallLine } from './calls';
import { parseTracedFd, splitDecorated, type TracedFd } from './decoration';
import { fdEffects, type FdEffects } from './fd-effects';
import { fdLives, type FdHow } from './fd-lifetimes';
import { decodeFrames, describeFrames, messageBytes } from './frame-bytes';
import { parseCapture, type FdPassingEvent } from './parse';
import { arrayItems, splitTopLevel } from './scan';

export interface CaptureFile {
  /** The role: the capture's file name without .strace. */
  role: string;
  text: string;
}

export interface TimelineEvent {
  id: number;
  role: string;
  pid: number;
  lane: number;
  /** Microseconds since midnight, from -tt; 0 without it. */
  micros: number;
  time: string;
  syscall: string;
  /** A few words: "bind fd 3 127.0.0.1:7000", "sendmsg fd 17 on fd 20". */
  summary: string;
  /** The capture's line (both lines of a split call), unchanged. */
  line: string;
  /** 1-based line number in the role's capture (of the call's first line). */
  lineNo: number;
  errno?: string;
  /** Start-up noise: the runtime loading itself. */
  noise: boolean;
  /** The objects (see Timeline.objects) the call touches. */
  objects: string[];
  /** fd passing: the channel's object id. */
  channel?: string;
  /** sendmsg/recvmsg: their bytes read as FdChannel frames, one line each. */
  frames?: string[];
  /** sendmsg/recvmsg with SCM_RIGHTS: the fds it carried as printed (and how many there were). */
  fds?: number[];
  fdCount?: number;
  /** The process (its main task's pid) whose fd table the call used; `pid` is the task (a thread's id). */
  process?: number;
  /** Where each fd the call uses (or makes) came from; `by` is the event that made it (here, or in the parent for 'forked'). */
  fdOrigins?: FdOrigin[];
  /** The fds this call made and closed (creating calls: openat, socket, socketpair, accept4, dup*, fcntl(F_DUPFD*), recvmsg). */
  creates?: number[];
  closes?: number[];
  /** A call the lab's lesson rests on (see markKeyCalls): never folded. */
  key?: boolean;
}

export interface FdOrigin {
  fd: number;
  how: FdHow;
  by: number | null;
}

export interface Handover {
  id: number;
  /** Event ids; null when no capture shows that side. */
  from: number | null;
  to: number | null;
  fromFd: number | null;
  toFd: number | null;
  /** Index of the fd in its message (arrows of one message fan out by it). */
  index: number;
  object: string;
  channel: string;
  basis: FdPair['basis'];
}

export interface Lane {
  role: string;
  /** The process (one lane per process: its threads share its fd table). */
  pid: number;
  label: string;
  /** The role, or which of its processes this is when another lane of the role forked it: "a-parent child". */
  name: string;
  /** The same process as this machine sees it, when strace saw another pid namespace's numbers (a container). */
  hostPid?: number;
}

/** A role's program as its own pid namespace and this machine number it (the runner records them for containers). */
export interface RolePid {
  role: string;
  pid: number;
  hostPid: number;
}

export interface TimelineObject {
  id: string;
  label: string;
  /** 'channel': a Unix socket fds travelled on; 'passed': an fd that was handed over. */
  kind: 'channel' | 'passed';
}

export interface Timeline {
  lanes: Lane[];
  /** Every call of every capture, noise included, ordered by time. */
  events: TimelineEvent[];
  handovers: Handover[];
  objects: TimelineObject[];
  startMicros: number;
  noiseCount: number;
}


export function timeMicros(time: string): number {
  const match = /^(\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(time);
  if (!match) return 0;
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1e6 + Number((match[4] ?? '0').padEnd(6, '0').slice(0, 6));
}

// ---- objects: every way strace names one socket or file, joined ----

class Union {
  private readonly parent = new Map<string, string>();

  find(key: string): string {
    let root = key;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root)!;
    this.parent.set(key, root);
    return root;
  }

  join(a: string, b: string): void {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

/** The names strace gave one open object: its inode, its endpoints, its path (a file's). */
function keysOf(fd: TracedFd): string[] {
  const keys: string[] = [];
  if (fd.inode !== undefined) keys.push(`ino:${fd.inode}`);
  // A connection's two Unix ends are one connection: the object a filter picks.
  if (fd.kind === 'unix' && fd.peerInode !== undefined) keys.push(`ino:${fd.peerInode}`);
  if (fd.local !== undefined) keys.push(`${fd.kind.replace(/6$/, '')}:${[fd.local, fd.remote].filter(Boolean).join('->')}`);
  if (fd.kind === 'file' && fd.path) keys.push(`file:${fd.path}`);
  return keys;
}

// ---- what each call says, in a few words ----

const NOISE_PATH = /^(?:\/(?:usr|lib|lib64|etc|proc|sys|dev|bin|sbin)\/)|\.(?:js|cjs|mjs|map|json|node|so(?:\.\d+)*)$|node_modules/;

function fdArg(text: string | undefined): TracedFd | null {
  return text === undefined ? null : parseTracedFd(text.trim());
}

function quoted(text: string | undefined): string {
  const match = /^"(.*)"/s.exec(text ?? '');
  return match ? match[1] : '';
}

/** `5<TCP:[...]>` after ") = ", when strace decorated the result (accept4, openat, socket). */
function resultFd(call: SyscallLine): TracedFd | null {
  const first = call.line.split('\n').pop() ?? '';
  const match = /\)\s*=\s*(\d+(?:<.*>)?)(?:\s+[A-Z]\w*\s*\(.*\))?\s*$/s.exec(first);
  return match ? parseTracedFd(match[1]) : null;
}

function address(text: string | undefined): string {
  if (!text) return '';
  const unix = /sun_path=(@?"[^"]*")/.exec(text);
  if (unix) return unix[1].replace(/"/g, '');
  const port = /sin6?_port=htons\((\d+)\)/.exec(text)?.[1];
  const host = /inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]*)"/.exec(text)?.[1];
  return port !== undefined ? `${host ?? '?'}:${port}` : '';
}

function shortFd(fd: TracedFd | null): string {
  if (!fd) return '?';
  if (fd.kind === 'file') return `fd ${fd.fd} ${fd.path?.split('/').pop()}`;
  if (fd.kind === 'tcp' || fd.kind === 'tcp6') return `fd ${fd.fd} TCP ${fd.local !== undefined ? [fd.local, fd.remote].filter(Boolean).join('->') : `inode ${fd.inode ?? '?'}`}`;
  if (fd.kind === 'unix') return `fd ${fd.fd} unix${fd.path ? ` ${fd.path}` : ''}`;
  return `fd ${fd.fd}`;
}

/** `fd 19 TCP`, `fd 20 unix`, `fd 17 tmp.txt`: the number and what it is, without its addresses. */
function kindFd(fd: TracedFd | null): string {
  if (!fd) return '?';
  const kind = { tcp: 'TCP', tcp6: 'TCP', udp: 'UDP', udp6: 'UDP', unix: 'unix', file: fd.path?.split('/').pop() ?? 'file', other: '' }[fd.kind];
  return `fd ${fd.fd}${kind ? ` ${kind}` : ''}`;
}

interface Described {
  summary: string;
  fds: TracedFd[];
  noise: boolean;
}

function describeCall(call: SyscallLine, passing: FdPassingEvent | undefined, firstExecve: boolean): Described {
  const args = splitTopLevel(call.args);
  const first = fdArg(args[0]);
  const failed = call.errno ? ` = ${call.errno}` : '';
  const fds = first ? [first] : [];
  switch (call.syscall) {
    case 'bind':
    case 'connect':
      // Before connect returns, -yy knows a TCP socket by its inode only: the address is the argument.
      // A failed call without the inode: lab 4's `bind fd 18 TCP inode 12413419 127.0.0.1:8080 = EADDRINUSE` lost its result to a narrow lane.
      return { summary: `${call.syscall} ${call.syscall === 'connect' || call.errno ? `${kindFd(first)}${call.syscall === 'connect' ? ' →' : ''}` : shortFd(first)} ${address(args[1])}${failed}`, fds, noise: false };
    case 'listen':
      return { summary: `listen ${call.errno ? kindFd(first) : shortFd(first)}${failed}`, fds, noise: false };
    case 'accept':
    case 'accept4': {
      const got = resultFd(call);
      if (call.errno === 'EAGAIN') return { summary: `${call.syscall} fd ${first?.fd} = EAGAIN`, fds, noise: true };
      return { summary: `${call.syscall} fd ${first?.fd} → ${shortFd(got)}${failed}`, fds: got ? [...fds, got] : fds, noise: false };
    }
    case 'execve': {
      const program = quoted(args[0]);
      const argv = (args[1] ?? '').replace(/^\[|\]$/g, '').split(', ').map((a) => a.replace(/^"|"$/g, '').split('/').pop());
      // A failed execve is a search along PATH; the first one is the runtime starting.
      return { summary: `execve ${argv.slice(0, 3).join(' ') || program}${failed}`, fds: [], noise: Boolean(call.errno) && !firstExecve };
    }
    case 'kill':
    case 'tgkill':
      return { summary: `${call.syscall} ${args.join(' ')}${failed}`, fds: [], noise: false };
    // fds made without a name of their own: shown only when a shown call uses them (buildTimeline decides).
    case 'socket': {
      const got = resultFd(call);
      return { summary: `socket → ${call.errno ?? kindFd(got)}`, fds: got ? [got] : [], noise: true };
    }
    case 'socketpair': {
      const pair = arrayItems(args[3] ?? '').map((item) => parseTracedFd(item)).filter((fd): fd is TracedFd => fd !== null);
      return { summary: `socketpair → ${call.errno ?? pair.map((fd) => `fd ${fd.fd}`).join(' + ')}`, fds: pair, noise: true };
    }
    case 'dup':
    case 'dup2':
    case 'dup3':
    case 'fcntl': {
      const got = resultFd(call);
      const duplicating = call.syscall !== 'fcntl' || /^F_DUPFD/.test(args[1] ?? '');
      if (!duplicating) return { summary: `fcntl fd ${first?.fd} ${args[1] ?? ''}`, fds, noise: true };
      // fdlab's dup() is fcntl(F_DUPFD_CLOEXEC): a second number for the same open socket or file.
      return { summary: `${call.syscall === 'fcntl' ? 'dup' : call.syscall} ${kindFd(first)} → ${call.errno ?? `fd ${got?.fd ?? '?'}`}`, fds: got ? [...fds, got] : fds, noise: true };
    }
    case 'clone':
    case 'clone3':
    case 'fork':
    case 'vfork':
      return { summary: `${call.syscall} → ${call.errno ?? `pid ${call.result}`}`, fds: [], noise: true };
    case 'sendmsg':
    case 'recvmsg': {
      if (call.errno) return { summary: `${call.syscall} fd ${first?.fd} = ${call.errno}`, fds, noise: call.errno === 'EAGAIN' };
      if (passing) {
        const shown = passing.fds.map((fd) => fd.fd);
        const list = shown.length > 4 ? `${shown.slice(0, 3).join(',')}…` : shown.join(',');
        const count = passing.fdCount === 1 ? 'fd' : `${passing.fdCount} fds`;
        return { summary: `${call.syscall} ${count} ${list} on fd ${passing.channelFd}`, fds: [...fds, ...passing.fds], noise: false };
      }
      return { summary: `${call.syscall} ${call.result} bytes on fd ${first?.fd}`, fds, noise: !first || first.kind === 'other' };
    }
    case 'close': {
      const internal = !first || first.kind === 'other' || (first.kind === 'file' && NOISE_PATH.test(first.path ?? ''));
      return { summary: `close ${shortFd(first)}${failed}`, fds, noise: internal };
    }
    case 'openat':
    case 'open': {
      const file = quoted(call.syscall === 'open' ? args[0] : args[1]);
      const got = resultFd(call);
      const directory = /O_DIRECTORY/.test(call.args);
      return { summary: `${call.syscall} ${file.split('/').pop()} → ${call.errno ?? `fd ${call.result}`}`, fds: got ? [got] : [], noise: Boolean(call.errno) || directory || NOISE_PATH.test(file) || !file.includes('/') };
    }
    case 'read':
    case 'write':
    case 'pread64':
    case 'pwrite64': {
      const internal = !first || first.kind === 'other' || (first.kind === 'file' && NOISE_PATH.test(first.path ?? ''));
      return { summary: `${call.syscall} ${shortFd(first)}: ${call.errno ?? `${call.result} bytes`}`, fds, noise: internal || call.errno === 'EAGAIN' };
    }
    default:
      return { summary: `${call.syscall}(${call.args.length > 40 ? `${call.args.slice(0, 40)}…` : call.args})${failed}`, fds, noise: false };
  }
}

/** `--- SIGUSR2 {si_signo=...} ---` and `+++ exited with 0 +++`: not syscalls, but part of the story. */
function signalsAndExits(text: string): { pid: number; time: string; summary: string; line: string; lineNo: number }[] {
  const found: { pid: number; time: string; summary: string; line: string; lineNo: number }[] = [];
  text.split('\n').forEach((line, i) => {
    const [, bracketPid, plainPid, time = '', rest] = PREFIX.exec(line.trimEnd())!;
    const pid = Number(bracketPid ?? plainPid ?? 0);
    const signal = /^--- (SIG\w+) \{(.*)\} ---$/.exec(rest);
    if (signal) {
      const from = /si_pid=(\d+)/.exec(signal[2]);
      found.push({ pid, time, summary: `got ${signal[1]}${from ? ` from pid ${from[1]}` : ''}`, line, lineNo: i + 1 });
    }
    const end = /^\+\+\+ (exited with \d+|killed by SIG\w+(?: \(core dumped\))?) \+\+\+$/.exec(rest);
    if (end) found.push({ pid, time, summary: end[1], line, lineNo: i + 1 });
  });
  return found;
}

const FRAME_SYSCALLS = new Set(['sendmsg', 'recvmsg']);
const FILE_USE = new Set(['close', 'read', 'write', 'pread64', 'pwrite64']);

interface Draft extends Omit<TimelineEvent, 'id' | 'lane' | 'objects' | 'channel'> {
  tracedFds: TracedFd[];
  channelFd?: TracedFd;
  effects: FdEffects;
}

const NO_EFFECTS: FdEffects = { creates: [], closes: [], uses: [] };
/** Calls that only make an fd: shown when a shown call uses what they made. */
const MAKERS = new Set(['socket', 'socketpair', 'dup', 'dup2', 'dup3', 'fcntl']);

function drafts(capture: CaptureFile, passing: FdPassingEvent[]): Draft[] {
  const lineNumbers = new Map<string, number>();
  capture.text.split('\n').forEach((line, i) => {
    if (!lineNumbers.has(line)) lineNumbers.set(line, i + 1);
  });
  const byLine = new Map(passing.map((event) => [event.line, event]));
  const out: Draft[] = [];
  const execved = new Set<number>();
  for (const call of syscallLines(capture.text)) {
    const event = byLine.get(call.line);
    const firstExecve = call.syscall === 'execve' && !execved.has(call.pid);
    if (call.syscall === 'execve' && !call.errno) execved.add(call.pid);
    const { summary, fds, noise } = describeCall(call, event, firstExecve);
    const draft: Draft = {
      role: capture.role,
      pid: call.pid,
      micros: timeMicros(call.time),
      time: call.time,
      syscall: call.syscall,
      summary,
      line: call.line,
      lineNo: lineNumbers.get(call.line.split('\n')[0]) ?? 0,
      ...(call.errno ? { errno: call.errno } : {}),
      noise,
      tracedFds: fds,
      effects: fdEffects(call, event),
    };
    if (FRAME_SYSCALLS.has(call.syscall) && !call.errno) {
      const io = messageBytes(call.args);
      if (io && io.bytes.length > 0) draft.frames = describeFrames(decodeFrames(io));
    }
    if (event) {
      draft.fds = event.fds.map((fd) => fd.fd);
      draft.fdCount = event.fdCount;
      const channel = splitDecorated(splitTopLevel(call.args)[0] ?? '');
      draft.channelFd = fdArg(splitTopLevel(call.args)[0]) ?? undefined;
      if (!channel) delete draft.channelFd;
    }
    out.push(draft);
  }
  for (const s of signalsAndExits(capture.text)) {
    out.push({ role: capture.role, pid: s.pid, micros: timeMicros(s.time), time: s.time, syscall: s.summary.startsWith('got') ? 'signal' : 'exit', summary: s.summary, line: s.line, lineNo: s.lineNo, noise: false, tracedFds: [], effects: NO_EFFECTS });
  }
  return out;
}

function objectLabel(fds: TracedFd[]): string {
  // The most telling name: endpoints or a path beat a bare inode.
  const best = fds.find((fd) => fd.local !== undefined) ?? fds.find((fd) => fd.kind === 'file') ?? fds.find((fd) => fd.path) ?? fds[0];
  return best ? describeTracedFd(best).replace(/^<|>$/g, '') : '?';
}

/** Builds the timeline of a lab (or any directory) of captures. */
export function buildTimeline(captures: readonly CaptureFile[], options: { pids?: readonly RolePid[] } = {}): Timeline {
  const parsed: RoleCapture[] = captures.map((c) => ({ role: c.role, events: parseCapture(c.text) }));
  const pairs = pairPassedFds(parsed, { unprinted: true });
  const all = captures.flatMap((c, i) => drafts(c, parsed[i].events as FdPassingEvent[]));
  // Closing or reading a file matters only when the file does (a role opened or passed it).
  const filesThatMatter = new Set(all.filter((d) => !d.noise && !FILE_USE.has(d.syscall)).flatMap((d) => d.tracedFds.filter((fd) => fd.kind === 'file').map((fd) => fd.path)));
  for (const d of all) {
    const file = d.tracedFds[0];
    if (FILE_USE.has(d.syscall) && file?.kind === 'file' && !filesThatMatter.has(file.path)) d.noise = true;
  }
  // Stable: calls of one capture with equal times keep their order.
  const events = all.map((d, i) => ({ d, i })).sort((a, b) => a.d.micros - b.d.micros || a.i - b.i).map(({ d }) => d);

  // Where every fd came from, per process (threads share their process's table).
  // A call makes its fd when it returns: a split call (<unfinished ...>) is ordered by its resumed line,
  // or a thread's close in between would seem to close the fd it made (lab 4's stranger: socket() = 18
  // returned after another thread closed its own fd 18).
  // A close frees its number as it starts (the kernel takes the fd out of the table before the file's release,
  // which may block): close(17 <unfinished ...>) in one thread, socket() = 17 in another, <... close resumed>
  // would seem to close the socket just made (lab 4's Docker stranger once said its bind used a closed fd 17).
  const ends = events.map((d) => (d.syscall === 'close' ? d.micros : timeMicros(PREFIX.exec(d.line.split('\n').pop()!.trimEnd())?.[3] ?? '') || d.micros));
  const byEnd = events.map((_, i) => i).sort((a, b) => ends[a] - ends[b] || a - b);
  const inEndOrder = fdLives(byEnd.map((i) => events[i]).map((d) => ({ role: d.role, pid: d.pid, syscall: d.syscall, errno: d.errno, effects: d.effects })));
  const position = new Map(byEnd.map((i, k) => [i, k]));
  const lives = {
    lives: inEndOrder.lives.map((l) => ({ ...l, creator: l.creator === null ? null : byEnd[l.creator], users: l.users.map((u) => byEnd[u]), closer: l.closer === null ? null : byEnd[l.closer] })),
    process: events.map((_, i) => inEndOrder.process[position.get(i)!]),
    uses: events.map((_, i) => inEndOrder.uses[position.get(i)!]),
  };
  events.forEach((d, i) => (d.process = lives.process[i]));
  for (const d of events) {
    const first = d.tracedFds[0];
    // The role's own stdio (its logging) and sockets with no name (netlink: os.networkInterfaces()) are the runtime's.
    if (first && first.fd <= 2 && d.syscall !== 'sendmsg' && d.syscall !== 'recvmsg') d.noise = true;
    if (['bind', 'connect', 'listen'].includes(d.syscall) && first?.kind === 'other') d.noise = true;
  }
  const isClose = (i: number) => events[i].syscall === 'close';
  // A call that made an fd is shown when a shown call uses that fd (a dup's source, in turn, with it).
  for (let changed = true; changed; ) {
    changed = false;
    events.forEach((d, i) => {
      if (d.noise || isClose(i)) return;
      for (const use of lives.uses[i]) {
        const creator = lives.lives[use.life].creator;
        if (creator !== null && creator !== i && events[creator].noise) {
          events[creator].noise = false;
          changed = true;
        }
      }
    });
  }
  // A close is shown when the fd it ends was: made or used by a shown call.
  events.forEach((d, i) => {
    if (!isClose(i) || (d.tracedFds[0]?.fd ?? 0) <= 2) return;
    const life = lives.uses[i][0] && lives.lives[lives.uses[i][0].life];
    const shown = (k: number | null) => k !== null && k !== i && !events[k].noise && lives.process[k] === d.process;
    d.noise = !life || !(shown(life.creator) || life.users.some(shown));
  });
  // A thread (or helper process) that did nothing but load the runtime: its signals and exit are noise too;
  // so is a thread's exit (its process's is the one that counts).
  const notACall = (d: Draft) => d.syscall === 'exit' || d.syscall === 'signal';
  const busy = new Set(events.filter((d) => !d.noise && !notACall(d)).map((d) => `${d.role}|${d.process}`));
  for (const d of events) if (notACall(d) && (!busy.has(`${d.role}|${d.process}`) || (d.syscall === 'exit' && d.pid !== d.process))) d.noise = true;

  const union = new Union();
  const seen = new Map<string, TracedFd[]>();
  const remember = (fd: TracedFd) => {
    const keys = keysOf(fd);
    for (const key of keys) {
      union.join(keys[0], key);
      const names = seen.get(key);
      if (!names) seen.set(key, [fd]);
      else if (names.length < 4) names.push(fd); // enough to name it
    }
  };
  for (const d of events) {
    d.tracedFds.forEach(remember);
    if (d.channelFd) remember(d.channelFd);
  }
  const channelOf = (event: FdPassingEvent) => {
    const fd = parseTracedFd(`${event.channelFd}${event.channel ? `<${event.channel}>` : ''}`);
    return fd ? keysOf(fd)[0] : undefined;
  };
  for (const pair of pairs) {
    const [a, b] = [pair.sent?.fd, pair.received?.fd];
    if (a && b && keysOf(a).length && keysOf(b).length) union.join(keysOf(a)[0], keysOf(b)[0]);
    const [ca, cb] = [pair.sent && channelOf(pair.sent.event), pair.received && channelOf(pair.received.event)];
    if (ca && cb) union.join(ca, cb);
  }

  const laneIndex = new Map<string, number>();
  const lanes: Lane[] = [];
  const finished: TimelineEvent[] = events.map((d, id) => {
    const laneKey = `${d.role}|${d.process}`;
    if (!laneIndex.has(laneKey) && !d.noise) {
      laneIndex.set(laneKey, lanes.length);
      lanes.push({ role: d.role, pid: d.process!, label: '', name: d.role });
    }
    const { tracedFds, channelFd, effects, ...rest } = d;
    const objects = [...new Set(tracedFds.flatMap((fd) => keysOf(fd).slice(0, 1)).map((k) => union.find(k)))];
    const channelKey = channelFd && keysOf(channelFd)[0];
    const fdOrigins = lives.uses[id].map((use) => ({ fd: use.fd, how: lives.lives[use.life].how, by: lives.lives[use.life].creator }));
    return {
      ...rest,
      id,
      lane: laneIndex.get(laneKey) ?? -1,
      objects,
      ...(channelKey ? { channel: union.find(channelKey) } : {}),
      ...(fdOrigins.length ? { fdOrigins } : {}),
      ...(effects.creates.length ? { creates: effects.creates.map((fd) => fd.fd) } : {}),
      ...(effects.closes.length ? { closes: effects.closes } : {}),
    };
  });
  // Processes that only loaded the runtime get no lane: their calls keep lane -1.
  // A process another lane of its role forked is named for it (lab 4: three lanes "b-server · pid 18" read as one
  // process): "b-server child", "b-server grandchild".
  const parentOf = new Map<string, number>(); // role|child pid -> the process that forked it
  for (const e of finished) {
    const child = /^(?:clone3?|v?fork) → pid (\d+)$/.exec(e.summary)?.[1];
    if (child && !/CLONE_THREAD|CLONE_FILES/.test(e.line)) parentOf.set(`${e.role}|${child}`, e.process ?? e.pid);
  }
  const laned = new Set(lanes.map((l) => `${l.role}|${l.pid}`));
  for (const lane of lanes) {
    let generation = 0;
    for (let pid = parentOf.get(`${lane.role}|${lane.pid}`), hops = 0; pid !== undefined && hops < 16; pid = parentOf.get(`${lane.role}|${pid}`), hops++) {
      if (laned.has(`${lane.role}|${pid}`)) generation++;
    }
    lane.name = generation === 0 ? lane.role : `${lane.role} ${generation === 1 ? 'child' : generation === 2 ? 'grandchild' : `descendant ${generation}`}`;
    const host = options.pids?.find((p) => p.role === lane.role && p.pid === lane.pid && p.hostPid !== p.pid);
    if (host) lane.hostPid = host.hostPid;
    lane.label = `${lane.name} · pid ${lane.pid}${host ? ` (host ${host.hostPid})` : ''}`;
  }

  const eventOf = new Map(finished.map((e) => [`${e.role}|${e.pid}|${e.line}`, e.id]));
  const indexInMessage = new Map<string, number>();
  const handovers: Handover[] = pairs.map((pair, id) => {
    const from = pair.sent ? eventOf.get(`${pair.sent.role}|${pair.sent.pid}|${pair.sent.event.line}`) ?? null : null;
    const to = pair.received ? eventOf.get(`${pair.received.role}|${pair.received.pid}|${pair.received.event.line}`) ?? null : null;
    const message = `${from}|${to}`;
    const index = indexInMessage.get(message) ?? 0;
    indexInMessage.set(message, index + 1);
    const fd = pair.sent?.fd ?? pair.received?.fd;
    const key = fd && keysOf(fd)[0];
    const side = pair.sent ?? pair.received!;
    const channel = channelOf(side.event);
    return {
      id,
      from,
      to,
      fromFd: pair.sent?.fd?.fd ?? null,
      toFd: pair.received?.fd?.fd ?? null,
      index,
      object: key ? union.find(key) : `fd-${id}`,
      channel: channel ? union.find(channel) : '?',
      basis: pair.basis,
    };
  });

  const objects: TimelineObject[] = [];
  const byRoot = new Map<string, TracedFd[]>();
  for (const [key, fds] of seen) byRoot.set(union.find(key), [...(byRoot.get(union.find(key)) ?? []), ...fds.slice(0, 2)]);
  const labelOf = (root: string) => objectLabel(byRoot.get(root) ?? []);
  for (const root of new Set(handovers.map((h) => h.channel))) objects.push({ id: root, label: labelOf(root), kind: 'channel' });
  for (const root of new Set(handovers.map((h) => h.object))) objects.push({ id: root, label: labelOf(root), kind: 'passed' });

  const start = finished.find((e) => e.micros > 0 && !e.noise)?.micros ?? 0;
  return { lanes, events: finished, handovers, objects, startMicros: start, noiseCount: finished.filter((e) => e.noise).length };
}

// ---- the calls a lab's lesson rests on ----

/** A call a lab's lesson rests on, which no picture may fold away (lab 1: the two reads that prove the shared offset). */
export interface KeyCall {
  /** What it proves, for a test's message. */
  what: string;
  role?: string | RegExp;
  syscall: string;
  /** Tested against the event's summary ("read fd 19 tmp.txt: 5 bytes"). */
  summary?: RegExp;
}

/** Marks every shown event a key call matches (event.key); returns, per key call, the events it matched. */
export function markKeyCalls(timeline: Timeline, keys: readonly KeyCall[]): { key: KeyCall; events: number[] }[] {
  return keys.map((key) => {
    const events = timeline.events.filter(
      (e) =>
        !e.noise && e.lane >= 0 && e.syscall === key.syscall &&
        (key.role === undefined || (typeof key.role === 'string' ? e.role === key.role : key.role.test(e.role))) &&
        (key.summary === undefined || key.summary.test(e.summary)),
    );
    for (const e of events) e.key = true;
    return { key, events: events.map((e) => e.id) };
  });
}
