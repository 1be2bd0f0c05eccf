// The load client of bench/upgrade.ts: N long-lived ping/pong connections
// to 127.0.0.1:PORT, one thread, epoll, nothing else in the way.
//
//   ping_client --port P --connections N [--interval-ms 1000] [--split-gap-ms 50]
//               [--slow-read-ms 500] [--connect-rate 5000] [--drain-ms 3000]
//               [--max-seconds 600] [--ready-timeout-s 60] [--bucket-ms 100]
//               [--no-reconnect]
//
// Connections come in four kinds, by index modulo 4:
//   plain      "ping" once per interval
//   pipelined  "pingping" in one write once per interval (2 pongs expected)
//   split      "pi", then "ng" split-gap-ms later, once per interval
//   slow       "ping" once per interval, but reads its pongs only every
//              slow-read-ms (they wait in the kernel meanwhile)
// Every connection pings once per interval; the phases are spread evenly over
// the interval. A connection that drops is reconnected (after 20-100 ms) and
// the pings that fell due meanwhile, or went unanswered, are owed: one is sent
// on reconnecting.
//
// Commands on stdin, one per line (T: CLOCK_MONOTONIC in ns, the clock of
// Node's process.hrtime.bigint() on Linux):
//   mark signal K T      upgrade K was signalled at T
//   mark gone K T        the old server of upgrade K was gone at T
//   stop                 stop pinging, wait for the pongs still owed (drain-ms), report
// EOF on stdin is a stop too. stderr gets "READY <T>" once every connection
// is up and has had a pong, "ALLUP <T>" whenever every connection is up again
// after some went down, and a few progress lines. stdout gets one JSON
// line at the end: counts, delays (steady state / each upgrade window), the
// service gap, a time series for charts, and this client's own headroom.
//
// Delays are measured from the moment the complete ping was written (for a
// split ping: its second half) to the moment its pong was read. The slow kind
// stalls on purpose, so its delays and gaps are reported on their own and kept
// out of the headline numbers; its pongs still count for lost/duplicated.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PLAIN, PIPELINED, SPLIT, SLOW, NKINDS };
static const char *KIND_NAMES[NKINDS] = {"plain", "pipelined", "split", "slow"};
enum { DOWN, CONNECTING, UP };

#define RING 64            // outstanding pings tracked per connection
#define STDIN_TAG UINT32_MAX
#define MAX_MARKS 256
#define MAX_INFLIGHT_CONNECTS 256
#define GAP_RECORD_US 1000 // gap episodes at least this long are kept for windowing

typedef struct {
  int fd;
  uint8_t kind, state, half_sent, ever_up, out_len;
  uint8_t reading;         // EPOLLIN on (slow readers: only once stopping)
  uint8_t pong_pos;        // bytes of "pong" matched so far
  char out[16];            // bytes a short write left behind
  uint16_t ring_head, ring_count;
  int64_t ring[RING];      // send time (ns since t0) of each outstanding ping
  int64_t gap_start;       // waiting for a pong since (0: not waiting)
  int64_t retry_at;        // DOWN: when to connect
  int64_t half_at;         // split: when to send "ng"
  uint32_t tick;           // pings scheduled so far
  int owed;                // a ping fell due while down
  int ever_ponged;
} conn_t;

typedef struct { uint32_t send_us, delay_us; uint8_t kind; } sample_t;
typedef struct { uint32_t t_us; uint8_t type; uint32_t conn; uint32_t lost; } event_t;  // type 0 down, 1 up again
typedef struct { uint32_t start_us, end_us; uint8_t kind; } gap_t;
typedef struct { char what[16]; int k; int64_t t; } mark_t;

#define GROW(arr, len, cap) do { if ((len) == (cap)) { (cap) = (cap) ? (cap) * 2 : 4096; \
  (arr) = realloc((arr), (cap) * sizeof *(arr)); if (!(arr)) { perror("realloc"); exit(2); } } } while (0)

// Fixed histogram for the client's own timings: 1 us resolution to 100 ms.
#define HIST_US 100000
typedef struct { uint32_t *b; uint64_t n, over; uint32_t max; } hist_t;

static void hist_add(hist_t *h, int64_t us) {
  if (us < 0) us = 0;
  if (us >= HIST_US) h->over++; else h->b[us]++;
  if ((uint64_t)us > h->max) h->max = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  h->n++;
}

static double hist_pct_ms(const hist_t *h, double p) {
  if (!h->n) return 0;
  uint64_t want = (uint64_t)(p * h->n + 0.999999), seen = 0;
  if (want < 1) want = 1;
  for (int i = 0; i < HIST_US; i++) { seen += h->b[i]; if (seen >= want) return i / 1000.0; }
  return h->max / 1000.0;
}

// ---- globals
static conn_t *conns;
static int N, port, interval_ms = 1000, split_gap_ms = 50, connect_rate = 5000, drain_ms = 3000;
static int max_seconds = 600, ready_timeout_s = 60, bucket_ms = 100, reconnect = 1, slow_read_ms = 500;
// The next time a connection needs the per-connection scan (a reconnect): the
// scan runs only then, not on every wakeup, so 10,000 connections cost no
// O(N) work per ping.
static int64_t scan_at;
static void want_scan(int64_t t) { if (t < scan_at) scan_at = t; }
// Splits' second halves fall due in the order their first halves went out
// (a fixed gap later): a FIFO of connection indexes, at most one entry each.
static uint32_t *halves;
static size_t halves_head, halves_count;
static int ep;
static int64_t t0_abs;  // CLOCK_MONOTONIC ns at start
static struct sockaddr_in addr;

static sample_t *samples; static size_t nsamples, csamples;
static event_t *events; static size_t nevents, cevents;
static gap_t *gaps; static size_t ngaps, cgaps;
static mark_t marks[MAX_MARKS]; static int nmarks;
static int32_t *series_down; static size_t nseries, cseries;

static uint64_t pings[NKINDS], pongs[NKINDS], lost[NKINDS], dups[NKINDS], disconnects[NKINDS];
static int64_t kind_gap_max[NKINDS];  // ns
static uint64_t garbage, reconnects, connect_failures, skipped, write_stalls, connects_started;
static int up_now, down_now, connecting_now, ponged_conns;
static int64_t ready_at = -1;
static hist_t lag_hist, batch_hist;
static int max_events_seen;

static int64_t now_abs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int64_t now_rel(void) { return now_abs() - t0_abs; }
static uint32_t us_of(int64_t rel_ns) { return rel_ns <= 0 ? 0 : (uint32_t)(rel_ns / 1000); }

// ---- gap bookkeeping: the longest time a connection waited with a ping unanswered

static void gap_end(conn_t *c, int64_t now) {
  if (!c->gap_start) return;
  int64_t g = now - c->gap_start;
  if (g > kind_gap_max[c->kind]) kind_gap_max[c->kind] = g;
  if (g >= GAP_RECORD_US * 1000LL) {
    GROW(gaps, ngaps, cgaps);
    gaps[ngaps++] = (gap_t){us_of(c->gap_start), us_of(now), c->kind};
  }
  c->gap_start = 0;
}

static void push_ping(conn_t *c, int64_t t, int count) {
  for (int i = 0; i < count; i++) {
    c->ring[(c->ring_head + c->ring_count) % RING] = t;
    c->ring_count++;
  }
  pings[c->kind] += count;
  if (!c->gap_start) c->gap_start = t;
}

// ---- connections

static void set_events(conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) { perror("epoll_ctl mod"); exit(2); }
}

static void reading(conn_t *c, int on) {
  c->reading = (uint8_t)on;
  set_events(c, on ? (EPOLLIN | EPOLLRDHUP) : 0);
}

static void schedule_retry(conn_t *c, int64_t now) {
  c->retry_at = now + 20000000LL + (int64_t)(rand() % 80) * 1000000LL;
  want_scan(c->retry_at);
}

static void disconnect(conn_t *c, int64_t now) {
  int was_up = c->state == UP;
  close(c->fd);
  c->fd = -1;
  if (c->state == UP) up_now--; else if (c->state == CONNECTING) connecting_now--;
  c->state = DOWN;
  down_now++;
  if (was_up) {
    disconnects[c->kind]++;
    lost[c->kind] += c->ring_count;
    GROW(events, nevents, cevents);
    events[nevents++] = (event_t){us_of(now), 0, (uint32_t)(c - conns), c->ring_count};
  } else {
    connect_failures++;
  }
  // Like a real client, retry what went unanswered once reconnected; the
  // wait (gap_start) goes on from the lost ping until that retry's pong.
  if (reconnect && (c->ring_count || c->half_sent)) c->owed = 1;
  c->ring_count = 0;
  c->ring_head = 0;
  c->half_sent = 0;
  c->reading = 0;
  c->out_len = 0;
  c->pong_pos = 0;
  schedule_retry(c, now);  // gap_start stays: the wait goes on until a pong arrives
}

static void start_connect(conn_t *c, int64_t now) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) { fprintf(stderr, "ping_client: out of fds (raise ulimit -n)\n"); exit(3); }
    perror("socket"); exit(2);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  connects_started++;
  down_now--;
  c->fd = fd;
  int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  if (r < 0 && errno != EINPROGRESS) {
    c->state = CONNECTING;  // counted as a failed attempt by disconnect()
    connecting_now++;
    disconnect(c, now);
    return;
  }
  c->state = CONNECTING;
  connecting_now++;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl add"); exit(2); }
}

// Writes what is left over, then `buf`; 0 on success, -1 if the connection broke.
static int send_bytes(conn_t *c, const char *buf, size_t len, int64_t now) {
  char tmp[32];
  size_t total = 0;
  if (c->out_len) { memcpy(tmp, c->out, c->out_len); total = c->out_len; }
  memcpy(tmp + total, buf, len);
  total += len;
  ssize_t n = send(c->fd, tmp, total, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = 0;
    else { disconnect(c, now); return -1; }
  }
  size_t left = total - (size_t)n;
  if (left > sizeof c->out) left = sizeof c->out;  // cannot happen: we skip pings while bytes are left over
  if (left) write_stalls++;
  memcpy(c->out, tmp + n, left);
  c->out_len = (uint8_t)left;
  return 0;
}

static void fire(conn_t *c, int64_t due, int64_t now, int stopping) {
  c->tick++;
  if (c->state != UP) {
    if (c->ever_up && reconnect && !stopping) {
      c->owed = 1;
      if (!c->gap_start) c->gap_start = due;
    }
    return;
  }
  if (stopping) return;
  hist_add(&lag_hist, (now - due) / 1000);
  if (c->ring_count > RING - 4 || c->out_len || c->half_sent) { skipped++; return; }
  switch (c->kind) {
    case PIPELINED:
      if (send_bytes(c, "pingping", 8, now) == 0) push_ping(c, now, 2);
      break;
    case SPLIT:
      if (send_bytes(c, "pi", 2, now) == 0) {
        c->half_sent = 1;
        c->half_at = now + split_gap_ms * 1000000LL;
        halves[(halves_head + halves_count++) % (size_t)N] = (uint32_t)(c - conns);
      }
      break;
    default:
      if (send_bytes(c, "ping", 4, now) == 0) push_ping(c, now, 1);
  }
}

static void send_half(conn_t *c, int64_t now) {
  c->half_sent = 0;
  if (send_bytes(c, "ng", 2, now) == 0) push_ping(c, now, 1);
}

static void on_connected(conn_t *c, int64_t now) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) { disconnect(c, now); return; }
  connecting_now--;
  up_now++;
  c->state = UP;
  if (c->ever_up) {
    reconnects++;
    GROW(events, nevents, cevents);
    events[nevents++] = (event_t){us_of(now), 1, (uint32_t)(c - conns), 0};
  }
  c->ever_up = 1;
  if (c->kind == SLOW) {  // spread the slow readers' reads over their period
    set_events(c, EPOLLRDHUP);  // no EPOLLIN (it reads on its own schedule), but a hangup is noticed at once
  } else {
    reading(c, 1);
  }
  if (c->owed) {  // the ping that fell due while we were down
    c->owed = 0;
    int64_t since = c->gap_start;
    if (c->kind == PIPELINED) { if (send_bytes(c, "pingping", 8, now) == 0) push_ping(c, now, 2); }
    else if (send_bytes(c, "ping", 4, now) == 0) push_ping(c, now, 1);
    if (since) c->gap_start = since;  // the wait began when the ping fell due
  }
}

static void on_readable(conn_t *c, int64_t now) {
  char buf[4096];
  static const char PONG[4] = {'p', 'o', 'n', 'g'};
  for (int rounds = 0; rounds < 4; rounds++) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0) { disconnect(c, now); return; }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      disconnect(c, now);
      return;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != PONG[c->pong_pos]) { garbage++; c->pong_pos = 0; continue; }
      if (++c->pong_pos < 4) continue;
      c->pong_pos = 0;
      pongs[c->kind]++;
      if (!c->ever_ponged) { c->ever_ponged = 1; ponged_conns++; }
      if (!c->ring_count) { dups[c->kind]++; continue; }
      int64_t sent = c->ring[c->ring_head];
      c->ring_head = (c->ring_head + 1) % RING;
      c->ring_count--;
      GROW(samples, nsamples, csamples);
      samples[nsamples++] = (sample_t){us_of(sent), us_of(now - sent), c->kind};
      if (c->gap_start) {
        gap_end(c, now);
        if (c->ring_count) c->gap_start = now;  // answered just now; the next ping waits from here
      }
    }
    if (n < (ssize_t)sizeof buf) return;
  }
}

// ---- stdin commands

static int stop_requested;

static void on_stdin(void) {
  static char line[512];
  static size_t len;
  for (;;) {
    ssize_t n = read(0, line + len, sizeof line - 1 - len);
    if (n == 0) { stop_requested = 1; return; }
    if (n < 0) return;
    len += (size_t)n;
    line[len] = 0;
    char *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = 0;
      char what[16];
      int k;
      long long t;
      if (sscanf(line, "mark %15s %d %lld", what, &k, &t) == 3 && nmarks < MAX_MARKS) {
        snprintf(marks[nmarks].what, sizeof marks[nmarks].what, "%s", what);
        marks[nmarks].k = k;
        marks[nmarks].t = (int64_t)t - t0_abs;
        nmarks++;
      } else if (strncmp(line, "stop", 4) == 0) {
        stop_requested = 1;
      }
      size_t used = (size_t)(nl - line) + 1;
      memmove(line, nl + 1, len - used + 1);
      len -= used;
    }
    if (len == sizeof line - 1) len = 0;  // an overlong line: drop it
  }
}

// ---- report

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct { size_t count; double p50, p99, p999, max; } dist_t;

static dist_t dist(uint32_t *v, size_t n) {
  dist_t d = {n, 0, 0, 0, 0};
  if (!n) return d;
  qsort(v, n, sizeof *v, cmp_u32);
  size_t i50 = (size_t)(0.50 * n + 0.999999), i99 = (size_t)(0.99 * n + 0.999999), i999 = (size_t)(0.999 * n + 0.999999);
  d.p50 = v[(i50 ? i50 : 1) - 1] / 1000.0;
  d.p99 = v[(i99 ? i99 : 1) - 1] / 1000.0;
  d.p999 = v[(i999 ? i999 : 1) - 1] / 1000.0;
  d.max = v[n - 1] / 1000.0;
  return d;
}

static void print_dist(const char *name, dist_t d) {
  printf("\"%s\":{\"count\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}", name, d.count, d.p50, d.p99, d.p999, d.max);
}

// Samples of the non-slow kinds whose [send, receive] overlaps [from, to) (us).
static dist_t window_dist(uint32_t *scratch, uint32_t from, uint32_t to) {
  size_t n = 0;
  for (size_t i = 0; i < nsamples; i++) {
    sample_t *s = &samples[i];
    if (s->kind == SLOW) continue;
    uint32_t end = s->send_us + s->delay_us;
    if (end >= from && s->send_us < to) scratch[n++] = s->delay_us;
  }
  return dist(scratch, n);
}

static double window_gap_ms(uint32_t from, uint32_t to) {
  uint32_t best = 0;
  for (size_t i = 0; i < ngaps; i++) {
    if (gaps[i].kind == SLOW) continue;
    if (gaps[i].end_us >= from && gaps[i].start_us < to && gaps[i].end_us - gaps[i].start_us > best) best = gaps[i].end_us - gaps[i].start_us;
  }
  return best / 1000.0;
}

static int64_t find_mark(const char *what, int k) {
  for (int i = 0; i < nmarks; i++) if (marks[i].k == k && strcmp(marks[i].what, what) == 0) return marks[i].t;
  return -1;
}

static void report(int64_t end, int timed_out) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  double wall = end / 1e9;
  uint32_t *scratch = malloc((nsamples + 1) * sizeof *scratch);
  if (!scratch) { perror("malloc"); exit(2); }
  uint64_t tp = 0, tg = 0, tl = 0, td = 0, tdisc = 0;
  for (int k = 0; k < NKINDS; k++) { tp += pings[k]; tg += pongs[k]; tl += lost[k]; td += dups[k]; tdisc += disconnects[k]; }

  printf("{\"connections\":%d,\"interval_ms\":%d,\"t0_ns\":%lld,\"ready_ms\":%.3f,\"end_ms\":%.3f,\"timed_out\":%s,",
         N, interval_ms, (long long)t0_abs, ready_at < 0 ? -1.0 : ready_at / 1e6, end / 1e6, timed_out ? "true" : "false");
  printf("\"pings\":%llu,\"pongs\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"disconnects\":%llu,\"reconnects\":%llu,"
         "\"connect_failures\":%llu,\"connects_started\":%llu,\"down_at_end\":%d,\"garbage\":%llu,\"skipped\":%llu,\"write_stalls\":%llu,",
         (unsigned long long)tp, (unsigned long long)tg, (unsigned long long)tl, (unsigned long long)td, (unsigned long long)tdisc,
         (unsigned long long)reconnects, (unsigned long long)connect_failures, (unsigned long long)connects_started, N - up_now,
         (unsigned long long)garbage, (unsigned long long)skipped, (unsigned long long)write_stalls);

  printf("\"per_kind\":{");
  for (int k = 0; k < NKINDS; k++) {
    size_t n = 0;
    for (size_t i = 0; i < nsamples; i++) if (samples[i].kind == k) scratch[n++] = samples[i].delay_us;
    dist_t d = dist(scratch, n);
    printf("%s\"%s\":{\"pings\":%llu,\"pongs\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"disconnects\":%llu,\"gap_max_ms\":%.3f,",
           k ? "," : "", KIND_NAMES[k], (unsigned long long)pings[k], (unsigned long long)pongs[k], (unsigned long long)lost[k],
           (unsigned long long)dups[k], (unsigned long long)disconnects[k], kind_gap_max[k] / 1e6);
    print_dist("delay", d);
    printf("}");
  }
  printf("},");

  // Steady state: after READY, before the first signal (or the end).
  int64_t first_signal = find_mark("signal", 1);
  uint32_t steady_from = ready_at < 0 ? 0 : us_of(ready_at);
  uint32_t steady_to = first_signal < 0 ? us_of(end) : us_of(first_signal);
  {
    size_t n = 0;
    for (size_t i = 0; i < nsamples; i++) {
      sample_t *s = &samples[i];
      if (s->kind != SLOW && s->send_us >= steady_from && s->send_us + s->delay_us < steady_to) scratch[n++] = s->delay_us;
    }
    dist_t d = dist(scratch, n);
    printf("\"steady\":{\"from_ms\":%.3f,\"to_ms\":%.3f,", steady_from / 1e3, steady_to / 1e3);
    print_dist("delay", d);
    printf(",\"gap_ms\":%.3f},", window_gap_ms(steady_from, steady_to) > d.max ? window_gap_ms(steady_from, steady_to) : d.max);
  }

  // Each upgrade: from its signal to its old server gone + 1 s.
  printf("\"upgrades\":[");
  int first = 1;
  uint32_t *union_scratch = malloc((nsamples + 1) * sizeof *union_scratch);
  size_t union_n = 0;
  double union_gap = 0;
  for (int k = 1; k < 1000; k++) {
    int64_t sig = find_mark("signal", k);
    if (sig < 0) break;
    int64_t gone = find_mark("gone", k);
    int64_t next_sig = find_mark("signal", k + 1);
    int64_t wend = gone >= 0 ? gone + 1000000000LL : (next_sig >= 0 ? next_sig : end);
    if (wend > end) wend = end;
    uint32_t from = us_of(sig), to = us_of(wend);
    dist_t d = window_dist(scratch, from, to);
    for (size_t i = 0; i < nsamples; i++) {  // the union of the windows
      sample_t *s = &samples[i];
      if (s->kind != SLOW && s->send_us + s->delay_us >= from && s->send_us < to) union_scratch[union_n++] = s->delay_us;
    }
    double g = window_gap_ms(from, to);
    if (g < d.max) g = d.max;
    if (g > union_gap) union_gap = g;
    // Disconnects from this signal until the next one (or the end); when did the last one come back?
    uint32_t ev_to = us_of(next_sig >= 0 ? next_sig : end);
    uint64_t downs = 0, ups = 0, ev_lost = 0;
    uint32_t last_up = 0;
    for (size_t i = 0; i < nevents; i++) {
      event_t *e = &events[i];
      if (e->t_us < from || e->t_us >= ev_to) continue;
      if (e->type == 0) { downs++; ev_lost += e->lost; } else { ups++; if (e->t_us > last_up) last_up = e->t_us; }
    }
    printf("%s{\"k\":%d,\"signal_ms\":%.3f,\"gone_ms\":%.3f,\"window_end_ms\":%.3f,", first ? "" : ",", k, sig / 1e6,
           gone < 0 ? -1.0 : gone / 1e6, wend / 1e6);
    print_dist("delay", d);
    printf(",\"gap_ms\":%.3f,\"disconnects\":%llu,\"reconnects\":%llu,\"lost_at_disconnect\":%llu,\"all_back_ms\":%.3f}", g,
           (unsigned long long)downs, (unsigned long long)ups, (unsigned long long)ev_lost,
           downs ? (ups >= downs ? (last_up - from) / 1e3 : -1.0) : 0.0);
    first = 0;
  }
  printf("],");
  {
    dist_t d = dist(union_scratch, union_n);
    printf("\"during\":{");
    print_dist("delay", d);
    printf(",\"gap_ms\":%.3f},", union_gap);
  }
  free(union_scratch);

  // Time series by send time, bucket_ms wide: non-slow delays, and connections down.
  size_t nb = (size_t)(end / 1000000LL / bucket_ms) + 1;
  size_t *starts = calloc(nb + 1, sizeof *starts);
  uint32_t *byb = malloc((nsamples + 1) * sizeof *byb);
  for (size_t i = 0; i < nsamples; i++) if (samples[i].kind != SLOW) { size_t b = samples[i].send_us / 1000 / bucket_ms; if (b < nb) starts[b + 1]++; }
  for (size_t b = 0; b < nb; b++) starts[b + 1] += starts[b];
  size_t *fill = calloc(nb, sizeof *fill);
  for (size_t i = 0; i < nsamples; i++) if (samples[i].kind != SLOW) {
    size_t b = samples[i].send_us / 1000 / bucket_ms;
    if (b < nb) byb[starts[b] + fill[b]++] = samples[i].delay_us;
  }
  printf("\"series\":{\"bucket_ms\":%d,\"count\":[", bucket_ms);
  for (size_t b = 0; b < nb; b++) printf("%s%zu", b ? "," : "", starts[b + 1] - starts[b]);
  const char *names[3] = {"p50_ms", "p99_ms", "max_ms"};
  for (int which = 0; which < 3; which++) {
    printf("],\"%s\":[", names[which]);
    for (size_t b = 0; b < nb; b++) {
      dist_t d = dist(byb + starts[b], starts[b + 1] - starts[b]);
      double v = which == 0 ? d.p50 : which == 1 ? d.p99 : d.max;
      printf("%s%.3f", b ? "," : "", d.count ? v : -1.0);
    }
  }
  printf("],\"down\":[");
  for (size_t b = 0; b < nb; b++) printf("%s%d", b ? "," : "", b < nseries ? series_down[b] : (N - up_now));
  printf("]},");
  free(starts); free(fill); free(byb);

  printf("\"marks\":[");
  for (int i = 0; i < nmarks; i++) printf("%s{\"what\":\"%s\",\"k\":%d,\"ms\":%.3f}", i ? "," : "", marks[i].what, marks[i].k, marks[i].t / 1e6);
  printf("],");

  printf("\"headroom\":{\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"wall_s\":%.3f,\"cpu_fraction\":%.4f,"
         "\"timer_lag_p50_ms\":%.3f,\"timer_lag_p99_ms\":%.3f,\"timer_lag_max_ms\":%.3f,"
         "\"batch_p99_ms\":%.3f,\"batch_max_ms\":%.3f,\"max_events_per_wait\":%d}}\n",
         user, sys, wall, wall > 0 ? (user + sys) / wall : 0, hist_pct_ms(&lag_hist, 0.5), hist_pct_ms(&lag_hist, 0.99),
         lag_hist.max / 1000.0, hist_pct_ms(&batch_hist, 0.99), batch_hist.max / 1000.0, max_events_seen);
  fflush(stdout);
  free(scratch);
}

// ---- main loop

static int arg_int(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) { fprintf(stderr, "ping_client: %s needs a value\n", argv[*i]); exit(2); }
  return atoi(argv[++*i]);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port")) port = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--connections")) N = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--interval-ms")) interval_ms = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--split-gap-ms")) split_gap_ms = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--slow-read-ms")) slow_read_ms = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--connect-rate")) connect_rate = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--drain-ms")) drain_ms = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--max-seconds")) max_seconds = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--ready-timeout-s")) ready_timeout_s = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--bucket-ms")) bucket_ms = arg_int(argc, argv, &i);
    else if (!strcmp(argv[i], "--no-reconnect")) reconnect = 0;
    else { fprintf(stderr, "ping_client: unknown argument %s\n", argv[i]); return 2; }
  }
  if (N < 1 || port < 1 || port > 65535 || interval_ms < 10 || bucket_ms < 1 || connect_rate < 1 || slow_read_ms < 1 ||
      split_gap_ms < 0 || split_gap_ms >= interval_ms) {
    fprintf(stderr, "usage: ping_client --port P --connections N [--interval-ms 1000] ...\n");
    return 2;
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)N + 64) {
    fprintf(stderr, "ping_client: %d connections need more fds than ulimit -n %llu allows (raise it: ulimit -n %d)\n", N,
            (unsigned long long)rl.rlim_cur, N + 64);
    return 3;
  }
  srand(12345);
  lag_hist.b = calloc(HIST_US, sizeof(uint32_t));
  batch_hist.b = calloc(HIST_US, sizeof(uint32_t));
  conns = calloc((size_t)N, sizeof *conns);
  halves = calloc((size_t)N, sizeof *halves);
  if (!conns || !halves || !lag_hist.b || !batch_hist.b) { perror("calloc"); return 2; }
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);

  t0_abs = now_abs();
  const int64_t interval = interval_ms * 1000000LL;
  const int64_t connect_step = 1000000000LL / connect_rate;
  for (int i = 0; i < N; i++) {
    conns[i].fd = -1;
    conns[i].kind = (uint8_t)(i % NKINDS);
    conns[i].state = DOWN;
    conns[i].retry_at = (int64_t)i * connect_step;
  }
  down_now = N;

  // Ping schedule: connection i is due at sched0 + i * interval / N + r * interval.
  const int64_t sched0 = 0;
  int64_t round = 0;
  int cursor = 0;
  int was_all_up = 0;
  int have_pwait2 = 1;
  const int64_t slow_period = slow_read_ms * 1000000LL;
  int64_t read_round = 0;
  int read_cursor = 0;
  int stopping = 0;
  int64_t stop_at = 0, bucket_next = bucket_ms * 1000000LL;
  const int64_t hard_end = (int64_t)max_seconds * 1000000000LL;
  struct epoll_event evs[1024];
  int timed_out = 0;

  for (;;) {
    int64_t now = now_rel();
    // Buckets of the "connections down" series.
    while (now >= bucket_next) {
      GROW(series_down, nseries, cseries);
      series_down[nseries++] = N - up_now;
      bucket_next += bucket_ms * 1000000LL;
    }
    if (now >= hard_end) { timed_out = 1; break; }
    if (!stopping && stop_requested) {
      stopping = 1;
      stop_at = now;
      for (int i = 0; i < N; i++) {
        conn_t *c = &conns[i];
        if (c->state == UP && c->half_sent) send_half(c, now);
        if (c->state == UP && !c->reading) reading(c, 1);
      }
    }
    if (stopping) {
      int outstanding = 0;
      for (int i = 0; i < N && !outstanding; i++) if (conns[i].state == UP && (conns[i].ring_count || conns[i].out_len)) outstanding = 1;
      if (!outstanding || now - stop_at > drain_ms * 1000000LL) break;
    }
    if (ready_at < 0 && ponged_conns == N && up_now == N) {
      ready_at = now;
      was_all_up = 1;
      fprintf(stderr, "READY %lld\n", (long long)(now + t0_abs));
    }
    if (ready_at >= 0) {
      if (up_now < N) was_all_up = 0;
      else if (!was_all_up) { was_all_up = 1; fprintf(stderr, "ALLUP %lld\n", (long long)(now + t0_abs)); }
    }
    if (ready_at < 0 && now > (int64_t)ready_timeout_s * 1000000000LL && ready_timeout_s > 0) {
      fprintf(stderr, "NOTREADY up=%d ponged=%d connecting=%d failures=%llu\n", up_now, ponged_conns, connecting_now,
              (unsigned long long)connect_failures);
      ready_timeout_s = 0;
    }

    // Due pings.
    int64_t next_deadline = now + 100000000LL;
    for (;;) {
      int64_t due = sched0 + round * interval + (int64_t)cursor * interval / N;
      if (due > now) { if (due < next_deadline) next_deadline = due; break; }
      fire(&conns[cursor], due, now, stopping);
      if (++cursor == N) { cursor = 0; round++; }
    }
    // Second halves of split pings, in the order they fall due.
    while (halves_count) {
      conn_t *c = &conns[halves[halves_head]];
      if (c->half_sent && c->state == UP && c->half_at > now) {
        if (c->half_at < next_deadline) next_deadline = c->half_at;
        break;
      }
      halves_head = (halves_head + 1) % (size_t)N;
      halves_count--;
      if (c->half_sent && c->state == UP) send_half(c, now);  // else it was dropped by a disconnect
    }
    // Slow readers read on a schedule of their own, spread like the pings.
    for (;;) {
      int64_t due = read_round * slow_period + (int64_t)read_cursor * slow_period / N;
      if (due > now) { if (due < next_deadline) next_deadline = due; break; }
      conn_t *c = &conns[read_cursor];
      if (c->kind == SLOW && c->state == UP && !c->reading) on_readable(c, now);
      if (++read_cursor == N) { read_cursor = 0; read_round++; }
    }
    // (Re)connects: only when one is due.
    if (now >= scan_at) {
      scan_at = INT64_MAX;
      for (int i = 0; i < N; i++) {
        conn_t *c = &conns[i];
        if (c->state == DOWN && !stopping && (reconnect || !c->ever_up)) {
          if (c->retry_at <= now) {
            if (connecting_now < MAX_INFLIGHT_CONNECTS) start_connect(c, now);
            else want_scan(now + 1000000LL);
          } else want_scan(c->retry_at);
        }
      }
    }
    if (scan_at < next_deadline) next_deadline = scan_at;
    if (bucket_next < next_deadline) next_deadline = bucket_next;
    if (stopping && next_deadline > now + 10000000LL) next_deadline = now + 10000000LL;

    int64_t wait_ns = next_deadline - now_rel();
    if (wait_ns < 0) wait_ns = 0;
    int n;
    if (have_pwait2) {  // a timeout in ns: pings go out on time, not up to 1 ms late
      struct timespec ts = {wait_ns / 1000000000LL, wait_ns % 1000000000LL};
      n = epoll_pwait2(ep, evs, 1024, &ts, NULL);
      if (n < 0 && errno == ENOSYS) { have_pwait2 = 0; continue; }
    } else {
      n = epoll_wait(ep, evs, 1024, (int)((wait_ns + 999999) / 1000000));
    }
    if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 2; }
    if (n > max_events_seen) max_events_seen = n;
    int64_t batch_start = now_rel();
    for (int i = 0; i < n; i++) {
      uint32_t tag = evs[i].data.u32;
      if (tag == STDIN_TAG) { on_stdin(); continue; }
      conn_t *c = &conns[tag];
      int64_t t = now_rel();  // each event gets its own timestamp
      if (c->state == CONNECTING) {
        if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c, t);
      } else if (c->state == UP) {
        if (evs[i].events & EPOLLIN) on_readable(c, t);
        else if (evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) disconnect(c, t);
        else if (evs[i].events & EPOLLRDHUP) on_readable(c, t);  // a slow reader: its pongs, then the EOF
      }
    }
    if (n > 0) hist_add(&batch_hist, (now_rel() - batch_start) / 1000);
  }
  int64_t end = now_rel();
  // Whatever is still outstanding now was lost; a wait still open counts to now.
  for (int i = 0; i < N; i++) {
    conn_t *c = &conns[i];
    if (c->state == UP) lost[c->kind] += c->ring_count;
    if (c->gap_start && (c->ring_count || c->owed || c->state != UP)) gap_end(c, end);
  }
  report(end, timed_out);
  return timed_out ? 4 : 0;
}
