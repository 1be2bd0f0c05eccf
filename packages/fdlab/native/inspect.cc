// What an fd is, in the terms strace -yy and ss use: kind, addresses, the
// socket inode ("socket:[61530]"), and the bytes still queued in the kernel.
#include "inspect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "errors.h"

namespace fdlab {

static int SockOpt(int fd, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, name, &value, &len) < 0) return -1;
  return value;
}

// Sets {address, port} or {path} on `out`; returns false when there is none.
static bool DescribeAddress(Napi::Env env, const sockaddr_storage& ss, socklen_t len, Napi::Object out) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    out.Set("address", text);
    out.Set("port", ntohs(sin->sin_port));
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    out.Set("address", text);
    out.Set("port", ntohs(sin6->sin6_port));
    return true;
  }
  if (ss.ss_family == AF_UNIX) {
    auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string path;
    if (path_len > 0 && sun->sun_path[0] == '\0') {
      path = "@" + std::string(sun->sun_path + 1, path_len - 1);  // abstract namespace
    } else if (path_len > 0) {
      path = std::string(sun->sun_path, strnlen(sun->sun_path, path_len));
    }
    out.Set("path", path);
    return true;
  }
  return false;
}

static const char* FamilyName(int family) {
  switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    default: return "other";
  }
}

static const char* SocketTypeName(int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_RAW: return "raw";
    default: return "other";
  }
}

static const char* FileKind(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISFIFO(mode)) return "pipe";
  if (S_ISCHR(mode)) return "char";
  if (S_ISBLK(mode)) return "block";
  return "other";
}

// fdInfo(fd) -> { fd, kind, inode, target, ...socket or file details }.
Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  struct stat st;
  if (fstat(fd, &st) < 0) throw SystemError(env, errno, "fstat", errno == EBADF ? "the fd is not open" : "");

  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("inode", static_cast<double>(st.st_ino));
  // The same text `ls -l /proc/<pid>/fd` shows: "socket:[61530]", "/tmp/x".
  char target[4096];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t tlen = readlink(link.c_str(), target, sizeof(target) - 1);
  out.Set("target", tlen >= 0 ? std::string(target, tlen) : std::string());
  int fl = fcntl(fd, F_GETFL);
  out.Set("nonBlocking", fl >= 0 && (fl & O_NONBLOCK) != 0);
  int fdfl = fcntl(fd, F_GETFD);
  out.Set("closeOnExec", fdfl >= 0 && (fdfl & FD_CLOEXEC) != 0);

  if (!S_ISSOCK(st.st_mode)) {
    out.Set("kind", FileKind(st.st_mode));
    if (S_ISREG(st.st_mode)) {
      off_t offset = lseek(fd, 0, SEEK_CUR);
      out.Set("offset", static_cast<double>(offset));
      out.Set("size", static_cast<double>(st.st_size));
    }
    return out;
  }

  int family = SockOpt(fd, SO_DOMAIN);
  int type = SockOpt(fd, SO_TYPE);
  int protocol = SockOpt(fd, SO_PROTOCOL);
  std::string kind = "socket";
  if (family == AF_UNIX) kind = "unix";
  else if ((family == AF_INET || family == AF_INET6) && protocol == IPPROTO_TCP) kind = "tcp";
  else if ((family == AF_INET || family == AF_INET6) && protocol == IPPROTO_UDP) kind = "udp";
  out.Set("kind", kind);
  out.Set("family", FamilyName(family));
  out.Set("socketType", SocketTypeName(type));
  out.Set("listening", SockOpt(fd, SO_ACCEPTCONN) == 1);

  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  Napi::Object local = Napi::Object::New(env);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && DescribeAddress(env, ss, len, local)) {
    out.Set("local", local);
  } else {
    out.Set("local", env.Null());
  }
  len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  Napi::Object remote = Napi::Object::New(env);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && DescribeAddress(env, ss, len, remote)) {
    out.Set("remote", remote);
  } else {
    out.Set("remote", env.Null());  // listening, unconnected, or the peer is gone
  }
  return out;
}

// peerCred(fd) -> { pid, uid, gid } of the process that connected (SO_PEERCRED).
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    throw SystemError(env, errno, "getsockopt", errno == ENOTSOCK ? "the fd is not a socket" : "SO_PEERCRED");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", cred.pid);
  out.Set("uid", cred.uid);
  out.Set("gid", cred.gid);
  return out;
}

// queuedBytes(fd) -> { receive, send }: unread bytes in the kernel's receive
// queue and bytes not yet acknowledged by the peer (SIOCINQ / SIOCOUTQ).
Napi::Value QueuedBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  int in = 0, out_q = 0;
  if (ioctl(fd, SIOCINQ, &in) < 0) {
    throw SystemError(env, errno, "ioctl",
                      errno == EINVAL ? "SIOCINQ: a listening socket has no byte queue" : "SIOCINQ");
  }
  if (ioctl(fd, SIOCOUTQ, &out_q) < 0) throw SystemError(env, errno, "ioctl", "SIOCOUTQ");
  Napi::Object out = Napi::Object::New(env);
  out.Set("receive", in);
  out.Set("send", out_q);
  return out;
}

// firstNotStreamSocket(fds: Int32Array, count, listening) -> the index of
// the first fd that is not an inet, inet6 or unix stream socket in the asked
// listening state (or not open at all), or -1 when all are. Three getsockopt
// calls per fd and no objects: a handover checks every fd it receives with
// it, and fdInfo (addresses, /proc) costs ten times more.
Napi::Value FirstNotStreamSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<int32_t> fds = Int32ArrayArg(info, 0, "fds");
  int count = IntArg(info, 1, "count", 0, static_cast<int>(fds.length));
  if (info.Length() < 3 || !info[2].IsBoolean()) throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "listening must be a boolean");
  int listening = info[2].As<Napi::Boolean>().Value() ? 1 : 0;
  for (int i = 0; i < count; i++) {
    int fd = fds.data[i];
    int domain = SockOpt(fd, SO_DOMAIN);
    bool ok = (domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX) &&
              SockOpt(fd, SO_TYPE) == SOCK_STREAM && SockOpt(fd, SO_ACCEPTCONN) == listening;
    if (!ok) return Napi::Number::New(env, i);
  }
  return Napi::Number::New(env, -1);
}

}  // namespace fdlab
