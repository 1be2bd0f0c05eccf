// How a lab talks to the learner: numbered steps in colour, the manual
// command for each, spinners and progress on anything slow.
import chalk from 'chalk';
import ora from 'ora';
import { MAX_COLUMNS, wrap } from '../util/wrap';

export class Guide {
  private stepNumber = 0;
  private lastTitle = '';

  private readonly out: (text: string) => void;

  /** silent: print nothing (tests read the outcome instead). */
  constructor(private readonly silent = false) {
    this.out = silent ? () => {} : (text) => process.stdout.write(text);
  }

  title(text: string, subtitle: string): void {
    this.out(`\n${chalk.bold.white(text)}\n${wrap(subtitle, '', '  ').map((l) => chalk.gray(l)).join('\n')}\n`);
  }

  /** Raw text, as is (nothing when silent). */
  write(text: string): void {
    this.out(text);
  }

  line(text: string): void {
    this.out(`${text}\n`);
  }

  /** The number and title of the last step printed. */
  get stepCount(): number {
    return this.stepNumber;
  }

  get stepTitle(): string {
    return this.lastTitle;
  }

  step(title: string, why: string, manual: string[] = []): void {
    this.stepNumber += 1;
    this.lastTitle = title;
    const [head, ...rest] = wrap(`Step ${this.stepNumber}. ${title}`, '', '   ');
    const number = `Step ${this.stepNumber}.`;
    this.out(`\n${chalk.bold.blue(number)}${chalk.bold(head.slice(number.length))}\n`);
    for (const line of rest) this.out(`${chalk.bold(line)}\n`);
    this.out(`${chalk.white(indent(why))}\n`);
    for (const command of manual) this.out(`   ${chalk.gray('try it yourself:')} ${chalk.green(command)}\n`);
  }

  say(text: string): void {
    this.out(`${chalk.white(indent(text))}\n`);
  }

  /** Runs `work` behind a spinner; `work` may report progress through `update`. */
  async spin<T>(text: string, work: (update: (detail: string) => void) => Promise<T>): Promise<T> {
    if (this.silent) return work(() => {});
    const spinner = ora({ text, stream: process.stdout, isEnabled: process.stdout.isTTY }).start();
    const started = Date.now();
    try {
      const result = await work((detail) => (spinner.text = `${text}: ${detail}`));
      spinner.succeed(`${text} ${chalk.gray(`(${((Date.now() - started) / 1000).toFixed(1)} s)`)}`);
      return result;
    } catch (error) {
      spinner.fail(`${text}: ${(error as Error).message}`);
      throw error;
    }
  }

  progress(text: string, total: number): { tick(done: number): void; done(summary: string): void } {
    if (this.silent) return { tick: () => {}, done: () => {} };
    const spinner = ora({ text: `${text} 0/${total}`, stream: process.stdout, isEnabled: process.stdout.isTTY }).start();
    let last = 0;
    return {
      tick: (done) => {
        // Repaint at most every 1%: cheap enough for 100,000 requests.
        if (done === total || done - last >= Math.max(1, total / 100)) {
          last = done;
          spinner.text = `${text} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${bar(done / total)}`;
        }
      },
      done: (summary) => spinner.succeed(`${text} ${summary}`),
    };
  }
}

/**
 * Indented by 3; a text with a line too wide for 100 columns (lab 4's were
 * up to 114, wrapped by the terminal mid-word) is reflowed: its lines join
 * into paragraphs (a blank line, or one starting with a space, '-' or '1.',
 * starts a new one), each wrapped at 100. A text that fits stays as written.
 */
function indent(text: string): string {
  const lines = text.split('\n');
  if (lines.every((l) => l.length + 3 <= MAX_COLUMNS)) return lines.map((l) => `   ${l}`).join('\n');
  const paragraphs: string[] = [];
  for (const line of lines) {
    if (paragraphs.length === 0 || line === '' || /^(\s|-|\d+\.)/.test(line) || paragraphs[paragraphs.length - 1] === '') paragraphs.push(line);
    else paragraphs[paragraphs.length - 1] += ` ${line}`;
  }
  return paragraphs.flatMap((p) => (p === '' ? [''] : wrap(p, `   ${/^\s*/.exec(p)![0]}`))).join('\n');
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(fraction * width);
  return chalk.cyan('█'.repeat(filled)) + chalk.gray('░'.repeat(width - filled));
}
