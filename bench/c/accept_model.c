// A model of a server's accept path, for docs/performance.md ("Why Node drops
// SYNs in a storm"): each connection costs COST_US of the server's one event-loop
// thread, as building a net.Socket does in Node. Modes:
//   inline  accept in the event loop, as libuv does: while it builds sockets,
//           nobody accepts, and a storm overflows the accept queue
//   thread  a second thread only accepts (accept4 in a loop) and hands the fds
//           over through a queue and an eventfd: the kernel's queue stays empty
// Answers "pong\n" per "ping\n" line; prints "serving on 127.0.0.1:<port>".
//   cc -O2 -pthread -o accept_model bench/c/accept_model.c
//   ./accept_model inline|thread COST_US     (then bench/c/storm_client PORT N MS)
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
static int lfd, efd, ep; static double cost;
static int *q; static int qh, qt; static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void spin(void) { double end = now() + cost; while (now() < end) {} }
static void serve(int fd) { spin(); struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev); }
static void *acceptor(void *arg) { (void)arg; for (;;) { int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK); if (fd < 0) continue;
  pthread_mutex_lock(&mu); q[qt++] = fd; pthread_mutex_unlock(&mu); uint64_t one = 1; write(efd, &one, 8); } return NULL; }
int main(int argc, char **argv) {
  int thread = strcmp(argv[1], "thread") == 0; cost = atof(argv[2]) / 1e6; q = malloc(sizeof(int) * 100000);
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r"); int backlog = 4096; if (f) { fscanf(f, "%d", &backlog); fclose(f); }
  lfd = socket(AF_INET, SOCK_STREAM | (thread ? 0 : SOCK_NONBLOCK), 0); int one = 1; setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, 4);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)}; bind(lfd, (void *)&a, sizeof a); listen(lfd, backlog);
  socklen_t l = sizeof a; getsockname(lfd, (void *)&a, &l); printf("serving on 127.0.0.1:%d\n", ntohs(a.sin_port)); fflush(stdout);
  ep = epoll_create1(0); struct epoll_event ev = {.events = EPOLLIN};
  if (thread) { efd = eventfd(0, EFD_NONBLOCK); ev.data.fd = efd; epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev); pthread_t t; pthread_create(&t, NULL, acceptor, NULL); }
  else { ev.data.fd = lfd; epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev); }
  struct epoll_event evs[256]; char buf[4096];
  for (;;) { int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) { int fd = evs[i].data.fd;
      if (fd == lfd) { for (;;) { int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK); if (c < 0) break; serve(c); } continue; }
      if (fd == efd) { uint64_t v; read(efd, &v, 8); for (;;) { pthread_mutex_lock(&mu); int c = qh < qt ? q[qh++] : -1; pthread_mutex_unlock(&mu); if (c < 0) break; serve(c); } continue; }
      ssize_t r = read(fd, buf, sizeof buf); if (r <= 0) { close(fd); continue; }
      int pongs = 0; for (ssize_t k = 0; k < r; k++) if (buf[k] == '\n') pongs++;
      for (int k = 0; k < pongs; k++) write(fd, "pong\n", 5); } }
}
