// The learner's workspace: ./fdlab-challenges by default (--dir, or
// FDLAB_CHALLENGES_DIR). It holds lab<n>/<task>/<file> (the learner's copy),
// progress.json, .build/ (compiled files) and node_modules/fdlab, a link to
// this project's library package, so a learner's `import ... from 'fdlab'` resolves anywhere.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from '../lab-error';
import { projectPath } from '../project';
import type { Challenge } from './types';

export interface TaskProgress {
  startedAt: string;
  hintsShown: number;
  checks: number;
  lastCheck?: { at: string; passed: boolean };
  passedAt?: string;
}

export interface Progress {
  /** The task `check` and `hint` use when none is named, per lab. */
  current: Record<string, string>;
  tasks: Record<string, TaskProgress>;
}

export function workspaceDir(dir?: string): string {
  return path.resolve(dir ?? process.env.FDLAB_CHALLENGES_DIR ?? 'fdlab-challenges');
}

export const taskKey = (challenge: Challenge) => `lab${challenge.lab}/${challenge.id}`;

export class Workspace {
  constructor(readonly root: string) {}

  get progressFile(): string {
    return path.join(this.root, 'progress.json');
  }

  learnerFile(challenge: Challenge): string {
    return path.join(this.root, `lab${challenge.lab}`, challenge.id, challenge.file);
  }

  buildDir(challenge: Challenge): string {
    return path.join(this.root, '.build', `lab${challenge.lab}`, challenge.id);
  }

  readProgress(): Progress {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.progressFile, 'utf8')) as Partial<Progress>;
      return { current: parsed.current ?? {}, tasks: parsed.tasks ?? {} };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { current: {}, tasks: {} };
      throw new LabError('ERR_CHALLENGE_PROGRESS', `${this.progressFile} is not valid JSON (${(error as Error).message}); fix or delete it (deleting forgets which hints you saw)`);
    }
  }

  updateProgress(change: (progress: Progress) => void): Progress {
    const progress = this.readProgress();
    change(progress);
    fs.mkdirSync(this.root, { recursive: true });
    const temporary = `${this.progressFile}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(progress, null, 2)}\n`);
    fs.renameSync(temporary, this.progressFile);
    return progress;
  }

  /** Copies the starting file unless the learner already has one (or `reset`); links `fdlab`. */
  setUp(challenge: Challenge, reset: boolean): { file: string; copied: boolean } {
    const file = this.learnerFile(challenge);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const link = path.join(this.root, 'node_modules', 'fdlab');
    const library = projectPath('packages', 'fdlab');
    if (!fs.existsSync(link) || fs.realpathSync(link) !== fs.realpathSync(library)) {
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.rmSync(link, { force: true }); // dangling (a moved project), or an older layout's link to the project root
      fs.symlinkSync(library, link, 'dir');
    }
    const copied = reset || !fs.existsSync(file);
    if (copied) fs.copyFileSync(projectPath(challenge.start), file);
    this.updateProgress((progress) => {
      progress.current[`lab${challenge.lab}`] = challenge.id;
      progress.tasks[taskKey(challenge)] ??= { startedAt: new Date().toISOString(), hintsShown: 0, checks: 0 };
    });
    return { file, copied };
  }

  /** The learner's file, or an error saying how to get one. */
  requireFile(challenge: Challenge): string {
    const file = this.learnerFile(challenge);
    if (!fs.existsSync(file)) {
      throw new LabError('ERR_CHALLENGE_NOT_STARTED', `${file} does not exist: run \`fdlab challenge ${challenge.lab} ${challenge.id}${this.root === workspaceDir() ? '' : ` --dir ${this.root}`}\` first`);
    }
    return file;
  }
}
