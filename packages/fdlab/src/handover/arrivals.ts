// What the new version has received from the old one, in the order both
// sides number the connections (the old side's held list, alive.closed).
//
// First come copies of every connection's fd, sent while the old version
// still serves them: each is checked and wrapped in a socket that does not
// read. Then, batch by batch, the old version stops a group of connections
// and sends a switch: which copies to keep (with the session and the bytes
// read but not processed), which to drop, and how many connections it
// detached with their own fds (those with bytes in flight) just before it.
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { closeQuietly } from '../fd/fds';
import { requireStreamSockets, wrapSocket } from '../socket/adopt';
import { fdOf, type WriteEnd } from '../socket/detach';
import type { HeldSocket } from '../socket/hold';
import { garbled, type ConnectionEntry, type SwitchEntry } from './protocol';

const EMPTY = Buffer.alloc(0);

/** A connection the new version received, in the order both sides number them. */
export interface Incoming<S> {
  /** A socket on the received fd that does not read until the app listens. */
  socket: net.Socket;
  session: S;
  pending: Buffer;
  /** Written first, at the commit (before it the old side still owns the connection). */
  unsent: Buffer;
  writeEnd: WriteEnd;
  /** Set once the app serves it, held still until the commit (see Upgrader.prepare). */
  hold?: HeldSocket;
  /** Set once the app serves it (held or not): it is served once. */
  served?: boolean;
}

export class Arrivals<S> {
  /** Every connection taken so far, in the agreed order. */
  readonly taken: Incoming<S>[] = [];
  private readonly copies = new Map<number, net.Socket>();
  /** Detached connections since the last switch: the next switch names how many. */
  private detached: Incoming<S>[] = [];

  get copiesLeft(): number {
    return this.copies.size;
  }

  /** Copies not switched yet, and detached connections no switch has claimed yet. */
  get unswitchedCount(): number {
    return this.copies.size + this.detached.length;
  }

  /** Copies of live connections: checked, wrapped, not read. */
  takeCopies(numbers: number[], fds: number[]): void {
    try {
      requireStreamSockets(fds, false, (i) => `copy ${numbers[i]}`);
      const seen = new Set<number>();
      const repeated = numbers.find((n) => this.copies.has(n) || seen.size === seen.add(n).size);
      if (repeated !== undefined) throw garbled(`copy ${repeated} came twice`);
    } catch (error) {
      closeQuietly(fds);
      throw error;
    }
    numbers.forEach((n, i) => this.copies.set(n, wrapSocket(fds[i], { manualStart: true })));
  }

  /** Connections the old version detached (bytes in flight), each with its fd, unread and unsent bytes. */
  takeDetached(entries: ConnectionEntry[], fds: number[], bytes: Buffer): void {
    try {
      requireStreamSockets(fds, false, (i) => `connection ${this.taken.length + this.detached.length + i + 1}`);
    } catch (error) {
      closeQuietly(fds);
      throw error;
    }
    let offset = 0;
    fds.forEach((fd, i) => {
      const entry = entries[i];
      const pending = bytes.subarray(offset, offset + entry.unread);
      const unsent = bytes.subarray(offset + entry.unread, offset + entry.unread + entry.unsent);
      offset += entry.unread + entry.unsent;
      // It replaces our copy of it, if we have one: two sockets must never read one connection.
      const copy = entry.copy ?? this.copyOfSameSocket(fd);
      if (copy !== undefined) {
        this.copies.get(copy)?.destroy();
        this.copies.delete(copy);
      }
      this.detached.push({ socket: wrapSocket(fd, { manualStart: true }), session: entry.session as S, pending, unsent, writeEnd: entry.writeEnd });
    });
  }

  /** For a peer that does not name the copy: the one on the same socket (same inode), if any. */
  private copyOfSameSocket(fd: number): number | undefined {
    if (this.copies.size === 0) return undefined;
    const inode = fs.fstatSync(fd).ino;
    for (const [copy, socket] of this.copies) {
      if (!socket.destroyed && fs.fstatSync(fdOf(socket)).ino === inode) return copy;
    }
    return undefined;
  }

  /** A group the old version stopped: the copies kept (in its order), then the detached ones. Returns them. */
  applySwitch(switched: { entries: SwitchEntry[]; dropped: number[]; detached: number }, bytes: Buffer): Incoming<S>[] {
    const seen = new Set<number>();
    const unknown = switched.entries.map((e) => e.copy).find((n) => !this.copies.has(n) || seen.size === seen.add(n).size);
    if (unknown !== undefined) throw garbled(`the switch names copy ${unknown}, which never came or is named twice`);
    if (switched.detached !== this.detached.length) throw garbled(`the switch counts ${switched.detached} detached connections, ${this.detached.length} came`);
    const fresh: Incoming<S>[] = [];
    let offset = 0;
    for (const entry of switched.entries) {
      fresh.push({ socket: this.copies.get(entry.copy)!, session: entry.session as S, pending: bytes.subarray(offset, offset + entry.unread), unsent: EMPTY, writeEnd: 'open' });
      offset += entry.unread;
      this.copies.delete(entry.copy);
    }
    for (const copy of switched.dropped) {
      this.copies.get(copy)?.destroy(); // closed by the old version (a detached one's copy went already)
      this.copies.delete(copy);
    }
    fresh.push(...this.detached.splice(0));
    this.taken.push(...fresh);
    return fresh;
  }

  /** 'done': everything was switched, and the count agrees. */
  checkDone(connections: number): void {
    if (this.copies.size > 0 || this.detached.length > 0) throw garbled(`'done' with ${this.copies.size} copies never switched`);
    if (connections !== this.taken.length) throw garbled(`'done' says ${connections} connections, ${this.taken.length} arrived`);
  }

  /** The old version died before switching these: serve them as fresh connections (their state died with it). */
  unswitched(): Incoming<S>[] {
    const fresh: Incoming<S>[] = [...this.copies.values()].map((socket) => ({ socket, session: undefined as S, pending: EMPTY, unsent: EMPTY, writeEnd: 'open' as const }));
    fresh.push(...this.detached.splice(0));
    this.copies.clear();
    this.taken.push(...fresh);
    return fresh;
  }

  /** Lets go of copies never switched (the old version serves them, or took them back). */
  dropUnswitched(): number {
    const count = this.copies.size + this.detached.length;
    for (const socket of this.copies.values()) socket.destroy();
    for (const c of this.detached.splice(0)) c.socket.destroy();
    this.copies.clear();
    return count;
  }

  /** Closes every socket we made (our copies only: the old version has its own). */
  dropAll(): void {
    for (const c of this.taken) c.socket.destroy();
    this.dropUnswitched();
  }
}
