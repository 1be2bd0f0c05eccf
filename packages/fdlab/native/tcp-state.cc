// What the kernel knows of a TCP connection's use, for a take-back to tell a
// connection nobody touched from one the new version read or wrote:
//   consumed = bytes received - bytes still queued to be read (SIOCINQ)
//   written  = bytes acknowledged + bytes still queued to be sent (SIOCOUTQ)
// Both only move when a process reads or writes the socket (an arriving
// segment or ACK moves both of its terms), so equal numbers at two moments
// mean no process read or wrote the connection in between. Two exceptions,
// measured: the peer's FIN counts as a received byte but never as queued
// (consumed +1 on its arrival: taken off again once the state says it came),
// and urgent data cuts SIOCINQ short at its mark (consumed moves with no
// read: such a socket has no count, NaN, and a take-back closes it).
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmath>

#include "errors.h"
#include "tcp-state.h"

namespace fdlab {

// Urgent data pending: SIOCINQ stops at its mark.
bool UrgentPending(int fd) {
  struct pollfd p = {fd, POLLPRI, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLPRI) != 0;
}


namespace {

// tcpi_state values (the kernel's include/net/tcp_states.h; <netinet/tcp.h> has them too but
// clashes with <linux/tcp.h>, whose struct tcp_info has the byte counts).
constexpr int kEstablished = 1, kFinWait1 = 4, kFinWait2 = 5, kCloseWait = 8, kLastAck = 9, kClosing = 11;

bool Counters(int fd, double* acked, double* received) {
  struct tcp_info info;
  socklen_t length = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) < 0) return false;
  if (length < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received)) return false;
  // Only connections whose counts mean something: not listening, not closed.
  int state = info.tcpi_state;
  bool fin_received = state == kCloseWait || state == kLastAck || state == kClosing;
  if (!fin_received && state != kEstablished && state != kFinWait1 && state != kFinWait2) return false;
  *acked = static_cast<double>(info.tcpi_bytes_acked);
  *received = static_cast<double>(info.tcpi_bytes_received) - (fin_received ? 1 : 0);
  return true;
}

// One connection's (consumed, written), or NaN for a socket that is not TCP.
// The counters and the queues are read by separate calls: a segment or an
// ACK arriving between them would skew the sum, so read the counters on both
// sides of the queues and retry until they agree.
void Sample(int fd, double* consumed, double* written) {
  *consumed = *written = std::nan("");
  for (int attempt = 0; attempt < 16; attempt++) {
    double acked, received, acked2, received2;
    int in = 0, out = 0;
    if (!Counters(fd, &acked, &received) || UrgentPending(fd)) return;
    if (ioctl(fd, SIOCINQ, &in) < 0 || ioctl(fd, SIOCOUTQ, &out) < 0) return;
    if (!Counters(fd, &acked2, &received2)) return;
    if (acked == acked2 && received == received2) {
      *consumed = received - in;
      *written = acked + out;
      return;
    }
  }
}

}  // namespace

// tcpUse(fds: Int32Array, count, out: Float64Array): out[2i] = consumed,
// out[2i+1] = written for fds[i] (NaN when it is not a TCP socket).
Napi::Value TcpUse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<int32_t> fds = Int32ArrayArg(info, 0, "fds");
  int count = IntArg(info, 1, "count", 0, static_cast<int>(fds.length));
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "out must be a Float64Array");
  }
  Napi::Float64Array out = info[2].As<Napi::Float64Array>();
  if (out.ElementLength() < static_cast<size_t>(count) * 2) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "out must hold two numbers per fd");
  }
  for (int i = 0; i < count; i++) Sample(fds.data[i], &out[2 * i], &out[2 * i + 1]);
  return env.Undefined();
}

// shutdownBoth(fd) -> true, or false when it is not connected (any more).
// The FIN goes out even while another process holds a copy of the socket,
// which close() alone would not do.
Napi::Value ShutdownBoth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  if (shutdown(fd, SHUT_RDWR) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOTCONN) return Napi::Boolean::New(env, false);
  throw SystemError(env, errno, "shutdown", errno == ENOTSOCK ? "the fd is not a socket" : "");
}

}  // namespace fdlab
