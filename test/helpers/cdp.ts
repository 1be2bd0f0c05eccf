// The Chrome DevTools Protocol, as VS Code's "attach" speaks it to a Node
// inspector: list the targets on a port, then commands and events over one
// WebSocket.
import WebSocket from 'ws';

export interface Target {
  url: string;
  webSocketDebuggerUrl: string;
}

/** GET /json/list on the published port, retried while the role's inspector comes up. */
export async function listTargets(port: number, timeoutMs = 30_000): Promise<Target[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/json/list`);
      const targets = (await response.json()) as Target[];
      if (targets.length > 0) return targets;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no inspector answered on 127.0.0.1:${port} within ${timeoutMs} ms: ${(last as Error)?.message}`);
}

interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
}

/** The Chrome DevTools Protocol over one WebSocket: commands, and events in order. */
export class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  private readonly events: CdpEvent[] = [];
  /** scriptId -> url, from Debugger.scriptParsed (CallFrame.url is deprecated and empty). */
  readonly scripts = new Map<string, string>();
  private wake?: () => void;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error.message));
        else waiter?.resolve(message.result);
      } else if (message.method) {
        if (message.method === 'Debugger.scriptParsed') this.scripts.set(String(message.params?.scriptId), String(message.params?.url));
        this.events.push({ method: message.method, params: message.params ?? {} });
        this.wake?.();
      }
    });
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new Cdp(socket)));
      socket.once('error', reject);
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The next event named `method` (earlier ones of other names are dropped). */
  async next(method: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.events.findIndex((e) => e.method === method);
      if (index >= 0) return this.events.splice(0, index + 1)[index].params;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${method} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

export interface CallFrame {
  callFrameId: string;
  functionName: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

