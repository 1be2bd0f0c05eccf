// strace prints arguments in a C-like syntax: {...} structs, [...] arrays,
// "..." strings with backslash escapes, and with -y/-yy an fd's description
// in <...> after its number. Those descriptions hold "->", quotes, nested
// <...> and arbitrary path characters, so a comma or a closing bracket can
// only be told apart from content by walking the text.

const OPEN = '([{<';
const CLOSE = ')]}>';

/** Index of the quote ending the string that starts at `open`. */
function stringEnd(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}

/** Index of the bracket closing the one at `open`, or -1 if the text ends first (a line cut short). */
export function matchingClose(text: string, open: number): number {
  const stack: string[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (top === '<') {
      // A path may contain any character, so inside <...> only a nested
      // decoration (`</dev/null<char 1:3>>`) or a socket's `:[...]` opens anything.
      if (c === '<' || (c === '[' && text[i - 1] === ':')) stack.push(c);
      else if (c === '>') stack.pop();
    } else if (c === '"') {
      i = stringEnd(text, i);
    } else if (OPEN.includes(c)) {
      stack.push(c);
    } else if (top !== undefined && c === CLOSE[OPEN.indexOf(top)]) {
      stack.pop(); // a '>' inside [...] is the arrow of "a->b", not a closer
    }
    if (stack.length === 0) return i;
  }
  return -1;
}

/** The comma-separated parts of `text` that are not inside brackets or strings, trimmed. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      i = stringEnd(text, i);
    } else if (OPEN.includes(c)) {
      const end = matchingClose(text, i);
      if (end < 0) break;
      i = end;
    } else if (c === ',') {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((part) => part !== '');
}

/** The elements of a printed array "[a, b, ...]"; [] if `text` is not one (a pointer, NULL). */
export function arrayItems(text: string): string[] {
  if (!text.startsWith('[') || matchingClose(text, 0) !== text.length - 1) return [];
  return splitTopLevel(text.slice(1, -1));
}

/** The fields of a printed struct "{a=1, b=[...]}" by name; empty if `text` is not one. */
export function structFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  if (!text.startsWith('{') || matchingClose(text, 0) !== text.length - 1) return fields;
  for (const part of splitTopLevel(text.slice(1, -1))) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return fields;
}
