// bench:storm's client: N connections to 127.0.0.1:PORT opened at once
// (non-blocking connect() in one loop), "ping\n" on each as soon as it is
// connected, then the time until every one has read its first byte back.
// One thread, epoll: the client must not be what is measured.
//
//   storm_client PORT N [DEADLINE_MS]
// stdout, one JSON line: {"ms":..., "answered":..., "refused":..., "reset":...}
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: storm_client PORT N [DEADLINE_MS]\n"); return 2; }
  int port = atoi(argv[1]), n = atoi(argv[2]);
  double deadline_ms = argc > 3 ? atof(argv[3]) : 60000;
  if (port <= 0 || n <= 0) { fprintf(stderr, "storm_client: bad PORT or N\n"); return 2; }
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int ep = epoll_create1(0);
  char *state = calloc(n, 1);  // 0 connecting, 1 pinged, 2 done
  int answered = 0, refused = 0, reset = 0, pending = n;
  double start = now_ms();
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { perror("storm_client: socket"); return 1; }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
      if (errno == ECONNREFUSED) refused++; else reset++;
      pending--; close(fd); continue;
    }
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u64 = ((uint64_t)i << 32) | (uint32_t)fd };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  struct epoll_event events[1024];
  char buf[256];
  while (pending > 0) {
    if (now_ms() - start > deadline_ms) break;
    int k = epoll_wait(ep, events, 1024, 100);
    for (int e = 0; e < k; e++) {
      int i = events[e].data.u64 >> 32, fd = (int)(uint32_t)events[e].data.u64;
      if (state[i] == 2) continue;
      if (events[e].events & (EPOLLERR | EPOLLHUP)) {
        int err = 0; socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == ECONNREFUSED) refused++; else reset++;
        state[i] = 2; pending--; epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        continue;
      }
      if (state[i] == 0 && (events[e].events & EPOLLOUT)) {
        if (write(fd, "ping\n", 5) != 5) { reset++; state[i] = 2; pending--; epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); continue; }
        state[i] = 1;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = events[e].data.u64 };
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
      }
      if (events[e].events & EPOLLIN) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) answered++; else reset++;
        state[i] = 2; pending--; epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      }
    }
  }
  double ms = now_ms() - start;
  // Every socket stays open until here: a close would free a slot of the server's queue early.
  printf("{\"ms\":%.0f,\"answered\":%d,\"refused\":%d,\"reset\":%d,\"unfinished\":%d}\n", ms, answered, refused, reset, pending);
  return 0;
}
