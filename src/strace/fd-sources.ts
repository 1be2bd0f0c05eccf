// The syscalls that give a process an fd number (or take one away, or start a
// thread or process that shares or copies the fd table). A lab traces them
// beside the calls its lesson is about, so that every fd number on a timeline
// lane is introduced by the call that made it: without them, lab 2's client
// seemed to close its TCP socket (fd 18) before handing it over as fd 19,
// because the dup that made fd 19 was not in the capture.
// fcntl is here for F_DUPFD/F_DUPFD_CLOEXEC (fdlab's dup()); its other uses
// (F_GETFL/F_SETFL) are a few per handed-over fd and are folded as noise.
export const FD_SOURCES: readonly string[] = ['socket', 'socketpair', 'accept4', 'dup', 'dup2', 'dup3', 'fcntl', 'close', 'clone', 'clone3', 'fork', 'vfork'];

/** A lab's own syscalls plus FD_SOURCES, each once. */
export function withFdSources(syscalls: readonly string[]): string[] {
  return [...new Set([...syscalls, ...FD_SOURCES])];
}
