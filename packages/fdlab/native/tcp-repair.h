#pragma once
#include <napi.h>

namespace fdlab {
// TCP_REPAIR: dump an established connection's kernel state, and rebuild it in a fresh socket
// (the steps of CRIU's libsoccr). src/socket/tcp-repair.ts is the typed API on top.
Napi::Value TcpRepairDump(const Napi::CallbackInfo& info);
Napi::Value TcpRepairRestore(const Napi::CallbackInfo& info);
Napi::Value TcpRepairSet(const Napi::CallbackInfo& info);
}  // namespace fdlab
