// How many connections may wait in a listener's accept queue. Node's default
// is 511; under a connection storm (10,000 clients reconnecting at once after
// a load balancer's failover) a full queue drops SYNs, and each dropped
// client waits for the kernel's SYN retransmission: 1 s, 3 s, 7 s. The
// kernel caps any backlog at net.core.somaxconn (4096 on these machines).
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { FdlabError } from '../errors';
import { binding } from '../native/binding';
import { fdOf } from './detach';

const SOMAXCONN = '/proc/sys/net/core/somaxconn';
/** What Linux has used since 5.4 when /proc cannot be read. */
const KERNEL_DEFAULT = 4096;
const MAX_BACKLOG = 65_535;

/** The kernel's cap on any listen backlog (net.core.somaxconn). */
export function somaxconn(): number {
  try {
    const value = Number(fs.readFileSync(SOMAXCONN, 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : KERNEL_DEFAULT;
  } catch {
    return KERNEL_DEFAULT;
  }
}

/**
 * The backlog to listen with: `requested`, or by default the largest the
 * kernel allows. `capped` says why a larger request was cut (for the log).
 */
export function resolveBacklog(requested: number | undefined): { backlog: number; capped: string | null } {
  const cap = somaxconn();
  if (requested === undefined) return { backlog: cap, capped: null };
  if (!Number.isSafeInteger(requested) || requested < 1 || requested > MAX_BACKLOG) {
    throw new FdlabError('ERR_INVALID_ARG_VALUE', `backlog must be a whole number from 1 to ${MAX_BACKLOG}; got ${requested}`);
  }
  if (requested <= cap) return { backlog: requested, capped: null };
  return {
    backlog: cap,
    capped: `listen backlog ${requested} capped at ${cap} by net.core.somaxconn (raise it with sysctl -w net.core.somaxconn=${requested})`,
  };
}

/** Sets a listening server's accept queue length again (after server.listen({ fd }), which resets it to 511). */
export function setBacklog(server: net.Server, backlog: number): void {
  binding.setBacklog(fdOf(server), backlog);
}
