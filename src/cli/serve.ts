// `fdlab serve`: the demo ping/pong service, upgradable in place:
//   fdlab serve --port 7000 --pid-file /tmp/fdlab.pid &
//   kill -USR2 $(cat /tmp/fdlab.pid)      # the next version takes over; nothing is dropped
import * as fs from 'node:fs';
import * as os from 'node:os';
import { FdlabError } from '../errors';
import * as path from 'node:path';
import { externalSuccessor, PingPongApp, spawnSuccessor, Upgrader } from '../handover';
import { generation } from '../handover/successor';

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
  const gen = generation();
  const tag = gen > 1 ? `${options.version} gen ${gen}` : options.version;
  const log = (line: string) => console.log(`[${tag} pid ${process.pid}] ${line}`);
  const pidFile = path.resolve(options.pidFile);
  const upgrader = await Upgrader.start({
    app: new PingPongApp(log),
    port: options.port,
    pidFile,
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
  }).catch((error: Error & { code?: string }) => {
    if (error.code === 'EADDRINUSE') {
      throw new FdlabError('EADDRINUSE', `127.0.0.1:${options.port} is already in use (another fdlab serve? \`cat ${pidFile}\`); pick another --port`);
    }
    throw error;
  });
  process.once('SIGTERM', () => {
    log(`SIGTERM: stopping; ${upgrader.stats()}`);
    void upgrader.close().then(() => {
      // Leave no pid file naming a process that is gone (unless a successor rewrote it).
      if (fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8')) === process.pid) fs.rmSync(pidFile);
      process.exit(0);
    });
  });
}
