// notifyDatagram(path, text): one datagram to a Unix socket (sd_notify(3); a
//   path starting with '@' is in the abstract namespace). Throws on failure.
// reapOthers(ours): reaps every exited child whose pid is not in `ours`
//   (libuv reaps those, by pid: taking their status would lose their 'exit'),
//   returns their pids. waitid(WNOWAIT) looks first, so ours are never taken;
//   it stops at the first of ours (call again once Node has reaped it).
// setChildSubreaper(): prctl(PR_SET_CHILD_SUBREAPER): orphans of our
//   children come to us (as they would to PID 1) so we can reap them.
// setParentDeathSignal(signal, parent): prctl(PR_SET_PDEATHSIG): a worker
//   gets `signal` when its supervisor dies (kill -9 too). Returns false, the
//   signal set, if the parent is already gone (getppid() is not `parent`):
//   it died before the call, and no signal will come.
#include "supervise.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "errors.h"

namespace fdlab {

Napi::Value NotifyDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "notifyDatagram(path, text): two strings");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string text = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "notifyDatagram: the socket path is empty or too long");
  }
  memcpy(address.sun_path, path.data(), path.size());
  if (path[0] == '@') address.sun_path[0] = '\0';
  socklen_t length = offsetof(struct sockaddr_un, sun_path) + path.size();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SystemError(env, errno, "socket");
  ssize_t sent;
  do {
    sent = sendto(fd, text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&address), length);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent < 0) throw SystemError(env, err, "sendto", "NOTIFY_SOCKET");
  return env.Undefined();
}

Napi::Value ReapOthers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<int32_t> ours = Int32ArrayArg(info, 0, "ours");
  Napi::Array reaped = Napi::Array::New(env);
  uint32_t count = 0;
  for (;;) {
    siginfo_t child;
    memset(&child, 0, sizeof(child));
    int rc;
    do {
      rc = waitid(P_ALL, 0, &child, WEXITED | WNOHANG | WNOWAIT);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 || child.si_pid == 0) break;  // ECHILD: no children; 0: none exited
    bool mine = false;
    for (size_t i = 0; i < ours.length; i++) mine = mine || ours.data[i] == child.si_pid;
    if (mine) break;
    int status;
    pid_t pid;
    do {
      pid = waitpid(child.si_pid, &status, WNOHANG);
    } while (pid < 0 && errno == EINTR);
    if (pid <= 0) break;
    reaped.Set(count++, Napi::Number::New(env, pid));
  }
  return reaped;
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) throw SystemError(env, errno, "prctl", "PR_SET_CHILD_SUBREAPER");
  return env.Undefined();
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "setParentDeathSignal(signal, parent): two numbers");
  }
  int signal = info[0].As<Napi::Number>().Int32Value();
  pid_t parent = info[1].As<Napi::Number>().Int32Value();
  if (prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) < 0) throw SystemError(env, errno, "prctl", "PR_SET_PDEATHSIG");
  return Napi::Boolean::New(env, getppid() == parent);
}

}  // namespace fdlab
