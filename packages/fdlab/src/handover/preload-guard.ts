// Loaded with `node --require <this file>` by spawnSuccessor, ahead of the
// app: the earliest JavaScript a successor runs. Node resets every signal
// disposition and the signal mask at start-up (measured: `env
// --ignore-signal=USR2` or `--block-signal=USR2` before `node`: SigBlk 0 at
// the first JS line, a SIGUSR2 200 ms in kills it), so no wrapper can carry an
// ignored SIGUSR2 into Node; this file is the closest thing: the window in
// which SIGUSR2 kills a starting successor shrinks to Node's own bootstrap
// (measured in docs/handover.md, "Operator signals"). No imports: nothing to
// load before the handler is in. guardUpgradeSignal (signal-guard.ts) takes
// over from it and says how many signals it refused.
const PRELOAD_GUARD = Symbol.for('fdlab.preload-guard');

interface PreloadGuard {
  listener: () => void;
  ignored: number;
}

const registry = globalThis as { [PRELOAD_GUARD]?: PreloadGuard };
if (!registry[PRELOAD_GUARD]) {
  const guard: PreloadGuard = { ignored: 0, listener: () => void guard.ignored++ };
  registry[PRELOAD_GUARD] = guard;
  process.on('SIGUSR2', guard.listener);
}

export {}; // a module: its names stay its own
