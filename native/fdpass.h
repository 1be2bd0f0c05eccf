#pragma once
#include <napi.h>

namespace fdlab {
// SCM_RIGHTS transfer and the fd housekeeping around it.
Napi::Value SendFds(const Napi::CallbackInfo& info);
Napi::Value RecvFds(const Napi::CallbackInfo& info);
Napi::Value SocketPair(const Napi::CallbackInfo& info);
Napi::Value Dup(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info);
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info);
}  // namespace fdlab
