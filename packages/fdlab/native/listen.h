#pragma once
#include <napi.h>

namespace fdlab {
// A listening socket's accept queue length, set again (Node's listen({ fd }) resets it to 511).
Napi::Value SetBacklog(const Napi::CallbackInfo& info);
}  // namespace fdlab
