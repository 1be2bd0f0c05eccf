// SCM_RIGHTS over a Unix socket: the APUE 17.4 send_fd/recv_fd pair, batched.
// Every call is one syscall on the caller's fd and never blocks by itself:
// on a non-blocking fd EAGAIN surfaces as an error for the JS layer to wait
// on, or, in the try* forms FdChannel uses, as a return value of -1.
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "errors.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace fdlab {

// The kernel's per-message limit (include/net/scm.h); sendmsg says EINVAL past it.
static constexpr int kScmMaxFd = 253;

// Room for the most rights one message can carry plus one SCM_CREDENTIALS (in
// case the peer enabled SO_PASSCRED). On the stack: a heap buffer per message
// cost more than the syscall's own bookkeeping.
union ControlBuffer {
  char bytes[CMSG_SPACE(kScmMaxFd * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
  struct cmsghdr align;
};

// Linux releases the fd even when close reports EINTR: never retry.
// Returns 0 or the errno that matters.
static int CloseOnce(int fd) {
  return close(fd) == 0 || errno == EINTR ? 0 : errno;
}

// One sendmsg of data[0..length) with fds[0..count) as SCM_RIGHTS (the fds
// ride with the first byte, so a short write still delivered all of them).
// Returns the bytes the kernel took, or -errno.
static ssize_t SendOnce(int chan, const int32_t* fds, int count, const uint8_t* data, size_t length) {
  struct iovec iov = {const_cast<uint8_t*>(data), length};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ControlBuffer control;
  if (count > 0) {
    size_t payload = count * sizeof(int);
    msg.msg_control = control.bytes;
    msg.msg_controllen = CMSG_SPACE(payload);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    // CMSG_SPACE's alignment padding goes to the kernel too: no stack garbage in it.
    memset(cmsg, 0, msg.msg_controllen);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(payload);
    memcpy(CMSG_DATA(cmsg), fds, payload);
  }
  ssize_t n;
  do {
    n = sendmsg(chan, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

[[noreturn]] static void ThrowSendError(Napi::Env env, int err) {
  std::string hint;
  if (err == ENOTSOCK) hint = "the channel fd is not a socket";
  else if (err == EOPNOTSUPP || err == EINVAL)
    hint = "the channel must be a Unix domain socket (AF_UNIX); TCP cannot carry fds";
  else if (err == EBADF) hint = "the channel fd, or one of the fds to send, is not open";
  else if (err == EPIPE || err == ECONNRESET) hint = "the peer closed the channel";
  throw SystemError(env, err, "sendmsg", hint);
}

static void RefuseEmptyData(Napi::Env env) {
  // A stream socket drops ancillary data sent with zero bytes.
  throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "sendFds needs at least one data byte: the fds ride on it");
}

// The arguments both send forms start with: (channelFd, fds: Int32Array,
// count, data: Buffer), count at most fds.length and SCM_MAX_FD.
struct SendArguments {
  int chan;
  ArrayArg<int32_t> fds;
  int count;
  ArrayArg<uint8_t> data;
};

static SendArguments SendArgs(const Napi::CallbackInfo& info) {
  int chan = FdArg(info, 0, "channelFd");
  ArrayArg<int32_t> fds = Int32ArrayArg(info, 1, "fds");
  int count = IntArg(info, 2, "count", 0, static_cast<int>(std::min<size_t>(fds.length, kScmMaxFd)));
  return {chan, fds, count, BytesArg(info, 3, "data")};
}

// sendFdsFrom(channelFd, fds: Int32Array, count, data: Buffer, checkUnix) ->
// bytes accepted by the kernel. fds[0..count) are trusted to be fd numbers:
// src/fd/transfer.ts validates them, which is cheaper in JS than through N-API.
Napi::Value SendFdsFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto [chan, fds, count, data] = SendArgs(info);
  // Anything but an explicit false checks: skipping is only for callers that
  // already know the channel is AF_UNIX.
  bool check_unix = !(info[4].IsBoolean() && !info[4].As<Napi::Boolean>().Value());
  if (data.length == 0) RefuseEmptyData(env);

  if (count > 0 && check_unix) {
    // On anything but AF_UNIX the kernel ignores SCM_RIGHTS and still sends
    // the bytes: the fds would vanish without an error. Refuse instead.
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(chan, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain != AF_UNIX) {
      throw CodedError(env, "ERR_CHANNEL_NOT_UNIX",
                       "sendFds: fd " + std::to_string(chan) +
                           " is not a Unix domain socket (AF_UNIX); the kernel would send the bytes "
                           "and silently drop the fds. Pass fds over a Unix socket, e.g. socketpair()");
    }
  }
  ssize_t n = SendOnce(chan, fds.data, count, data.data, data.length);
  if (n < 0) ThrowSendError(env, static_cast<int>(-n));
  return Napi::Number::New(env, static_cast<double>(n));
}

// trySendFdsFrom(channelFd, fds: Int32Array, count, data: Buffer, offset) ->
// bytes of data[offset..] accepted, or -1 when the socket is full (EAGAIN).
// FdChannel's hot path: a thrown EAGAIN (an Error object, its properties, the
// unwinding) costs more than the whole send, and a full socket is routine
// there, not a failure. Other errors still throw. No AF_UNIX check: FdChannel
// proved its socket once. `offset` spares the caller a subarray per retry.
Napi::Value TrySendFdsFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto [chan, fds, count, data] = SendArgs(info);
  double offset = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : -1;
  if (!(offset >= 0 && offset < static_cast<double>(data.length)) || offset != static_cast<double>(static_cast<size_t>(offset))) {
    if (data.length == 0) RefuseEmptyData(env);
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "The \"offset\" argument must be an integer >= 0 and < data.length (" +
                              std::to_string(data.length) + ")");
  }
  size_t skip = static_cast<size_t>(offset);
  ssize_t n = SendOnce(chan, fds.data, count, data.data + skip, data.length - skip);
  if (n == -EAGAIN) return Napi::Number::New(env, -1);
  if (n < 0) ThrowSendError(env, static_cast<int>(-n));
  return Napi::Number::New(env, static_cast<double>(n));
}

// One recvmsg into the caller's memory, arguments (channelFd, data: Buffer,
// fds: Int32Array, counts: Int32Array) as recvFdsInto. On success sets
// counts[0] = bytes read, counts[1] = fds received, and returns the bytes;
// a failed recvmsg returns -errno. Truncated control data throws
// ERR_FD_CTRUNC, with every fd that did arrive closed first.
static ssize_t RecvOnce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = FdArg(info, 0, "channelFd");
  ArrayArg<uint8_t> data = BytesArg(info, 1, "data");
  ArrayArg<int32_t> out = Int32ArrayArg(info, 2, "fds");
  ArrayArg<int32_t> counts = Int32ArrayArg(info, 3, "counts");
  if (data.length == 0) {
    // recvmsg would return 0, which reads as "the peer closed".
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "The \"data\" argument must hold at least one byte");
  }
  if (counts.length < 2) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "The \"counts\" argument must have room for 2 numbers (bytes, fds)");
  }
  size_t max_fds = std::min<size_t>(out.length, kScmMaxFd);

  struct iovec iov = {data.data, data.length};
  ControlBuffer control;
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);

  ssize_t n;
  do {
    n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;

  // Every fd the control buffer can hold fits here, so none is ever dropped unseen.
  int received[sizeof(control.bytes) / sizeof(int)];
  size_t count = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t in_cmsg = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    memcpy(received + count, CMSG_DATA(c), in_cmsg * sizeof(int));
    count += in_cmsg;
  }
  // The control buffer has room for more fds than fds.length: hold to the limit.
  if ((msg.msg_flags & MSG_CTRUNC) || count > max_fds) {
    // Whatever did arrive would otherwise leak: nobody else knows these numbers.
    for (size_t i = 0; i < count; i++) CloseOnce(received[i]);
    throw CodedError(env, "ERR_FD_CTRUNC",
                     "recvmsg: control data truncated (MSG_CTRUNC): the peer sent more fds than "
                     "maxFds=" + std::to_string(max_fds) + " or this process hit its fd limit "
                     "(ulimit -n); the " + std::to_string(count) +
                     " fds that did arrive were closed, the others are lost");
  }
  memcpy(out.data, received, count * sizeof(int));
  counts.data[0] = static_cast<int32_t>(n);
  counts.data[1] = static_cast<int32_t>(count);
  return n;
}

[[noreturn]] static void ThrowRecvError(Napi::Env env, int err) {
  std::string hint;
  if (err == ENOTSOCK) hint = "the channel fd is not a socket";
  else if (err == EBADF) hint = "the channel fd is not open";
  throw SystemError(env, err, "recvmsg", hint);
}

// recvFdsInto(channelFd, data: Buffer, fds: Int32Array, counts: Int32Array):
// one recvmsg into the caller's memory; counts[0] = bytes read, counts[1] =
// fds received. Creating no JS objects is the point: per message they cost
// more than the syscall. counts = [0, 0] means the peer closed the channel.
Napi::Value RecvFdsInto(const Napi::CallbackInfo& info) {
  ssize_t n = RecvOnce(info);
  if (n < 0) ThrowRecvError(info.Env(), static_cast<int>(-n));
  return info.Env().Undefined();
}

// tryRecvFdsInto(...): recvFdsInto that returns the bytes read (0: the peer
// closed), or -1 with counts untouched when nothing is queued (EAGAIN), which
// FdChannel meets once per wakeup and must not pay an exception for.
Napi::Value TryRecvFdsInto(const Napi::CallbackInfo& info) {
  ssize_t n = RecvOnce(info);
  if (n == -EAGAIN) return Napi::Number::New(info.Env(), -1);
  if (n < 0) ThrowRecvError(info.Env(), static_cast<int>(-n));
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// closeFds(fds: Int32Array, count) -> how many of fds[0..count) were not open.
// One call for a whole batch: closing 253 fds one N-API call at a time costs
// more than the closes.
Napi::Value CloseFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<int32_t> fds = Int32ArrayArg(info, 0, "fds");
  int count = IntArg(info, 1, "count", 0, static_cast<int>(std::min<size_t>(fds.length, 0x7fffffff)));
  int not_open = 0;
  for (int i = 0; i < count; i++) {
    if (CloseOnce(fds.data[i]) == EBADF) not_open++;
  }
  return Napi::Number::New(env, not_open);
}

// socketpair(type, nonBlocking) -> [fd, fd], both close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string type = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "stream";
  bool non_blocking = info.Length() > 1 ? info[1].ToBoolean().Value() : true;
  int sock_type;
  if (type == "stream") sock_type = SOCK_STREAM;
  else if (type == "dgram") sock_type = SOCK_DGRAM;
  else if (type == "seqpacket") sock_type = SOCK_SEQPACKET;
  else throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                            "socketpair type must be 'stream', 'dgram' or 'seqpacket'; got '" + type + "'");
  int flags = sock_type | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  int pair[2];
  if (socketpair(AF_UNIX, flags, 0, pair) < 0) throw SystemError(env, errno, "socketpair");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, pair[0]);
  out.Set(1u, pair[1]);
  return out;
}

// dup(fd) -> a new fd for the same open file description, close-on-exec.
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw SystemError(env, errno, "dup", errno == EBADF ? "the fd is not open" : "");
  return Napi::Number::New(env, copy);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  int err = CloseOnce(fd);
  if (err != 0) throw SystemError(env, err, "close", err == EBADF ? "the fd is not open" : "");
  return env.Undefined();
}

Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  bool on = info.Length() > 1 ? info[1].ToBoolean().Value() : true;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) throw SystemError(env, errno, "fcntl");
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0) throw SystemError(env, errno, "fcntl");
  return env.Undefined();
}

// pidfdGetfd(pid, targetFd) -> a copy of another process's fd, taken without
// its cooperation (Linux >= 5.6, needs ptrace rights over that process).
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "pid", 1, 0x7fffffff);
  int target = FdArg(info, 1, "targetFd");
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    std::string hint = err == ENOSYS ? "pidfd_open needs Linux >= 5.3"
                       : err == ESRCH ? "no process with pid " + std::to_string(pid)
                                      : "";
    throw SystemError(env, err, "pidfd_open", hint);
  }
  int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
  int err = errno;
  close(pidfd);
  if (fd < 0) {
    std::string hint;
    if (err == ENOSYS) hint = "pidfd_getfd needs Linux >= 5.6";
    else if (err == EPERM)
      hint = "not allowed to ptrace pid " + std::to_string(pid) +
             ": run as the same user with kernel.yama.ptrace_scope=0, or with CAP_SYS_PTRACE";
    else if (err == EBADF) hint = "pid " + std::to_string(pid) + " has no fd " + std::to_string(target);
    else if (err == ESRCH) hint = "pid " + std::to_string(pid) + " has exited";
    throw SystemError(env, err, "pidfd_getfd", hint);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace fdlab
