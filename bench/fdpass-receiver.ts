// The receiving half of bench/fdpass.ts. It runs in its own process, like
// the C reference's child, so sender and receiver each get a core.
//
//   node fdpass-receiver.js typed|objects|channel|node-core
//
// typed, objects and channel read the socketpair end the parent put at
// CHANNEL_FD and close every fd received; node-core takes net.Socket handles
// over the IPC channel instead. Every mode reports { ready } once set up and
// { fds } (the total it received and closed) when the sender is done.
import type * as net from 'node:net';
import { closeFds, FdChannel, recvFds, recvFdsInto, SCM_MAX_FD, setNonBlocking } from 'fdlab';

export type ReceiverMode = 'typed' | 'objects' | 'channel' | 'node-core';

/** Where the child finds its end of the socketpair: stdio index 4 (3 is the IPC channel). */
export const CHANNEL_FD = 4;

/** node-core: the child acknowledges every ACK_EVERY handles, so the sender can bound what is in flight. */
export const ACK_EVERY = 50;

export type ReceiverReport = { ready: true } | { acked: number } | { fds: number };

function report(message: ReceiverReport): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

// Blocking reads, as the C child does, of one byte per message so that each
// recvmsg returns exactly one sendmsg's fds.

// The hot-loop API: the same three typed arrays for every message, no objects.
function receiveTyped(): number {
  setNonBlocking(CHANNEL_FD, false);
  const data = Buffer.alloc(1);
  const fds = new Int32Array(SCM_MAX_FD);
  const counts = new Int32Array(2);
  let count = 0;
  for (;;) {
    recvFdsInto(CHANNEL_FD, data, fds, counts);
    if (counts[0] === 0 && counts[1] === 0) return count; // the sender closed its end
    closeFds(fds, counts[1]);
    count += counts[1];
  }
}

// The plain API: a fresh { data, fds } per message.
function receiveObjects(): number {
  setNonBlocking(CHANNEL_FD, false);
  let count = 0;
  for (;;) {
    const { data, fds } = recvFds(CHANNEL_FD, { maxData: 1 });
    if (data.length === 0 && fds.length === 0) return count;
    closeFds(fds);
    count += fds.length;
  }
}

async function receiveChannel(): Promise<number> {
  let count = 0;
  for await (const { fds } of FdChannel.fromFd(CHANNEL_FD)) {
    closeFds(fds);
    count += fds.length;
  }
  return count;
}

function receiveHandles(): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    process.on('message', (message, handle) => {
      if (message === 'done') {
        resolve(count);
        return;
      }
      (handle as net.Socket).destroy();
      count++;
      if (count % ACK_EVERY === 0) void report({ acked: count });
    });
  });
}

async function main(): Promise<void> {
  const mode = process.argv[2] as ReceiverMode;
  const receivers: Record<ReceiverMode, () => number | Promise<number>> = {
    typed: receiveTyped,
    objects: receiveObjects,
    channel: receiveChannel,
    'node-core': receiveHandles,
  };
  if (!receivers[mode] || !process.send) {
    throw new Error(`usage: fork fdpass-receiver.js with mode ${Object.keys(receivers).join('|')} and an IPC channel (got ${mode})`);
  }
  // The ready report must be on the wire before a blocking receiver stalls the event loop.
  await report({ ready: true });
  const fds = await receivers[mode]();
  await report({ fds });
  process.disconnect();
}

if (require.main === module) {
  main().catch((error) => {
    console.error('fdpass-receiver:', error);
    process.exit(1);
  });
}
