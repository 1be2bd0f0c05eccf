// SCM_RIGHTS over a Unix socket: the APUE 17.4 send_fd/recv_fd pair, batched.
// Every call is one syscall on the caller's fd and never blocks by itself:
// on a non-blocking fd EAGAIN surfaces as an error for the JS layer to wait on.
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

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

static std::vector<int> FdArray(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsArray()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "The \"fds\" argument must be an array of fds");
  }
  Napi::Array array = info[index].As<Napi::Array>();
  if (array.Length() > kScmMaxFd) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "One message carries at most 253 fds (SCM_MAX_FD); got " +
                              std::to_string(array.Length()) +
                              ". Split the batch, or use FdChannel which splits and rejoins it.");
  }
  std::vector<int> fds;
  fds.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value v = array.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d > 0x7fffffff || d != static_cast<double>(static_cast<int>(d))) {
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "fds[" + std::to_string(i) + "] is not a file descriptor: " +
                               v.ToString().Utf8Value());
    }
    fds.push_back(static_cast<int>(d));
  }
  return fds;
}

// sendFds(channelFd, fds[], data: Buffer) -> bytes accepted by the kernel.
// The fds ride with the first byte, so a short write still delivered all of them.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = FdArg(info, 0, "channelFd");
  std::vector<int> fds = FdArray(info, 1);
  if (info.Length() < 3 || !info[2].IsBuffer()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "The \"data\" argument must be a Buffer");
  }
  Napi::Buffer<uint8_t> data = info[2].As<Napi::Buffer<uint8_t>>();
  if (data.Length() == 0) {
    // A stream socket drops ancillary data sent with zero bytes.
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "sendFds needs at least one data byte: the fds ride on it");
  }

  if (!fds.empty()) {
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
  struct iovec iov = {data.Data(), data.Length()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    size_t payload = fds.size() * sizeof(int);
    control.assign(CMSG_SPACE(payload), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(payload);
    memcpy(CMSG_DATA(cmsg), fds.data(), payload);
  }
  ssize_t n;
  do {
    n = sendmsg(chan, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    std::string hint;
    if (err == ENOTSOCK) hint = "the channel fd is not a socket";
    else if (err == EOPNOTSUPP || err == EINVAL)
      hint = "the channel must be a Unix domain socket (AF_UNIX); TCP cannot carry fds";
    else if (err == EBADF) hint = "the channel fd, or one of the fds to send, is not open";
    else if (err == EPIPE || err == ECONNRESET) hint = "the peer closed the channel";
    throw SystemError(env, err, "sendmsg", hint);
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

static void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

// recvFds(channelFd, maxData, maxFds) -> { data: Buffer, fds: number[] }.
// An empty data Buffer with no fds means the peer closed the channel.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = FdArg(info, 0, "channelFd");
  int max_data = IntArg(info, 1, "maxData", 1, 64 * 1024 * 1024);
  int max_fds = IntArg(info, 2, "maxFds", 0, kScmMaxFd);

  std::vector<uint8_t> buffer(max_data);
  struct iovec iov = {buffer.data(), buffer.size()};
  // Room for the rights plus one SCM_CREDENTIALS, in case the peer enabled SO_PASSCRED.
  std::vector<char> control(CMSG_SPACE(max_fds * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)));
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();

  ssize_t n;
  do {
    n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    std::string hint;
    if (err == ENOTSOCK) hint = "the channel fd is not a socket";
    else if (err == EBADF) hint = "the channel fd is not open";
    throw SystemError(env, err, "recvmsg", hint);
  }

  std::vector<int> fds;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* received = reinterpret_cast<const int*>(CMSG_DATA(c));
    fds.insert(fds.end(), received, received + count);
  }
  // CMSG alignment can leave room for a few more fds than asked: hold to the limit.
  if ((msg.msg_flags & MSG_CTRUNC) || fds.size() > static_cast<size_t>(max_fds)) {
    // Whatever did arrive would otherwise leak: nobody else knows these numbers.
    CloseAll(fds);
    throw CodedError(env, "ERR_FD_CTRUNC",
                     "recvmsg: control data truncated (MSG_CTRUNC): the peer sent more fds than "
                     "maxFds=" + std::to_string(max_fds) + " or this process hit its fd limit "
                     "(ulimit -n); the " + std::to_string(fds.size()) +
                     " fds that did arrive were closed, the others are lost");
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("data", Napi::Buffer<uint8_t>::Copy(env, buffer.data(), static_cast<size_t>(n)));
  Napi::Array out = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) out.Set(static_cast<uint32_t>(i), fds[i]);
  result.Set("fds", out);
  return result;
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
  // Linux releases the fd even when close reports EINTR: never retry.
  if (close(fd) < 0 && errno != EINTR) {
    throw SystemError(env, errno, "close", errno == EBADF ? "the fd is not open" : "");
  }
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
