// Lines a learner reads in a terminal: at most 100 columns (a wider line
// wraps where the terminal likes, mid-word and without indent).

/** The widest line the labs print (a 100-column pty showed 108-2,000 before). */
export const MAX_COLUMNS = 100;

/**
 * Splits plain `text` at spaces into lines of at most `width` columns: the
 * first starts with `first`, the rest with `rest`. A word longer than a line
 * (a path) stays whole on a line of its own.
 */
export function wrap(text: string, first: string, rest = first, width = MAX_COLUMNS): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(' ').filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line += (empty ? '' : ' ') + word;
    empty = false;
  }
  lines.push(line);
  return lines;
}
