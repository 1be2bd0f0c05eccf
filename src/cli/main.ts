#!/usr/bin/env node
// fdlab command line: labs, images, cleanup, and a health check.
import { Command, InvalidArgumentError, Option } from 'commander';
import chalk from 'chalk';
import { runDoctor } from './doctor';
import { runClean } from './clean';
import { runImages } from './images';
import { runLabCommand } from './lab';

const program = new Command();
program.name('fdlab').description('Live socket handover on Linux: guided labs and tools').showHelpAfterError();

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
  .option('--inspect', 'start the roles that support it with the Node inspector (lab 5: v1 on 9229, v2 on 9230)', false)
  .option('--fault <name>', 'a failure to inject (lab 3: drop-leftover; lab 5: crash-new)')
  .addOption(new Option('--reads <how>', 'lab 3: how servers read requests').choices(['exact', 'greedy']))
  .action(async (n: number, options) => {
    process.exitCode = await runLabCommand(n, options);
  });

program
  .command('images')
  .description('build the lab image offline (skipped when up to date)')
  .option('--force', 'rebuild even when up to date', false)
  .action(async (options) => {
    process.exitCode = await runImages(options);
  });

program
  .command('clean')
  .description('remove every container, volume and network fdlab left behind')
  .action(async () => {
    process.exitCode = await runClean();
  });

program
  .command('doctor')
  .description('check this machine for what the labs need, and say how to fix what is missing')
  .action(async () => {
    process.exitCode = await runDoctor();
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(chalk.red(`fdlab: ${error.message}`) + (error.code ? chalk.gray(` [${error.code}]`) : ''));
  process.exitCode = 1;
});
