// SIGUSR2's default action kills a process. A version that is starting or
// taking over must not die of the signal meant for the upgrade (operators
// send it with `pkill -USR2 -f ...`, which reaches every version), so the
// first line of a server calls guardUpgradeSignal(): until the Upgrader
// serves and handles the signal itself, SIGUSR2 is refused with a log line.
// (Node resets every signal at start-up, so no parent can do this for us; the
// successor says hello only after this line has run.) A successor started by
// spawnSuccessor has an earlier guard still, from `--require` (preload-guard.ts):
// the first guard installed here takes over from it.
let guard: (() => void) | null = null;
/** The log of the last guard installed: a guard put back after a failed start says the same. */
let guardLog: (line: string) => void = () => {};

export function guardUpgradeSignal(log: (line: string) => void = () => {}): void {
  if (guard) return;
  guardLog = log;
  guard = () => log('SIGUSR2 ignored: this version is not serving yet (starting, or taking over)');
  process.on('SIGUSR2', guard);
  const early = takeOverFromPreload();
  if (early > 0) log(`SIGUSR2 ignored ${early} time(s) while Node loaded this version (preload guard)`);
}

/** Where preload-guard.ts leaves its listener (it imports nothing, so a global symbol). */
const PRELOAD_GUARD = Symbol.for('fdlab.preload-guard');
const registry = globalThis as { [PRELOAD_GUARD]?: { listener: () => void; ignored: number } };

function registryHas(): boolean {
  return registry[PRELOAD_GUARD] !== undefined;
}

/** The preload guard's listener, if spawnSuccessor put one in: removed once a later one is in. Returns how many it refused. */
function takeOverFromPreload(): number {
  const early = registry[PRELOAD_GUARD];
  if (!early) return 0;
  process.off('SIGUSR2', early.listener);
  delete registry[PRELOAD_GUARD];
  return early.ignored;
}

/**
 * Called once a real handler is installed, so the signal is never unhandled
 * in between. Says whether a guard was in force (restoreUpgradeSignalGuard
 * puts it back if the handler goes away again before serving).
 */
export function releaseUpgradeSignalGuard(): boolean {
  // An app that never called guardUpgradeSignal: the preload guard goes now (and is put back as a guard on a failed start).
  const preloaded = registryHas();
  takeOverFromPreload();
  if (!guard) return preloaded;
  process.off('SIGUSR2', guard);
  guard = null;
  return true;
}

/** A start failed after releasing the guard: back in force, so a later SIGUSR2 cannot kill the process. */
export function restoreUpgradeSignalGuard(): void {
  guardUpgradeSignal(guardLog);
}
