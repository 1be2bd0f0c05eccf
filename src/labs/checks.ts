// The verdict of a lab: a table a person reads at a glance, and the same
// data in summary.json for tests and tools.
import chalk from 'chalk';
import Table from 'cli-table3';
import type { CheckResult } from './types';

export function checksTable(checks: readonly CheckResult[]): string {
  // 100 columns with the borders (6 + 42 + 48 + 4; it was 108): the measured column wraps.
  // cli-table3 colours its borders itself; follow chalk's terminal detection instead.
  const style = chalk.level > 0 ? { head: ['bold'], border: ['gray'] } : { head: [], border: [] };
  const table = new Table({ head: ['', 'check', 'measured'], style, wordWrap: true, colWidths: [6, 42, 48] });
  for (const check of checks) {
    const mark = check.status === 'pass' ? chalk.green('pass') : check.status === 'fail' ? chalk.red('FAIL') : chalk.yellow('skip');
    table.push([mark, breakLongWords(check.name, 40), breakLongWords(check.measured, 46)]);
  }
  return table.toString();
}

/** cli-table3 cuts a word wider than its column with '…' (a path): break it onto lines of its own instead. */
function breakLongWords(text: string, width: number): string {
  return text.replace(new RegExp(`\\S{${width + 1},}`, 'g'), (word) => word.match(new RegExp(`.{1,${width}}`, 'g'))!.join('\n'));
}

export interface Verdict {
  passed: number;
  failed: number;
  skipped: number;
  ok: boolean;
  /** Why a lab with no failed check still did not pass (absent when ok, or when checks failed). */
  reason?: string;
}

/**
 * A lab passes when no check failed AND at least one check passed. A skipped
 * check is never a pass: a run where every check was skipped (or none ran)
 * measured nothing, so it cannot report success.
 */
export function verdict(checks: readonly CheckResult[]): Verdict {
  const count = (status: CheckResult['status']) => checks.filter((c) => c.status === status).length;
  const passed = count('pass');
  const failed = count('fail');
  const skipped = count('skipped');
  const result: Verdict = { passed, failed, skipped, ok: failed === 0 && passed > 0 };
  if (failed === 0 && passed === 0) {
    result.reason = checks.length === 0 ? 'no check ran' : `every check was skipped (${skipped})`;
  }
  return result;
}
