#pragma once
#include <napi.h>

namespace fdlab {
// How far a TCP connection has been read and written (take-back checks), and a shutdown that reaches the peer.
Napi::Value TcpUse(const Napi::CallbackInfo& info);
Napi::Value ShutdownBoth(const Napi::CallbackInfo& info);
}  // namespace fdlab
