// tryFlock(fd, mode): flock(fd, LOCK_SH|LOCK_EX|LOCK_UN | LOCK_NB).
// true: taken (or released); false: another open file description holds a
// conflicting lock (EWOULDBLOCK); anything else throws a system error. Never
// blocks: a holder that is SIGSTOPped must not freeze our event loop.
#include "flock.h"

#include <errno.h>
#include <sys/file.h>

#include <string>

#include "errors.h"

namespace fdlab {

Napi::Value TryFlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  std::string mode = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  int operation;
  if (mode == "shared") operation = LOCK_SH;
  else if (mode == "exclusive") operation = LOCK_EX;
  else if (mode == "unlock") operation = LOCK_UN;
  else throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE", "tryFlock: mode must be 'shared', 'exclusive' or 'unlock'");
  int rc;
  do {
    rc = flock(fd, operation | LOCK_NB);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  throw SystemError(env, errno, "flock", errno == EBADF ? "the fd is not open" : "");
}

}  // namespace fdlab
