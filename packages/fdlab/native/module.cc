// The raw binding: thin wrappers over syscalls. The idiomatic API lives in src/.
#include <napi.h>

#include "fdpass.h"
#include "flock.h"
#include "inspect.h"
#include "listen.h"
#include "poller.h"
#include "supervise.h"
#include "tcp-repair.h"
#include "tcp-state.h"

namespace fdlab {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The per-message functions take the template form: no callback-data hop.
  exports.Set("sendFdsFrom", Napi::Function::New<SendFdsFrom>(env, "sendFdsFrom"));
  exports.Set("recvFdsInto", Napi::Function::New<RecvFdsInto>(env, "recvFdsInto"));
  exports.Set("trySendFdsFrom", Napi::Function::New<TrySendFdsFrom>(env, "trySendFdsFrom"));
  exports.Set("tryRecvFdsInto", Napi::Function::New<TryRecvFdsInto>(env, "tryRecvFdsInto"));
  exports.Set("closeFds", Napi::Function::New<CloseFds>(env, "closeFds"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("dup", Napi::Function::New(env, Dup, "dup"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd, "pidfdGetfd"));
  exports.Set("fdInfo", Napi::Function::New(env, FdInfo, "fdInfo"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("queuedBytes", Napi::Function::New(env, QueuedBytes, "queuedBytes"));
  exports.Set("firstNotStreamSocket", Napi::Function::New(env, FirstNotStreamSocket, "firstNotStreamSocket"));
  exports.Set("tcpUse", Napi::Function::New(env, TcpUse, "tcpUse"));
  exports.Set("shutdownBoth", Napi::Function::New(env, ShutdownBoth, "shutdownBoth"));
  exports.Set("tcpRepairDump", Napi::Function::New(env, TcpRepairDump, "tcpRepairDump"));
  exports.Set("tcpRepairRestore", Napi::Function::New(env, TcpRepairRestore, "tcpRepairRestore"));
  exports.Set("tcpRepairSet", Napi::Function::New(env, TcpRepairSet, "tcpRepairSet"));
  exports.Set("setBacklog", Napi::Function::New(env, SetBacklog, "setBacklog"));
  exports.Set("tryFlock", Napi::Function::New(env, TryFlock, "tryFlock"));
  exports.Set("notifyDatagram", Napi::Function::New(env, NotifyDatagram, "notifyDatagram"));
  exports.Set("reapOthers", Napi::Function::New(env, ReapOthers, "reapOthers"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("Poller", Poller::Define(env));
  exports.Set("SCM_MAX_FD", Napi::Number::New(env, 253));
  return exports;
}

NODE_API_MODULE(fdlab, Init)

}  // namespace fdlab
