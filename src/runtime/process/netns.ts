// A network namespace of the lab's own for the process runtime: the pod's
// loopback, as Docker gives every pod one. Labs listen on fixed ports
// (9999, 7000, 8080-8089, from the seeds); in a namespace of their own, two
// labs (or a lab and a test run) on one machine never meet on those ports.
//
// The namespace is held by a small process (`unshare --net sh`) that brings
// lo up, says "ready" and then reads its stdin: when the lab process goes
// away, even by kill -9, that pipe closes and the holder exits, so nothing is
// left behind. Roles join it with `nsenter --net=...`, which execs in place
// (same pid, so the role runner's process group and pid lookups still hold).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { LabError } from '../../lab-error';
import { withDeadline } from '../../util/deadline';

/** How to pick the process runtime's network: FDLAB_PROCESS_NETWORK=private|host. */
export type ProcessNetwork = 'host' | 'private';

const READY_TIMEOUT_MS = 10_000;
const NETNS_FIX =
  'the process runtime needs root (CAP_SYS_ADMIN) and util-linux (unshare, nsenter) and iproute2 (ip) for a private network; ' +
  'run with FDLAB_PROCESS_NETWORK=host to share this machine\'s loopback instead';

export function processNetworkFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessNetwork {
  const value = env.FDLAB_PROCESS_NETWORK ?? 'host';
  if (value !== 'host' && value !== 'private') {
    throw new LabError('ERR_INVALID_ARG_VALUE', `FDLAB_PROCESS_NETWORK must be host or private; got '${value}'`);
  }
  return value;
}

export class NetworkNamespace {
  private constructor(private readonly holder: ChildProcess) {}

  /** The holder's pid: `nsenter -t <pid> -n` enters the namespace. */
  get pid(): number {
    return this.holder.pid!;
  }

  /** Prefix for a command that must run inside the namespace. */
  enter(): string[] {
    return ['nsenter', `--net=/proc/${this.pid}/ns/net`, '--'];
  }

  static async create(): Promise<NetworkNamespace> {
    const holder = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && echo ready && read _ ; exit 0'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    holder.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = (why: string) => new LabError('ERR_NETNS_UNAVAILABLE', `cannot make a private network namespace: ${why}; ${NETNS_FIX}`);
    try {
      await withDeadline(
        new Promise<void>((resolve, reject) => {
          holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          holder.once('error', (error) => reject(failed(error.message)));
          holder.once('exit', (code) => reject(failed(stderr.trim() || `unshare exited with code ${code}`)));
        }),
        READY_TIMEOUT_MS,
        () => failed(`no answer within ${READY_TIMEOUT_MS} ms`),
      );
    } catch (error) {
      holder.kill('SIGKILL');
      throw error;
    }
    holder.stdout!.resume();
    return new NetworkNamespace(holder);
  }

  /** Lets the holder go; the namespace ends with the last role in it. */
  async close(): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return;
    const exited = once(this.holder, 'exit');
    this.holder.stdin!.end();
    await exited;
  }
}
