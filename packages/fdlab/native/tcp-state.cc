// What the kernel knows of a TCP connection's use, for a take-back to tell a
// connection nobody touched from one the new version read or wrote:
//   consumed = bytes received - bytes still queued to be read (SIOCINQ)
//   written  = bytes acknowledged + bytes still queued to be sent (SIOCOUTQ)
// Both only move when a process reads or writes the socket (an arriving
// segment or ACK moves both of its terms), so equal numbers at two moments
// mean no process read or wrote the connection in between.
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmath>

#include "errors.h"
#include "tcp-state.h"

namespace fdlab {

namespace {

bool Counters(int fd, double* acked, double* received) {
  struct tcp_info info;
  socklen_t length = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) < 0) return false;
  if (length < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received)) return false;
  *acked = static_cast<double>(info.tcpi_bytes_acked);
  *received = static_cast<double>(info.tcpi_bytes_received);
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
    if (!Counters(fd, &acked, &received)) return;
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
