// Runs one lab from start to verdict: picks the runtime, runs the lab's
// steps, collects captures and logs, reports SCM_RIGHTS seen by strace, prints
// the check table, writes captures/lab<n>/summary.json. Labs only declare.
import chalk from 'chalk';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withRuntime } from '../runtime/cleanup';
import { selectRuntime } from '../runtime/select';
import type { LabRuntime, Role } from '../runtime/types';
import { checksTable, verdict } from './checks';
import { LabError } from '../lab-error';
import { projectRoot } from '../project';
import { Guide } from './guide';
import { pausedStep } from './pause';
import { resolveSettings } from './settings';
import { pairLines, scmRightsReport } from './scm-report';
import { wrap } from '../util/wrap';
import { takeFdSnapshot, writeFdTables, type FdSnapshot } from './fd-snapshot';
import { fdPictureText } from './fd-picture-text';
import { fdPicturesHtml } from './fd-picture-svg';
import { writeTimeline, type RolePid } from '../strace';
import { readRolePids, rolePids, writeRolePids } from './role-pids';
import type { CheckResult, LabContext, LabDefinition, LabOptions } from './types';

const SCM_LINES_SHOWN = 8;

export interface LabOutcome {
  ok: boolean;
  runtime: LabRuntime['kind'];
  checks: CheckResult[];
  capturesDir: string;
  summaryPath: string;
  seconds: number;
}

export async function runLab(lab: LabDefinition, options: LabOptions): Promise<LabOutcome> {
  const started = Date.now();
  const settings = resolveSettings(lab, options); // before anything starts
  const guide = new Guide(options.silent);
  const name = `lab${lab.number}`;
  guide.title(`fdlab lab ${lab.number}: ${lab.title}`, `from ${lab.source}`);

  const runtime = await guide.spin('Choosing a runtime (Docker if an engine answers, else processes)', (update) =>
    selectRuntime({ lab: name, runtime: options.runtime, echoLogs: options.echo, onProgress: update, inspectPorts: options.inspect ? lab.inspectPorts : undefined, processOnly: lab.processOnly, pausable: options.pause }),
  );
  const [runtimeHead, ...runtimeRest] = wrap(`runtime: ${runtime.kind}: ${runtime.reason}`, '', '  ');
  guide.line(`${chalk.bold('runtime:')}${runtimeHead.slice('runtime:'.length)}`);
  for (const line of runtimeRest) guide.line(line);
  if (options.inspect && !lab.inspectPorts?.length) guide.line(chalk.yellow(`--inspect: lab ${lab.number} starts no role with an inspector; ignored`));
  if (settings.fault) guide.line(chalk.yellow(`--fault ${settings.fault}: ${lab.faults?.[settings.fault]}`));

  const capturesDir = path.join(options.captures ?? path.join(options.capturesRoot ?? projectRoot(), 'captures'), name);
  fs.rmSync(capturesDir, { recursive: true, force: true });
  fs.mkdirSync(capturesDir, { recursive: true });

  const checks: CheckResult[] = [];
  const roles: Role[] = [];
  const records: Record<string, unknown> = {};
  const snapshots: FdSnapshot[] = [];
  // Each traced role's pid in its own namespace and on this machine, read while it starts (see role-pids.ts).
  const pidReads: Promise<RolePid | null>[] = [];
  const pidsRead: RolePid[] = [];
  const context: LabContext = {
    runtime,
    options,
    capturesDir,
    step: async (title, why, manual) => {
      if (options.pause) await pausedStep(runtime, roles, guide, { title, why, manual });
      else guide.step(title, why, manual);
    },
    say: (text) => guide.say(text),
    startRole: async (spec) => {
      const { traced, inspectPort, ...rest } = spec;
      const role = await runtime.startRole({
        ...rest,
        strace: traced && options.strace ? { syscalls: lab.traceSyscalls } : false,
        inspectPort: options.inspect ? inspectPort : undefined,
        logFile: path.join(path.relative(process.cwd(), capturesDir) || '.', `${spec.name}.log`),
      });
      roles.push(role);
      if (traced && options.strace) {
        const read = rolePids(role).catch(() => null);
        pidReads.push(read);
        // Awaited (about 40 ms) so the line comes before the role's own: its log names only the pid in its
        // container, and in lab 5 both versions are pid 18 there ("successor pid 18" read as v1 to itself).
        const pids = await read;
        if (pids) pidsRead.push(pids);
        if (pids && pids.hostPid !== pids.pid) {
          guide.line(chalk.gray(`   ${role.name} runs as pid ${pids.pid} in its ${runtime.kind === 'docker' ? 'container' : 'pid namespace'}, pid ${pids.hostPid} on this machine`));
        }
      }
      return role;
    },
    rolePids: () => [...pidsRead],
    // Only a real `true` passes: a lab that hands in undefined or a truthy object has measured nothing.
    check: (checkName, passed, measured) => checks.push({ name: checkName, status: passed === true ? 'pass' : 'fail', measured }),
    skip: (checkName, why) => checks.push({ name: checkName, status: 'skipped', measured: why }),
    spin: (text, work) => guide.spin(text, work),
    progress: (text, total) => guide.progress(text, total),
    record: (key, value) => (records[key] = value),
    fdTables: async (key, title, of, filter) => {
      const snapshot = await takeFdSnapshot(key, title, of, roles, filter);
      snapshots.push(snapshot);
      for (const line of fdPictureText(snapshot)) guide.line(`   ${line}`);
      return snapshot;
    },
    setting: <T extends number | string = number>(key: string) => {
      if (!(key in settings.values)) throw new LabError('ERR_UNKNOWN_SETTING', `lab ${lab.number} reads a setting it does not declare: ${key}`);
      return settings.values[key] as T;
    },
    fault: settings.fault,
  };

  let captureFiles: string[] = [];
  await withRuntime(
    runtime,
    async (rt) => {
      try {
        await lab.run(context);
      } catch (error) {
        checks.push({ name: 'the lab ran to its end', status: 'fail', measured: (error as Error).message.split('\n')[0] });
        guide.line(chalk.red(`\nThe lab stopped early: ${(error as Error).message}`));
      }
      // Captures and logs are kept whether the lab passed or not: they explain a failure.
      if (snapshots.length) writeFdTables(capturesDir, { lab: lab.number, runtime: runtime.kind, snapshots });
      captureFiles = await rt.collectCaptures(capturesDir).catch(() => []);
      writeRolePids(capturesDir, (await Promise.all(pidReads)).filter((p): p is RolePid => p !== null));
      for (const role of roles) fs.writeFileSync(path.join(capturesDir, `${role.name}.log`), role.lines.join('\n') + '\n');
    },
    { keep: options.keep },
  );

  const scm = scmRightsReport(captureFiles, readRolePids(capturesDir));
  if (options.strace) {
    guide.line(`\n${chalk.bold('SCM_RIGHTS seen by strace')} ${chalk.gray(`(full captures in ${path.relative(process.cwd(), capturesDir) || '.'})`)}`);
    for (const line of scm.lines.slice(0, SCM_LINES_SHOWN)) for (const part of pairLines(line)) guide.line(part);
    if (scm.lines.length > SCM_LINES_SHOWN) guide.line(chalk.gray(`  ... and ${scm.lines.length - SCM_LINES_SHOWN} more (all in summary.json)`));
    if (scm.lines.length === 0) guide.line(chalk.yellow('  none found'));
  }
  if (options.strace && captureFiles.some((f) => f.endsWith('.strace'))) {
    // 100 columns at most with the 2-space indent: wider lines wrap in a narrow terminal and cannot be read.
    const written = writeTimeline(capturesDir, `fdlab lab ${lab.number}: ${lab.title} (${runtime.kind} runtime)`, { width: Math.min(process.stdout.columns || 100, 100) - 2 }, fdPicturesHtml(snapshots), {
      ...lab.timeline,
      pids: readRolePids(capturesDir),
    });
    guide.line(`\n${chalk.bold('Timeline')} ${chalk.gray(`(${written.timeline.noiseCount} start-up calls folded; every call, the raw lines and the frame bytes in`)}`);
    guide.line(chalk.gray(`${path.relative(process.cwd(), written.htmlPath)})`));
    for (const line of written.lines) guide.line(`  ${line}`);
  }
  const scmRightsRoles = typeof lab.scmRightsRoles === 'function' ? lab.scmRightsRoles(settings.values) : lab.scmRightsRoles;
  for (const role of scmRightsRoles) {
    if (!options.strace) {
      checks.push({ name: `SCM_RIGHTS in ${role}'s strace capture`, status: 'skipped', measured: 'not traced (--no-strace)' });
      continue;
    }
    const count = scm.countByRole[role] ?? 0;
    checks.push({ name: `SCM_RIGHTS in ${role}'s strace capture`, status: count > 0 ? 'pass' : 'fail', measured: `${count} message(s) with fds` });
  }

  if (options.strace && lab.checkCaptures) {
    const captures = new Map(captureFiles.filter((f) => f.endsWith('.strace')).map((f) => [path.basename(f, '.strace'), fs.readFileSync(f, 'utf8')]));
    lab.checkCaptures(scm.pairs, context, new Map(roles.map((r) => [r.name, r])), captures);
  }

  const result = verdict(checks);
  const seconds = (Date.now() - started) / 1000;
  guide.line(`\n${checksTable(checks)}`);
  guide.line(
    `${result.ok ? chalk.green.bold('Lab passed') : chalk.red.bold('Lab failed')}: ` +
      `${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped in ${seconds.toFixed(1)} s (${runtime.kind} runtime)` +
      (result.reason ? `: ${result.reason}, so nothing was shown to work` : ''),
  );
  const summaryPath = path.join(capturesDir, 'summary.json');
  fs.writeFileSync(
    summaryPath,
    JSON.stringify(
      { lab: lab.number, title: lab.title, runtime: runtime.kind, reason: runtime.reason, ok: result.ok, notPassedBecause: result.reason ?? null, seconds, settings: settings.values, fault: settings.fault ?? null, checks,
        // Container ids, or the process runtime's role-runner pids (each leads its own process group).
        roles: roles.map((r) => ({ name: r.name, id: r.id, exitCode: r.exitCode })), scmRights: scm.lines, records, captures: fs.readdirSync(capturesDir) },
      null,
      2,
    ) + '\n',
  );
  guide.line(chalk.gray(`captures, logs and summary.json: ${capturesDir}`));
  if (options.keep) for (const line of runtime.keepInstructions()) guide.line(chalk.yellow(`--keep: ${line}`));
  return { ok: result.ok, runtime: runtime.kind, checks, capturesDir, summaryPath, seconds };
}
