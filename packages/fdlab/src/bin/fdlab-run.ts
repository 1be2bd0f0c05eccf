#!/usr/bin/env node
// fdlab-run [--pid-file <file>] -- <command> [args...]: fdlab's supervisor
// (fdlab/supervisor) as a command, for a server built on fdlab: it stays the
// main process for pm2, systemd (Type=notify) or a container's PID 1 while
// its workers hand over (docs/production.md). `npm install fdlab` puts it in
// node_modules/.bin.
import { parseArgs } from 'node:util';
import { runSupervisor } from '../supervisor/run';

const USAGE = `usage: fdlab-run [--pid-file <file>] -- <command> [args...]
  e.g. fdlab-run --pid-file /run/app/run.pid -- node server.js
  SIGUSR2 to fdlab-run (kill -USR2 $(cat <file>)) upgrades the worker in place;
  SIGTERM, SIGINT or SIGHUP stop it; it exits with the last worker's status.`;

function fail(message: string): never {
  process.stderr.write(`fdlab-run: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  if (split < 0) {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    fail("give the worker's command after --");
  }
  let values: { 'pid-file'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv.slice(0, split), options: { 'pid-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return runSupervisor({ command: argv.slice(split + 1), pidFile: values['pid-file'] });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error & { code?: string }) => {
    process.stderr.write(`fdlab-run: ${error.message}${error.code ? ` [${error.code}]` : ''}\n`);
    process.exit(1);
  },
);
