#pragma once
#include <napi.h>

namespace fdlab {
// SCM_RIGHTS transfer and the fd housekeeping around it.
Napi::Value SendFdsFrom(const Napi::CallbackInfo& info);
Napi::Value RecvFdsInto(const Napi::CallbackInfo& info);
Napi::Value TrySendFdsFrom(const Napi::CallbackInfo& info);
Napi::Value TryRecvFdsInto(const Napi::CallbackInfo& info);
Napi::Value CloseFds(const Napi::CallbackInfo& info);
Napi::Value SocketPair(const Napi::CallbackInfo& info);
Napi::Value Dup(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info);
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info);
}  // namespace fdlab
