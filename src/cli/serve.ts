// `fdlab serve`: the demo ping/pong service, upgradable in place:
//   fdlab serve --port 7000 --pid-file /tmp/fdlab.pid &
//   kill -USR2 $(cat /tmp/fdlab.pid)      # the next version takes over; nothing is dropped
import * as os from 'node:os';
import * as path from 'node:path';
import { externalSuccessor, PingPongApp, spawnSuccessor, Upgrader } from '../handover';

export interface ServeOptions {
  port: number;
  pidFile: string;
  stateDir?: string;
  version: string;
  successor: 'spawn' | 'external';
  upgradeTimeout: number;
  fault?: string;
}

export async function runServe(options: ServeOptions): Promise<void> {
  const log = (line: string) => console.log(`[${options.version} pid ${process.pid}] ${line}`);
  const upgrader = await Upgrader.start({
    app: new PingPongApp(log),
    port: options.port,
    pidFile: path.resolve(options.pidFile),
    stateDir: options.stateDir ?? path.join(os.tmpdir(), `fdlab-serve-${options.port}`),
    version: options.version,
    startSuccessor: options.successor === 'external' ? externalSuccessor : spawnSuccessor,
    timeoutMs: options.upgradeTimeout,
    crashMidHandover: options.fault === 'crash-new',
    log,
    onHandedOver: () => {
      log('handed over; exiting');
      process.exit(0);
    },
  });
  process.once('SIGTERM', () => {
    log(`SIGTERM: closing; ${upgrader.stats()}`);
    void upgrader.close().then(() => process.exit(0));
  });
}
