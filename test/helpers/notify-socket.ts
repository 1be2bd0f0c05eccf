// What systemd would receive at NOTIFY_SOCKET, without systemd: a datagram
// Unix socket (bound by python3: Node has no Unix datagram sockets) that
// prints each message it gets as one JSON line, in the order they came.
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from './fds';

const RECORDER = `
import json, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + path[1:] if path.startswith('@') else path)
print('bound', flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

export interface NotifySocket {
  path: string;
  /** Every message so far, as sent ("READY=1\\nSTATUS=..."). */
  messages(): string[];
  /** Each message as key=value fields. */
  fields(): Record<string, string>[];
  close(): void;
}

export async function recordNotifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn('python3', ['-c', RECORDER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await until(5000, `the recorder bound to ${path}`, () => out.startsWith('bound\n'));
  const messages = () => out.split('\n').slice(1).filter(Boolean).map((line) => JSON.parse(line) as string);
  return {
    path,
    messages,
    fields: () => messages().map((m) => Object.fromEntries(m.split('\n').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))),
    close: () => child.kill('SIGKILL'),
  };
}
