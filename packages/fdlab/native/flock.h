#pragma once
#include <napi.h>

namespace fdlab {
// flock(2) without blocking: one state dir, one owner (src/handover/state-dir-lock.ts).
Napi::Value TryFlock(const Napi::CallbackInfo& info);
}  // namespace fdlab
