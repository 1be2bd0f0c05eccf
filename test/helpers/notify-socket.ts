// What systemd would receive at NOTIFY_SOCKET, without systemd: a datagram
// Unix socket (bound by python3: Node has no Unix datagram sockets) that
// prints each message it gets as one JSON line, in the order they came, with
// the sender's pid from SCM_CREDENTIALS (SO_PASSCRED, as systemd reads it to
// apply NotifyAccess=).
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from './fds';

const RECORDER = `
import json, socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + path[1:] if path.startswith('@') else path)
print('bound', flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    print(json.dumps({'message': data.decode(), 'pid': pid}), flush=True)
`;

export interface NotifySocket {
  path: string;
  /** Every message so far, as sent ("READY=1\\nSTATUS=..."). */
  messages(): string[];
  /** Each message as key=value fields. */
  fields(): Record<string, string>[];
  /** The pid that sent each message (what systemd checks against NotifyAccess=). */
  senders(): number[];
  close(): void;
}

export async function recordNotifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn('python3', ['-c', RECORDER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await until(5000, `the recorder bound to ${path}`, () => out.startsWith('bound\n'));
  // Whole lines only: a read may end in the middle of one.
  const received = () => out.slice(0, out.lastIndexOf('\n')).split('\n').slice(1).filter(Boolean).map((line) => JSON.parse(line) as { message: string; pid: number });
  const messages = () => received().map((r) => r.message);
  return {
    path,
    messages,
    fields: () => messages().map((m) => Object.fromEntries(m.split('\n').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))),
    senders: () => received().map((r) => r.pid),
    close: () => child.kill('SIGKILL'),
  };
}
