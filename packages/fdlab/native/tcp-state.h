#pragma once
#include <napi.h>

namespace fdlab {
// How far a TCP connection has been read and written (take-back checks), and a shutdown that reaches the peer.
Napi::Value TcpUse(const Napi::CallbackInfo& info);
Napi::Value ShutdownBoth(const Napi::CallbackInfo& info);
// Urgent data (MSG_OOB) is pending on the socket: SIOCINQ, and a TCP_REPAIR dump of the queue, stop at its mark.
bool UrgentPending(int fd);
}  // namespace fdlab
