#pragma once
#include <napi.h>

namespace fdlab {
// Read-only looks at an fd, for the labs to show what moved where.
Napi::Value FdInfo(const Napi::CallbackInfo& info);
Napi::Value PeerCred(const Napi::CallbackInfo& info);
Napi::Value QueuedBytes(const Napi::CallbackInfo& info);
Napi::Value FirstNotStreamSocket(const Napi::CallbackInfo& info);
}  // namespace fdlab
