// Runs one challenge's check: compile the learner's file, start roles as
// processes in a fresh shared dir, measure, and always clean up (every role's
// process group is killed, the shared dir removed). The type-check runs beside
// the roles (compile.ts); a type error stops them, and is the verdict.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withRuntime } from '../runtime/cleanup';
import { ProcessRuntime } from '../runtime/process/process-runtime';
import { captureFileName } from '../runtime/role-env';
import type { Role } from '../runtime/types';
import { compileLearnerFile } from './compile';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';
import { taskKey, Workspace } from './workspace';

export interface CheckReport extends CheckOutcome {
  /** The last lines of each role's log, for a failed check. */
  logs: Record<string, string[]>;
}

export async function runCheck(challenge: Challenge, workspace: Workspace): Promise<CheckReport> {
  const source = workspace.requireFile(challenge);
  const compiled = await compileLearnerFile(source, workspace.buildDir(challenge));
  const script = compiled.script;
  // The host's network: the check itself talks to the roles (a TCP peer, a load), on ports the kernel picks.
  // A 'private' challenge's roles get a namespace of their own (firewall rules); the check reaches it through role.exec.
  const runtime = new ProcessRuntime({ lab: `challenge-lab${challenge.lab}`, reason: 'challenge check', echoLogs: false, network: challenge.network ?? 'host' });
  const roles = new Map<string, Role>();
  let stopped = false; // by a type error: the check's code may still be running, and must start nothing more
  const ctx: ChallengeContext = {
    runtime,
    script,
    async startRole(name, roleScript, options = {}) {
      if (stopped) throw new Error('the check was stopped: your file does not compile');
      const role = await runtime.startRole({
        name,
        script: roleScript,
        args: options.args,
        env: options.env,
        strace: options.traced ? { syscalls: options.traced } : false,
        echo: false,
      });
      roles.set(name, role);
      if (stopped) {
        await runtime.cleanup(); // started while the others were being stopped
        throw new Error('the check was stopped: your file does not compile');
      }
      return role;
    },
    capture(name) {
      const file = path.join(runtime.sharedDir, 'captures', captureFileName(name));
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    },
  };
  // withRuntime: cleaned up on a pass, a failure, a throw and Ctrl-C (kill -9: the roles and the namespace's holder exit with their stdin).
  let outcome: CheckOutcome;
  let run: Promise<unknown> = Promise.resolve();
  try {
    outcome = await withRuntime(runtime, async () => {
      try {
        const checking = challenge.check(ctx);
        run = checking.then(() => undefined, () => undefined);
        await Promise.race([compiled.typeChecked, run]); // a type error first: stop here, while the roles run
        await compiled.typeChecked; // the verdict waits for the type-check, whatever the roles did
        return await checking;
      } catch (error) {
        stopped = true;
        await runtime.cleanup();
        await firstOf([run], 5000); // its roles are gone: the check's own code returns, leaving nothing behind
        throw error;
      }
    });
  } finally {
    compiled.stop();
  }
  const logs = Object.fromEntries([...roles].map(([name, role]) => [name, role.lines.slice(-12)]));
  workspace.updateProgress((progress) => {
    const task = (progress.tasks[taskKey(challenge)] ??= { startedAt: new Date().toISOString(), hintsShown: 0, checks: 0 });
    const at = new Date().toISOString();
    task.checks += 1;
    task.lastCheck = { at, passed: outcome.passed };
    if (outcome.passed) task.passedAt ??= at;
  });
  return { ...outcome, logs };
}

/** Resolves with the first of `waits` to settle with a value, or `undefined` after `ms` (a deadline, not a pause). */
export function firstOf<T>(waits: Promise<T>[], ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  const settled = waits.map((w) => w.catch(() => new Promise<never>(() => {})));
  return Promise.race([...settled, deadline]).finally(() => clearTimeout(timer));
}
