#pragma once
#include <napi.h>

namespace fdlab {
// What a supervisor needs that Node lacks (src/supervisor): a datagram to
// systemd's NOTIFY_SOCKET, reaping children Node did not start (PID 1, a
// subreaper), becoming a subreaper; and, for a worker, a signal when its
// supervisor dies.
Napi::Value NotifyDatagram(const Napi::CallbackInfo& info);
Napi::Value ReapOthers(const Napi::CallbackInfo& info);
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info);
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info);
}  // namespace fdlab
