// `fdlab challenge`, `fdlab check`, `fdlab hint`: tasks a learner does in a
// workspace of their own (./fdlab-challenges), checked for real.
import chalk from 'chalk';
import * as path from 'node:path';
import { CHALLENGES, findChallenge } from '../challenges';
import { runCheck } from '../challenges/run';
import type { Challenge } from '../challenges/types';
import { taskKey, Workspace, workspaceDir } from '../challenges/workspace';
import { invokedAs } from './invoked-as';

export interface ChallengeCommandOptions {
  dir?: string;
  reset?: boolean;
}

const shown = (file: string) => path.relative(process.cwd(), file) || file;

function dirFlag(workspace: Workspace, options: ChallengeCommandOptions): string {
  return options.dir ? ` --dir ${shown(workspace.root)}` : '';
}

export async function runChallengeCommand(lab: number | undefined, id: string | undefined, options: ChallengeCommandOptions): Promise<number> {
  const workspace = new Workspace(workspaceDir(options.dir));
  const progress = workspace.readProgress();
  if (lab === undefined) {
    console.log(`Challenges (your progress: ${shown(workspace.progressFile)})\n`);
    for (const c of CHALLENGES) {
      const task = progress.tasks[taskKey(c)];
      const status = task?.passedAt ? chalk.green('done') : task ? chalk.yellow(`started, ${task.checks} check(s), ${task.hintsShown}/${c.hints.length} hints`) : chalk.gray('not started');
      console.log(`  ${invokedAs()} challenge ${c.lab} ${c.id.padEnd(14)} ${c.title}  [${status}]`);
    }
    return 0;
  }
  const challenge = findChallenge(lab, id ?? firstUnfinished(lab, workspace), progress);
  const { file, copied } = workspace.setUp(challenge, options.reset ?? false);
  const flag = dirFlag(workspace, options);
  console.log(chalk.bold(`Lab ${challenge.lab}, challenge "${challenge.id}": ${challenge.title}\n`));
  console.log(challenge.goal);
  console.log(`\n${copied ? 'Your file' : 'Your file (kept as you left it; --reset starts it over)'}: ${shown(file)}`);
  console.log(`Check it:  ${invokedAs()} check ${challenge.lab} ${challenge.id}${flag}   (compiles your file and runs it for real)`);
  console.log(`Stuck?     ${invokedAs()} hint ${challenge.lab} ${challenge.id}${flag}    (${challenge.hints.length} hints, one at a time)`);
  return 0;
}

function firstUnfinished(lab: number, workspace: Workspace): string | undefined {
  const progress = workspace.readProgress();
  return CHALLENGES.find((c) => c.lab === lab && !progress.tasks[taskKey(c)]?.passedAt)?.id;
}

export async function runCheckCommand(lab: number, id: string | undefined, options: ChallengeCommandOptions): Promise<number> {
  const workspace = new Workspace(workspaceDir(options.dir));
  const challenge = findChallenge(lab, id, workspace.readProgress());
  console.log(`Checking lab ${challenge.lab}, "${challenge.id}": ${shown(workspace.learnerFile(challenge))}`);
  const report = await runCheck(challenge, workspace);
  for (const line of report.measured) console.log(`  ${line}`);
  if (report.passed) {
    console.log(chalk.green(`\nPASS: ${challenge.title}.`) + ` A solution to compare with: ${challenge.solution}`);
    // The rest of this lab first, then the first unfinished anywhere.
    const unfinished = CHALLENGES.filter((c) => !workspace.readProgress().tasks[taskKey(c)]?.passedAt);
    const next = unfinished.find((c) => c.lab === challenge.lab) ?? unfinished[0];
    if (next) console.log(`Next: ${invokedAs()} challenge ${next.lab} ${next.id}${dirFlag(workspace, options)}`);
    return 0;
  }
  console.log(chalk.red(`\nNOT YET: ${report.problem}`));
  for (const [role, lines] of Object.entries(report.logs)) {
    if (lines.length === 0) continue;
    console.log(chalk.gray(`\n${role}, last lines:`));
    for (const line of lines) console.log(chalk.gray(`  ${line}`));
  }
  console.log(`\nA hint: ${invokedAs()} hint ${challenge.lab} ${challenge.id}${dirFlag(workspace, options)}`);
  return 1;
}

export async function runHintCommand(lab: number, id: string | undefined, options: ChallengeCommandOptions): Promise<number> {
  const workspace = new Workspace(workspaceDir(options.dir));
  const challenge: Challenge = findChallenge(lab, id, workspace.readProgress());
  let index = 0;
  workspace.updateProgress((progress) => {
    const task = (progress.tasks[taskKey(challenge)] ??= { startedAt: new Date().toISOString(), hintsShown: 0, checks: 0 });
    index = task.hintsShown;
    if (index < challenge.hints.length) task.hintsShown += 1;
  });
  if (index >= challenge.hints.length) {
    console.log(`No more hints for "${challenge.id}" (all ${challenge.hints.length} shown). A solution: ${challenge.solution}`);
    for (const [i, hint] of challenge.hints.entries()) console.log(`  ${i + 1}. ${hint}`);
    return 0;
  }
  console.log(`Hint ${index + 1} of ${challenge.hints.length} for lab ${challenge.lab}, "${challenge.id}":\n  ${challenge.hints[index]}`);
  return 0;
}
