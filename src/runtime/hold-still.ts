// A role that waits at a lab's key step until the lab has read its fd table
// from /proc: it says so in a "holding:" line (the lab waits for that line),
// and goes on at the lab's SIGUSR2. Only when the lab asks for it
// (FDLAB_HOLD_STILL=1): started any other way (a debugger, by hand) a role
// goes straight on.
import { once } from 'node:events';

export const HOLD_STILL_ENV = 'FDLAB_HOLD_STILL';

/** The role's environment entry that makes holdStill() wait. */
export const HOLD_STILL: Record<string, string> = { [HOLD_STILL_ENV]: '1' };

/** Prints "holding: <what>; SIGUSR2 goes on" and waits for it. */
export async function holdStill(what: string): Promise<void> {
  if (process.env[HOLD_STILL_ENV] !== '1') return;
  const go = once(process, 'SIGUSR2'); // in place before the line the lab waits for
  // A signal listener does not keep Node alive: a role whose only handle closes
  // meanwhile (a peer's FIN on an adopted socket) would exit while "holding".
  const alive = setInterval(() => undefined, 1 << 30);
  console.log(`holding: ${what}; SIGUSR2 goes on`);
  try {
    await go;
  } finally {
    clearInterval(alive);
  }
}
