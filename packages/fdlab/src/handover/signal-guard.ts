// SIGUSR2's default action kills a process. A version that is starting or
// taking over must not die of the signal meant for the upgrade (operators
// send it with `pkill -USR2 -f ...`, which reaches every version), so the
// first line of a server calls guardUpgradeSignal(): until the Upgrader
// serves and handles the signal itself, SIGUSR2 is refused with a log line.
// (Node resets every signal at start-up, so no parent can do this for us; the
// successor says hello only after this line has run.)
let guard: (() => void) | null = null;
/** The log of the last guard installed: a guard put back after a failed start says the same. */
let guardLog: (line: string) => void = () => {};

export function guardUpgradeSignal(log: (line: string) => void = () => {}): void {
  if (guard) return;
  guardLog = log;
  guard = () => log('SIGUSR2 ignored: this version is not serving yet (starting, or taking over)');
  process.on('SIGUSR2', guard);
}

/**
 * Called once a real handler is installed, so the signal is never unhandled
 * in between. Says whether a guard was in force (restoreUpgradeSignalGuard
 * puts it back if the handler goes away again before serving).
 */
export function releaseUpgradeSignalGuard(): boolean {
  if (!guard) return false;
  process.off('SIGUSR2', guard);
  guard = null;
  return true;
}

/** A start failed after releasing the guard: back in force, so a later SIGUSR2 cannot kill the process. */
export function restoreUpgradeSignalGuard(): void {
  guardUpgradeSignal(guardLog);
}
