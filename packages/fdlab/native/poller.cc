#include "poller.h"

#include "errors.h"

namespace fdlab {

Napi::Function Poller::Define(Napi::Env env) {
  return DefineClass(env, "Poller",
                     {
                         InstanceMethod("start", &Poller::Start),
                         InstanceMethod("stop", &Poller::Stop),
                         InstanceMethod("close", &Poller::Close),
                         InstanceMethod("ref", &Poller::Ref),
                         InstanceMethod("unref", &Poller::Unref),
                     });
}

// new Poller(fd, callback(error | null, readable, writable))
Poller::Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsFunction()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "Poller needs a callback function");
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
  handle_ = new uv_poll_t();
  int rc = uv_poll_init(loop, handle_, fd);
  if (rc != 0) {
    delete handle_;
    handle_ = nullptr;
    throw SystemError(env, -rc, "uv_poll_init",
                      rc == UV_EEXIST ? "another handle already watches this fd" : "");
  }
  handle_->data = this;
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  context_ = new Napi::AsyncContext(env, "FdlabPoller");
}

Poller::~Poller() {
  Release();
  delete context_;
}

void Poller::Release() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  handle_ = nullptr;
}

// start(readable, writable): replaces the watched set; both false stops.
Napi::Value Poller::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (handle_ == nullptr) throw CodedError(env, "ERR_POLLER_CLOSED", "the poller is closed");
  int events = (info[0].ToBoolean().Value() ? UV_READABLE : 0) |
               (info.Length() > 1 && info[1].ToBoolean().Value() ? UV_WRITABLE : 0);
  if (events == 0) return Stop(info);
  int rc = uv_poll_start(handle_, events, OnPoll);
  if (rc != 0) throw SystemError(env, -rc, "uv_poll_start");
  if (!active_) {
    active_ = true;
    Napi::ObjectWrap<Poller>::Ref();  // stay alive while libuv can call us
  }
  return env.Undefined();
}

Napi::Value Poller::Stop(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_poll_stop(handle_);
  if (active_) {
    active_ = false;
    Napi::ObjectWrap<Poller>::Unref();
  }
  return info.Env().Undefined();
}

// close(): stops watching and frees the handle; the fd itself stays open.
Napi::Value Poller::Close(const Napi::CallbackInfo& info) {
  Stop(info);
  Release();
  return info.Env().Undefined();
}

Napi::Value Poller::Ref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  return info.Env().Undefined();
}

Napi::Value Poller::Unref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
  return info.Env().Undefined();
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Poller*>(handle->data);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Value error = env.Null();
  if (status < 0) error = SystemError(env, -status, "poll").Value();
  // MakeCallback runs the microtask queue afterwards, so promises resolved
  // in the callback settle before libuv polls again.
  try {
    self->callback_.MakeCallback(env.Global(),
                                 {error, Napi::Boolean::New(env, (events & UV_READABLE) != 0),
                                  Napi::Boolean::New(env, (events & UV_WRITABLE) != 0)},
                                 *self->context_);
  } catch (const Napi::Error& e) {
    // No JS frame to throw into from libuv: report it the way Node reports
    // any callback that throws (process 'uncaughtException').
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace fdlab
