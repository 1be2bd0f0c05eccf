#!/usr/bin/env node
// fdlab command line: labs, images, cleanup, a health check, and the demo service.
// First line: a version being started by an upgrade must not die of SIGUSR2.
import './early-signals';
import { Command, InvalidArgumentError, Option } from 'commander';
import chalk from 'chalk';
// Each command loads its own modules when it runs: `fdlab serve` (started
// again on every upgrade) must not pay for the Docker client's start-up.

const program = new Command();
program.enablePositionalOptions();
program.name('fdlab').description('Live socket handover on Linux: guided labs and tools').showHelpAfterError('(fdlab --help, or fdlab <command> --help, lists the options)');

function collectSetting(value: string, settings: Record<string, string> = {}): Record<string, string> {
  const match = value.match(/^([A-Za-z][\w-]*)=(.*)$/);
  if (!match) throw new InvalidArgumentError('expected key=value, e.g. connections=300');
  return { ...settings, [match[1]]: match[2] };
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('a port from 0 to 65535');
  return port;
}

function labNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a lab number, e.g. 1');
  return n;
}

program
  .command('lab')
  .description('run a guided lab')
  .argument('<number>', 'which lab (see labs.md)', labNumber)
  .addOption(new Option('--runtime <kind>', 'where roles run').choices(['auto', 'docker', 'process']).default('auto'))
  .option('--keep', 'leave the pod running for exploration', false)
  .option('--no-strace', 'do not trace the roles')
  .option('--quiet', 'do not print role logs live', false)
  .option('--pause', 'before each step stop the roles (frozen, not ended), print commands to look at them (fds, sockets), go on at Enter', false)
  .option('--inspect', 'start the roles that support it with the Node inspector (lab 5: v1 on 9229, v2 on 9230)', false)
  .option('--fault <name>', 'a failure to inject (lab 3: drop-leftover; lab 4: no-fd3; lab 5: crash-new)')
  .option('--reads <how>', 'lab 3: how servers read requests (exact or greedy); the same as --set reads=<how>')
  .option('--set <key=value...>', 'lab settings, e.g. --set connections=300 (lab 5); a wrong key lists what the lab accepts', collectSetting)
  .option('--captures <dir>', 'where the lab writes lab<n>/ (strace captures, logs, timelines, summary.json) (default: captures/ in the project)')
  .action(async (n: number, options) => {
    process.exitCode = await (await import('./lab')).runLabCommand(n, options);
  });

const challengeCommands: [string, string, string][] = [
  ['challenge', 'set a task up in your workspace (no lab: list every challenge and your progress)', '[lab]'],
  ['check', 'compile your file for a task and check it for real (processes, sockets, strace)', '<lab>'],
  ['hint', 'the next hint for a task (progress is kept in the workspace)', '<lab>'],
];
for (const [name, description, lab] of challengeCommands) {
  const command = program
    .command(name)
    .description(description)
    .argument(lab, 'the lab number', labNumber)
    .argument('[task]', 'which task of that lab (default: the one set up last, or the first)')
    .option('--dir <dir>', 'the workspace (default: $FDLAB_CHALLENGES_DIR or ./fdlab-challenges)');
  if (name === 'challenge') command.option('--reset', 'start your file over from the starting state', false);
  command.action(async (n: number | undefined, task: string | undefined, options) => {
    const commands = await import('./challenge');
    const run = name === 'challenge' ? commands.runChallengeCommand : name === 'check' ? commands.runCheckCommand : commands.runHintCommand;
    process.exitCode = await run(n as number, task, options);
  });
}

program
  .command('serve')
  .description('run the ping/pong demo service; `kill -USR2 <pid>` hot-upgrades it without dropping a connection')
  .option('--port <port>', 'TCP port on --host (0: any free port, printed in the "serving on" line)', portNumber, 7000)
  .option('--host <address>', 'where to listen: 127.0.0.1, or 0.0.0.0 in a container or pod that clients reach from outside', '127.0.0.1')
  .requiredOption('--pid-file <file>', 'where the serving pid is written (the new version rewrites it)')
  .option('--state-dir <dir>', 'where the upgrade socket lives (default: a temp dir per port)')
  .option('--version <name>', 'a name for this version in the logs', 'v1')
  .addOption(new Option('--successor <how>', 'who starts the new version on SIGUSR2').choices(['spawn', 'external']).default('spawn'))
  .option('--upgrade-timeout <ms>', 'roll back if the upgrade takes longer', (v) => {
    const ms = Number(v);
    if (!Number.isInteger(ms) || ms < 100) throw new InvalidArgumentError('milliseconds, at least 100');
    return ms;
  }, 10_000)
  .option('--standby <ms>', 'after the commit, keep our copies this long and take everything back if the new version dies (0: off)', (v) => {
    const ms = Number(v);
    if (!Number.isInteger(ms) || ms < 0) throw new InvalidArgumentError('milliseconds, 0 or more');
    return ms;
  }, 5000)
  .option('--backlog <n>', 'how many connections may wait to be accepted (default: net.core.somaxconn, the kernel\'s cap; Node\'s own default is 511)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError('a whole number from 1 to 65535');
    return n;
  })
  .addOption(new Option('--app <app>', 'what it serves: ping/pong, HTTP/1.1 keep-alive (GET / and POST /echo; fdlab/http), or a WebSocket echo server (fdlab/ws)').choices(['ping-pong', 'http', 'ws']).default('ping-pong'))
  .action(async (options) => {
    await (await import('./serve')).runServe(options);
  });

program
  .command('run')
  .description('a supervisor that stays the main process (pm2, systemd Type=notify, a container\'s PID 1): starts <command>, SIGUSR2 upgrades it in place (docs/production.md)')
  .option('--pid-file <file>', 'where the supervisor\'s pid is written (signal this one: kill -USR2 $(cat <file>))')
  .argument('<command...>', 'the worker, after --: e.g. -- fdlab serve --port 7000 --pid-file /tmp/worker.pid')
  .passThroughOptions()
  .action(async (command: string[], options) => {
    process.exit(await (await import('./run')).runRun(command, options));
  });

program
  .command('upgrade')
  .description('hot-upgrade the service a pid file names (SIGUSR2 to a supervisor or an fdlab serve)')
  .argument('<pid-file>', 'the --pid-file of fdlab run (or of fdlab serve)')
  .action(async (pidFile: string) => {
    process.exitCode = (await import('./upgrade')).runUpgrade(pidFile);
  });

program
  .command('images')
  .description('build the lab image offline (skipped when up to date)')
  .option('--force', 'rebuild even when up to date', false)
  .action(async (options) => {
    process.exitCode = await (await import('./images')).runImages(options);
  });

program
  .command('clean')
  .description('remove the containers, volumes and networks fdlab left behind (labs still running are kept)')
  .option('--all', 'also remove the objects of labs that are still running', false)
  .action(async (options: { all: boolean }) => {
    process.exitCode = await (await import('./clean')).runClean(options);
  });

program
  .command('timeline')
  .description('draw the timeline of a directory of strace captures (strace -f -tt -yy): lanes per process, an arrow per handed-over fd; writes timeline.html there')
  .argument('<dir>', 'e.g. captures/lab5')
  .action(async (dir: string) => {
    process.exitCode = (await import('./timeline')).runTimeline(dir, {});
  });

program
  .command('doctor')
  .description('check this machine for what the labs need, and say how to fix what is missing')
  .action(async () => {
    process.exitCode = await (await import('./doctor')).runDoctor();
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(chalk.red(`fdlab: ${error.message}`) + (error.code ? chalk.gray(` [${error.code}]`) : ''));
  process.exitCode = 1;
});
