// The verdict of a lab: a table a person reads at a glance, and the same
// data in summary.json for tests and tools.
import chalk from 'chalk';
import Table from 'cli-table3';
import type { CheckResult } from './types';

export function checksTable(checks: readonly CheckResult[]): string {
  // cli-table3 colours its borders itself; follow chalk's terminal detection instead.
  const style = chalk.level > 0 ? { head: ['bold'], border: ['gray'] } : { head: [], border: [] };
  const table = new Table({ head: ['', 'check', 'measured'], style, wordWrap: true, colWidths: [8, 46, 50] });
  for (const check of checks) {
    const mark = check.status === 'pass' ? chalk.green('pass') : check.status === 'fail' ? chalk.red('FAIL') : chalk.yellow('skip');
    table.push([mark, check.name, check.measured]);
  }
  return table.toString();
}

export function verdict(checks: readonly CheckResult[]): { passed: number; failed: number; skipped: number; ok: boolean } {
  const count = (status: CheckResult['status']) => checks.filter((c) => c.status === status).length;
  const failed = count('fail');
  return { passed: count('pass'), failed, skipped: count('skipped'), ok: failed === 0 && checks.length > 0 };
}
