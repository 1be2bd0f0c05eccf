// The C baseline for bench/fdpass.ts: how fast can this kernel move fds over
// a blocking AF_UNIX stream socketpair, with nothing but syscalls in the way?
//
//   fdpass_ref FDS_PER_MESSAGE SECONDS
//
// The parent sends /dev/null FDS_PER_MESSAGE times per sendmsg (1 data byte
// each) until SECONDS have passed; the child receives and closes every fd,
// then writes back how many it got. Prints one JSON line:
//   {"fdsPerMessage":253,"messages":...,"fds":...,"seconds":...,"fdsPerSecond":...}
// The clock stops once the child has drained and closed everything, as in the
// Node rows of the benchmark.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCM_MAX_FD 253
// Looking at the clock every message would cost more than a 1-fd sendmsg.
#define MESSAGES_PER_CLOCK_CHECK 256

static void die(const char *what) {
  perror(what);
  exit(2);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Control buffer sized for the largest batch, aligned as cmsg headers need.
typedef union {
  char buf[CMSG_SPACE(SCM_MAX_FD * sizeof(int))];
  struct cmsghdr align;
} control_t;

static void receive_all(int chan) {
  uint64_t count = 0;
  control_t control;
  for (;;) {
    // Exactly one byte: on a stream socket each sendmsg's fds ride on its
    // byte, so reading one byte returns one message's fds and never more.
    char byte;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);  // as the module's recvFds does
    if (n < 0) die("recvmsg");
    if (n == 0) break;
    if (msg.msg_flags & MSG_CTRUNC) {
      fprintf(stderr, "fdpass_ref: control data truncated\n");
      exit(2);
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *received = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < fds; i++) close(received[i]);
      count += fds;
    }
  }
  if (write(chan, &count, sizeof count) != sizeof count) die("write count");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FDS_PER_MESSAGE SECONDS\n", argv[0]);
    return 2;
  }
  int per_message = atoi(argv[1]);
  double seconds = atof(argv[2]);
  if (per_message < 1 || per_message > SCM_MAX_FD || seconds <= 0) {
    fprintf(stderr, "fdpass_ref: FDS_PER_MESSAGE must be 1..%d and SECONDS > 0\n", SCM_MAX_FD);
    return 2;
  }

  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) die("open /dev/null");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) die("socketpair");

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(pair[0]);
    receive_all(pair[1]);
    _exit(0);
  }
  close(pair[1]);

  // One message, built once and sent over and over: the same fd repeated.
  control_t control;
  memset(&control, 0, sizeof control);
  char byte = 'F';
  struct iovec iov = {&byte, 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = CMSG_SPACE(per_message * sizeof(int))};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(per_message * sizeof(int));
  int *fds = (int *)CMSG_DATA(cmsg);
  for (int i = 0; i < per_message; i++) fds[i] = devnull;

  double start = now();
  uint64_t messages = 0;
  do {
    for (int i = 0; i < MESSAGES_PER_CLOCK_CHECK; i++) {
      if (sendmsg(pair[0], &msg, MSG_NOSIGNAL) != 1) die("sendmsg");
    }
    messages += MESSAGES_PER_CLOCK_CHECK;
  } while (now() - start < seconds);

  // Half-close so the child sees EOF yet can still answer with its count.
  if (shutdown(pair[0], SHUT_WR) < 0) die("shutdown");
  uint64_t received = 0;
  if (read(pair[0], &received, sizeof received) != sizeof received) die("read count");
  int status;
  if (waitpid(child, &status, 0) < 0) die("waitpid");
  double elapsed = now() - start;

  uint64_t sent = messages * per_message;
  if (received != sent || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fdpass_ref: sent %llu fds, child received %llu (status %d)\n",
            (unsigned long long)sent, (unsigned long long)received, status);
    return 1;
  }
  printf("{\"fdsPerMessage\":%d,\"messages\":%llu,\"fds\":%llu,\"seconds\":%.6f,\"fdsPerSecond\":%.0f}\n",
         per_message, (unsigned long long)messages, (unsigned long long)sent, elapsed, sent / elapsed);
  return 0;
}
