#pragma once
#include <napi.h>
#include <uv.h>

namespace fdlab {

// Readiness of a raw fd from Node's own event loop (uv_poll), so the JS layer
// waits for readable/writable instead of spinning on EAGAIN.
class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Poller(const Napi::CallbackInfo& info);
  ~Poller() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void Release();

  // Heap-allocated: libuv may still own it after this object is collected.
  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
  bool active_ = false;
};

}  // namespace fdlab
