// The README's error table, rendered from the library's ERRORS: one row per
// code, in the order ERRORS declares them. test/library/errors.test.ts checks
// that packages/fdlab/README.md holds exactly this between its markers.
import { ERRORS, type ErrorInfo } from 'fdlab';

export const ERRORS_START = '<!-- errors:start -->';
export const ERRORS_END = '<!-- errors:end -->';

/** A table cell: a `|` would end the cell, a newline the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The markdown table `code | meaning | what to do`, ending without a newline. */
export function renderErrorTable(errors: Readonly<Record<string, ErrorInfo>> = ERRORS): string {
  const rows = Object.entries(errors).map(([code, info]) => `| \`${code}\` | ${cell(info.meaning)} | ${cell(info.action)} |`);
  return ['| code | meaning | what to do |', '|---|---|---|', ...rows].join('\n');
}

/** The text between the markers (trimmed), or null when the markers are missing or out of order. */
export function embeddedErrorTable(markdown: string): string | null {
  const start = markdown.indexOf(ERRORS_START);
  const end = markdown.indexOf(ERRORS_END);
  if (start < 0 || end < start) return null;
  return markdown.slice(start + ERRORS_START.length, end).trim();
}
