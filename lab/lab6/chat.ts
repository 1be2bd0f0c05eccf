// Lab 6's chat, as every role speaks it: the JSON messages on the
// WebSocket, the last message that closes a run, and how a receiver's
// numbers are written down and read back to count what was lost.

/** A participant says something: its own n-th message (n counts every attempt, sent or not). */
export interface Say {
  type: 'say';
  n: number;
  text: string;
}

/** What the server sends: its hello, a message of the room, or (an upgraded server, to a carried connection) its new version. */
export type ChatOut =
  | { type: 'hello'; version: string; name: string; seq: number }
  | { type: 'version'; version: string }
  // v2's new format adds the server's time (`at`) and its version.
  | { type: 'msg'; seq: number; from: string; n: number; text: string; at?: string; v?: string };

/** page-1's last message: a receiver that has it has everything sent before it (one TCP stream, in order). */
export const END_TEXT = 'that is all: did every message arrive once, in order?';
export const END_FROM = 'page-1';

/** The path of the chat's WebSocket. */
export const CHAT_PATH = '/chat';

/**
 * Numbers as they arrived, as runs of +1: [1,2,3,7,8,3] is "1-3,7-8,3".
 * Exact (the sequence can be read back), and short when nothing went wrong: "1-120".
 */
export function runs(numbers: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < numbers.length; ) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    out.push(i === j ? String(numbers[i]) : `${numbers[i]}-${numbers[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** runs() read back. */
export function unrun(text: string): number[] {
  if (text === '') return [];
  return text.split(',').flatMap((part) => {
    const [a, b = a] = part.split('-').map(Number);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

/** One receiver, one sender: what arrived of the sender's `sent` messages (numbered 1..sent). */
export interface Delivery {
  expected: number;
  arrived: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

export function delivery(arrivedRuns: string, sent: number): Delivery {
  const arrived = unrun(arrivedRuns);
  const distinct = new Set(arrived.filter((n) => n >= 1 && n <= sent));
  let outOfOrder = 0;
  for (let i = 1; i < arrived.length; i++) if (arrived[i] <= arrived[i - 1]) outOfOrder++;
  return { expected: sent, arrived: arrived.length, lost: sent - distinct.size, duplicated: arrived.length - distinct.size, outOfOrder };
}

/** What a participant (a ws client, or a page) reports at the end. */
export interface ParticipantReport {
  name: string;
  /** 'open' events: 1 when the connection was never replaced. */
  opens: number;
  /** 'close' events of connections that had opened, with their codes. */
  closes: number[];
  /** Attempts to reconnect that failed (refused while no server listened). */
  failedAttempts: number;
  /** Messages it said (attempts), and how many of them could not be sent (not connected then). */
  sent: number;
  unsent: number;
  /** Per sender, the n of each message as it arrived (runs()). */
  from: Record<string, string>;
  /** The room's seq of each message as it arrived (runs()). */
  seqs: string;
  /** The server version it was last told about. */
  version: string;
  /** Whether page-1's last message arrived. */
  sawEnd: boolean;
}

/** From a list of [seq, from, n] as they arrived, the report's fields. */
export function summarize(received: ReadonlyArray<readonly [number, string, number]>): { from: Record<string, string>; seqs: string } {
  const bySender = new Map<string, number[]>();
  for (const [, from, n] of received) {
    if (!bySender.has(from)) bySender.set(from, []);
    bySender.get(from)!.push(n);
  }
  return {
    from: Object.fromEntries([...bySender].map(([sender, ns]) => [sender, runs(ns)])),
    seqs: runs(received.map(([seq]) => seq)),
  };
}
