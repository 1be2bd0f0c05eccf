// SIGUSR2's default action kills a process. A version that is starting or
// taking over must not die of the signal meant for the upgrade (operators
// send it with `pkill -USR2 -f ...`, which reaches every version), so the
// first line of a server calls guardUpgradeSignal(): until the Upgrader
// serves and handles the signal itself, SIGUSR2 is refused with a log line.
// (Node resets every signal at start-up, so no parent can do this for us; the
// successor says hello only after this line has run.)
let guard: (() => void) | null = null;

export function guardUpgradeSignal(log: (line: string) => void = () => {}): void {
  if (guard) return;
  guard = () => log('SIGUSR2 ignored: this version is not serving yet (starting, or taking over)');
  process.on('SIGUSR2', guard);
}

/** Called once a real handler is installed, so the signal is never unhandled in between. */
export function releaseUpgradeSignalGuard(): void {
  if (guard) process.off('SIGUSR2', guard);
  guard = null;
}
