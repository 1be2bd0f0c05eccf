// setBacklog(fd, backlog): listen(2) again on a socket that already listens.
// The kernel only changes the accept queue's length (capped at
// net.core.somaxconn); the queue and the connections in it stay. Node's
// server.listen({ fd }) calls listen(fd, 511) whatever the options say
// (measured on Node 20: a 4000 queue became 511), so a listener handed to
// the next version would shrink without this.
#include <errno.h>
#include <sys/socket.h>

#include "errors.h"
#include "listen.h"

namespace fdlab {

Napi::Value SetBacklog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "backlog must be a number");
  }
  int backlog = info[1].As<Napi::Number>().Int32Value();
  if (listen(fd, backlog) != 0) {
    throw SystemError(env, errno, "listen", errno == ENOTSOCK ? "the fd is not a socket" : "");
  }
  return env.Undefined();
}

}  // namespace fdlab
