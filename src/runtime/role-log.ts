// A role's output as lines: kept for checks, printed live with a coloured
// role prefix, and searchable by waitForLine.
import chalk from 'chalk';
import { EventEmitter } from 'node:events';
import { LabError } from '../lab-error';
import { pausableTimeout } from '../util/pause';
import { MAX_COLUMNS } from '../util/wrap';

const COLOURS = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.redBright, chalk.cyanBright];
let nextColour = 0;

export interface RoleLogOptions {
  /** Print lines as they arrive (default true). */
  echo?: boolean;
  /** Width of the prefix column, so logs of several roles line up. */
  prefixWidth?: number;
  /** Where printed lines go (default process.stdout). */
  out?: (text: string) => void;
  /** Where the role's whole log is saved, named instead of echoing a long RESULT line. */
  logFile?: string;
}

/** Columns a line may take after the prefix: 100 in all (see src/util/wrap.ts). */
const ECHO_WIDTH = MAX_COLUMNS - 21;

/**
 * A role's machine-readable result ("RESULT {json}", lab 5's client: about
 * 2,000 characters) is for the lab, not for reading: echoed, it fills a
 * screen. Its length and where it is instead; role.lines keeps it whole.
 */
export function echoed(line: string, logFile = 'the role log'): string {
  if (!line.startsWith('RESULT ') || line.length <= ECHO_WIDTH) return line;
  return `RESULT (${line.length.toLocaleString('en-US')} characters: in ${logFile})`;
}

export class RoleLog extends EventEmitter {
  readonly lines: string[] = [];
  private partial = '';
  private ended = false;
  private readonly prefix: string;
  private readonly echo: boolean;
  private readonly out: (text: string) => void;
  private readonly logFile?: string;

  constructor(readonly role: string, options: RoleLogOptions = {}) {
    super();
    const colour = COLOURS[nextColour++ % COLOURS.length];
    // 19: the longest role name so far (unix-socket-server) plus a space before the bar.
    this.prefix = colour(role.padEnd(options.prefixWidth ?? 19)) + chalk.gray('│ ');
    this.echo = options.echo ?? true;
    this.out = options.out ?? ((text) => process.stdout.write(text));
    this.logFile = options.logFile;
  }

  write(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line.replace(/\r$/, ''));
  }

  /** The role's output is over (it exited): flush a last partial line; waiting for more is futile. */
  end(): void {
    if (this.partial) this.add(this.partial);
    this.partial = '';
    this.ended = true;
    this.emit('end');
  }

  /** `fromLine`: ignore the lines before this index (an answer to a signal sent after them). */
  waitForLine(pattern: RegExp | string, timeoutMs = 15_000, fromLine = 0): Promise<string> {
    const matches = (line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    const found = this.lines.slice(fromLine).find(matches);
    if (found !== undefined) return Promise.resolve(found);
    const tail = () => this.lines.slice(-5).map((l) => `    ${l}`).join('\n');
    const exitedError = () => new LabError('ERR_ROLE_EXITED', `${this.role} exited without printing a line matching ${pattern}; its last lines:\n${tail()}`);
    if (this.ended) return Promise.reject(exitedError());
    return new Promise((resolve, reject) => {
      const done = () => {
        timer.clear();
        this.off('line', onLine);
        this.off('end', onEnd);
      };
      // Paused time (--pause) does not count.
      const timer = pausableTimeout(() => {
        done();
        reject(new LabError('ERR_ROLE_TIMEOUT', `${this.role}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${tail()}`));
      }, timeoutMs);
      const onLine = (line: string) => {
        if (!matches(line)) return;
        done();
        resolve(line);
      };
      const onEnd = () => {
        done();
        reject(exitedError());
      };
      this.on('line', onLine);
      this.on('end', onEnd);
    });
  }

  private add(line: string): void {
    this.lines.push(line);
    if (this.echo) this.out(`${this.prefix}${echoed(line, this.logFile)}\n`);
    this.emit('line', line);
  }
}
