// A role's output as lines: kept for checks, printed live with a coloured
// role prefix, and searchable by waitForLine.
import chalk from 'chalk';
import { EventEmitter } from 'node:events';
import { FdlabError } from '../errors';

const COLOURS = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.redBright, chalk.cyanBright];
let nextColour = 0;

export interface RoleLogOptions {
  /** Print lines as they arrive (default true). */
  echo?: boolean;
  /** Width of the prefix column, so logs of several roles line up. */
  prefixWidth?: number;
  /** Where printed lines go (default process.stdout). */
  out?: (text: string) => void;
}

export class RoleLog extends EventEmitter {
  readonly lines: string[] = [];
  private partial = '';
  private readonly prefix: string;
  private readonly echo: boolean;
  private readonly out: (text: string) => void;

  constructor(readonly role: string, options: RoleLogOptions = {}) {
    super();
    const colour = COLOURS[nextColour++ % COLOURS.length];
    this.prefix = colour(role.padEnd(options.prefixWidth ?? 18)) + chalk.gray('│ ');
    this.echo = options.echo ?? true;
    this.out = options.out ?? ((text) => process.stdout.write(text));
  }

  write(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line.replace(/\r$/, ''));
  }

  /** Flushes a last line that had no newline. */
  end(): void {
    if (this.partial) this.add(this.partial);
    this.partial = '';
  }

  waitForLine(pattern: RegExp | string, timeoutMs = 15_000): Promise<string> {
    const matches = (line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    const found = this.lines.find(matches);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('line', onLine);
        const tail = this.lines.slice(-5).map((l) => `    ${l}`).join('\n');
        reject(new FdlabError('ERR_ROLE_TIMEOUT', `${this.role}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${tail}`));
      }, timeoutMs);
      const onLine = (line: string) => {
        if (!matches(line)) return;
        clearTimeout(timer);
        this.off('line', onLine);
        resolve(line);
      };
      this.on('line', onLine);
    });
  }

  private add(line: string): void {
    this.lines.push(line);
    if (this.echo) this.out(`${this.prefix}${line}\n`);
    this.emit('line', line);
  }
}
