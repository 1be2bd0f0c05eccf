// A server's log is best-effort: stdout and stderr may be pipes to a log
// shipper that died. A write then fails with EPIPE, reported as an 'error'
// event on process.stdout (or stderr) which, unhandled, crashed the process
// and dropped every connection it served (measured: 500 of 500, issue 18).
// After bestEffortOutput() such an error only marks the stream broken:
// writeLine() skips it, and a line to stderr says so once if stderr still
// works. Successors inherit the same pipes and do the same.

/** The streams a write failed on: nothing more is written to them. */
const broken = new Set<NodeJS.WritableStream>();
const watched = new Set<NodeJS.WritableStream>();

/** From now on an EPIPE (or any error) on stdout or stderr is logged once, never thrown. */
export function bestEffortOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (watched.has(stream)) continue;
    watched.add(stream);
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (broken.has(stream)) return;
      broken.add(stream);
      const name = stream === process.stdout ? 'stdout' : 'stderr';
      writeLine(process.stderr, `[pid ${process.pid}] ${name}: ${error.code ?? error.message}; its log lines are dropped from now on, serving goes on`);
    });
  }
}

/** One line to `stream`, unless a write to it failed before (never throws). */
export function writeLine(stream: NodeJS.WriteStream, line: string): void {
  if (broken.has(stream) || stream.destroyed) return;
  try {
    stream.write(`${line}\n`);
  } catch {
    broken.add(stream); // a synchronous failure: the same as an 'error' event
  }
}
