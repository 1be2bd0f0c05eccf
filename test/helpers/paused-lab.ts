// Runs `fdlab lab ... --pause` in a real terminal (`script` gives it a pty),
// hands each pause's text to the caller, who looks around with the printed
// commands, then types Enter. This is what a learner does at a pause.
import { execFile, spawn } from 'node:child_process';
import { cliPath, projectRoot } from '../../src/project';
import { tempDir } from './fds';

const ROOT = projectRoot();
const CLI = cliPath();

export function sh(command: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }));
  });
}

// eslint-disable-next-line no-control-regex
export const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

/** The commands a pause prints for its roles (indented under each role's name). */
export const pauseCommands = (pause: string) => [...pause.matchAll(/^ {7}(\S.*)$/gm)].map((m) => m[1]);

/** Each live role's pid at a pause, by role name. */
export const pausePids = (pause: string) => new Map([...pause.matchAll(/^ {5}(\S+) pid (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));

export interface PausedRun {
  code: number | null;
  /** Everything the lab printed, without colours. */
  text: string;
  pauses: number;
}

/** The last line(s) of every pause: "press Enter to run step N: <title>" (after "paused: <role> (pid N), ..."). */
export const PROMPT = /press Enter to run step \d+: /g;

/** The cgroup a process-runtime pause names ("stopped by the cgroup v2 freezer (<dir>)"), or null. */
export const pauseCgroup = (pause: string) => /the cgroup v2 freezer \((\/\S+)\)/.exec(pause)?.[1] ?? null;

/** What to type at a pause: Enter (the default), or Ctrl-C; 'nothing' when the caller ends the lab itself. */
export type PauseAnswer = void | 'enter' | 'ctrl-c' | 'nothing';

/**
 * `fdlab lab <args> --pause`; `atPause(n, pause, output)` runs at the n-th pause (1-based), with that
 * pause's text and everything printed so far, before Enter (or what it returns) is typed.
 */
export async function runPausedLab(args: string[], atPause: (n: number, pause: string, output: string) => Promise<PauseAnswer>, env: NodeJS.ProcessEnv = {}): Promise<PausedRun> {
  const command = [process.execPath, CLI, 'lab', ...args, '--pause', '--captures', tempDir()].join(' ');
  const lab = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '1', ...env } });
  let output = '';
  let pauses = 0;
  const looked: Promise<void>[] = [];
  lab.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const text = plain(output);
    const seen = text.match(PROMPT)?.length ?? 0;
    if (seen === pauses) return;
    pauses = seen;
    const pause = text.slice(text.lastIndexOf(' paused '));
    const n = pauses;
    // A failed look still lets the lab go on, so the run ends and cleans up; the failure is rethrown below.
    looked.push(
      atPause(n, pause, text).then(
        (answer) => void (answer === 'nothing' || lab.stdin.write(answer === 'ctrl-c' ? '\x03' : '\r')),
        (error) => {
          lab.stdin.write('\r');
          throw error;
        },
      ),
    );
  });
  const code = await new Promise<number | null>((resolve) => lab.once('close', resolve));
  await Promise.all(looked);
  return { code, text: plain(output), pauses };
}
