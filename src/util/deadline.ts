// A promise that settles like `promise`, or rejects with `makeError()` after
// `ms`: every wait in fdlab is bounded, so a hung peer fails loudly.
import { pausableTimeout, type PausableTimer } from './pause';

// The deadline does not run while the lab is paused (--pause).
export function withDeadline<T>(promise: Promise<T>, ms: number, makeError: () => Error): Promise<T> {
  let timer: PausableTimer;
  const timeout = new Promise<never>((_, reject) => {
    timer = pausableTimeout(() => reject(makeError()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => timer.clear());
}
