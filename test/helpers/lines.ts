// test/fixtures/upgradable-lines.ts as a real process (an app on the Upgrader
// with the default spawnSuccessor), and a client that reads its lines.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { tempDir, until } from './fds';
import { FIXTURES } from './process';
import { processesUsing } from './serve';

export interface Lines {
  child: ChildProcess;
  dir: string;
  pid: number;
  port: number;
  pidFile: string;
  log(): string;
  waitForLog(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

/** The fixture as a real process (its successors inherit its stdout: one log). */
export async function startLines(standbyMs: number, fault = '', timeoutMs?: number): Promise<Lines> {
  const dir = tempDir();
  const pidFile = path.join(dir, 'pid');
  const child = spawn(process.execPath, [path.join(FIXTURES, 'upgradable-lines.js'), path.join(dir, 'state'), pidFile, String(standbyMs), fault, ...(timeoutMs === undefined ? [] : [String(timeoutMs)])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const waitForLog = async (pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> => {
    let match: RegExpMatchArray | null = null;
    await until(ms, () => `a log line matching ${pattern}; the log:\n${log}`, () => (match = log.match(pattern)) !== null);
    return match!;
  };
  const serving = await waitForLog(/gen 1: serves on port (\d+) as pid (\d+)/);
  return { child, dir, pidFile, pid: Number(serving[2]), port: Number(serving[1]), log: () => log, waitForLog };
}

export function stopAll(dir: string): Promise<void> {
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return until(5000, `the processes of ${dir} to be gone`, () => processesUsing(dir).length === 0, 20);
}

/** A TCP client that reads whole lines, and notices a FIN or a reset. */
export class LineClient {
  readonly socket: net.Socket;
  /** Everything received, byte for byte. */
  received = '';
  ended = false;
  closed = false;
  private read = 0;

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => (this.received += chunk));
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
  }

  static async connect(port: number): Promise<LineClient> {
    const client = new LineClient(port);
    await new Promise((resolve) => client.socket.once('connect', resolve));
    return client;
  }

  /** Sends a line and returns the next line the server answers. */
  send(line: string, ms = 5000): Promise<string> {
    this.socket.write(`${line}\n`);
    return this.next(ms, `an answer to '${line}'`);
  }

  /** The next line the server sends. */
  async next(ms = 5000, what = 'a line'): Promise<string> {
    await until(ms, () => `${what} (received so far: ${JSON.stringify(this.received)}, ended ${this.ended})`, () => this.received.indexOf('\n', this.read) >= 0);
    const end = this.received.indexOf('\n', this.read);
    const answer = this.received.slice(this.read, end);
    this.read = end + 1;
    return answer;
  }
}

